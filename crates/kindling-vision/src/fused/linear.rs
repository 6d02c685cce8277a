//! Fully connected layers for the engine: a weight-streaming kernel for small batches (the weights
//! are read once, each row feeding every batch row) and the `gemm` crate for larger ones.

use burn::nn::Linear;
use kindling_core::Result;
use kindling_core::tensor::to_vec_f32;
use rayon::prelude::*;

use super::map::{Act, epilogue, vectorize};
use kindling_core::cpu::{View, matmul};

/// Batches up to this size use the streaming kernel.
const SMALL_BATCH: usize = 16;
/// The streaming kernel splits the weight rows into at most this many blocks...
const BLOCKS: usize = 8;
/// ...of at least this many rows.
const ROWS: usize = 256;

/// `y = act(x · W + b)` with burn's `[in, out]` weight layout.
#[derive(Debug, Clone)]
pub(crate) struct LinearLayer {
    pub d_in: usize,
    pub d_out: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearLayer {
    pub fn new(l: &Linear) -> Result<Self> {
        let [d_in, d_out] = l.weight.dims();
        let weight = to_vec_f32(l.weight.val())?;
        let bias = match &l.bias {
            Some(b) => to_vec_f32(b.val())?,
            None => vec![0.0; d_out],
        };
        Ok(Self { d_in, d_out, weight, bias })
    }

    /// Like [`new`](Self::new), taking the layer so that its weights move instead of being
    /// copied (burn-flex hands over a uniquely owned buffer): no second copy of a large matrix.
    pub fn from_owned(l: Linear) -> Result<Self> {
        let [d_in, d_out] = l.weight.dims();
        let weight = to_vec_f32(l.weight.into_value())?;
        let bias = match l.bias {
            Some(b) => to_vec_f32(b.into_value())?,
            None => vec![0.0; d_out],
        };
        Ok(Self { d_in, d_out, weight, bias })
    }

    /// `x` is `[m, d_in]` row-major; returns `[m, d_out]`.
    pub fn forward(&self, x: &[f32], act: Act) -> Vec<f32> {
        let (d_in, d_out) = (self.d_in, self.d_out);
        let m = x.len() / d_in;
        let mut out = vec![0.0f32; m * d_out];
        if m > SMALL_BATCH {
            matmul(m, d_in, d_out, &mut out, d_out, View::rows(x, d_in), View::rows(&self.weight, d_out), true);
        } else {
            // Row blocks of W, each read once front to back (sequential streams, no packing), with
            // partial sums per block added in a fixed order (results do not depend on threads).
            let blocks = d_in.div_ceil(ROWS).clamp(1, BLOCKS);
            let rows = d_in.div_ceil(blocks);
            let partials: Vec<Vec<f32>> = (0..blocks)
                .into_par_iter()
                .map(|blk| {
                    let mut acc = vec![0.0f32; m * d_out];
                    let (i0, i1) = (blk * rows, ((blk + 1) * rows).min(d_in));
                    vectorize(
                        #[inline(always)]
                        || {
                            for i in i0..i1 {
                                // Rows whose inputs are all zero (ReLU) need not be read.
                                if (0..m).all(|b| x[b * d_in + i] == 0.0) {
                                    continue;
                                }
                                let w = &self.weight[i * d_out..(i + 1) * d_out];
                                for (b, a) in acc.chunks_exact_mut(d_out).enumerate() {
                                    let xv = x[b * d_in + i];
                                    for (a, &w) in a.iter_mut().zip(w) {
                                        *a = xv.mul_add(w, *a);
                                    }
                                }
                            }
                        },
                    );
                    acc
                })
                .collect();
            for p in partials {
                vectorize(
                    #[inline(always)]
                    || out.iter_mut().zip(&p).for_each(|(o, &v)| *o += v),
                );
            }
        }
        epilogue(&mut out, &self.bias, None, act);
        out
    }
}
