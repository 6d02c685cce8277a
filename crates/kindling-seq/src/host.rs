//! Inference on the host CPU: the recurrences without burn's per-operation dispatch.
//!
//! Used by [`Recurrent::forward`] when nothing is tracked and the tensors live on burn-flex (the
//! CPU backend). The arithmetic is the one the tensor path does: one input projection for all
//! steps (one `gemm` product per layer and direction), one `[B, H] × [H, G*H]` product per step,
//! and the gate nonlinearities on the fused pre-activations, computed with vectorized `exp`-based
//! sigmoid and tanh in a single pass per step. Sequences are independent, so each direction runs
//! its batch in row blocks on separate threads, without synchronising per step.
//!
//! Ragged batches follow the tensor path exactly: a sequence with `t >= length` keeps its state
//! and gets a zero output, for both directions.

use burn::tensor::{Device, Tensor, TensorData};
use kindling_core::cpu::{View, matmul, sigmoid, tanh, vectorize};
use rayon::prelude::*;

use crate::cell::{CellKind, RecurrentCell};
use crate::stack::{Recurrent, RecurrentState};
use crate::{Result, SeqError};

/// Whether the host path runs `input` through `rnn`: burn-flex, no autodiff.
pub(crate) fn applies(input: &Tensor<3>) -> bool {
    let device = input.device();
    !device.is_autodiff() && device == Device::flex()
}

fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    kindling_core::tensor::to_vec_f32(t).map_err(|e| SeqError::Input(e.to_string()))
}

/// One direction's weights, arranged for row-major products.
struct Cell {
    kind: CellKind,
    h: usize,
    /// `weight_ih` `[G*H, I]` (read transposed).
    w_ih: Vec<f32>,
    /// `weight_hh` transposed, `[H, G*H]`.
    w_hh_t: Vec<f32>,
    /// Added to the projected input: `b_ih + b_hh`, or `b_ih + [b_hr, b_hz, 0]` for the GRU.
    bias_in: Vec<f32>,
    /// GRU: `b_hn`, added inside the reset product.
    b_hn: Vec<f32>,
}

impl Cell {
    fn new(c: &RecurrentCell) -> Result<Self> {
        let h = c.hidden_size;
        let g = c.kind.num_gates() * h;
        let w_ih = read(c.weight_ih.val())?;
        let w_hh = read(c.weight_hh.val())?;
        let w_hh_t = kindling_core::cpu::transpose(&w_hh, g, h);
        let b_ih = c.bias_ih.as_ref().map(|b| read(b.val())).transpose()?.unwrap_or_else(|| vec![0.0; g]);
        let b_hh = c.bias_hh.as_ref().map(|b| read(b.val())).transpose()?.unwrap_or_else(|| vec![0.0; g]);
        let mut bias_in = b_ih;
        let mut b_hn = Vec::new();
        for (i, b) in bias_in.iter_mut().enumerate() {
            if c.kind == CellKind::Gru && i >= 2 * h {
                b_hn.push(b_hh[i]);
            } else {
                *b += b_hh[i];
            }
        }
        Ok(Self { kind: c.kind, h, w_ih, w_hh_t, bias_in, b_hn })
    }
}

/// Runs `rnn` over `input` `[B, T, I]` (validated by the caller).
pub(crate) fn forward(
    rnn: &Recurrent,
    input: Tensor<3>,
    lengths: Option<&[usize]>,
    h0: Vec<Option<Tensor<2>>>,
    c0: Vec<Option<Tensor<2>>>,
) -> Result<(Tensor<3>, RecurrentState)> {
    let device = input.device();
    let [batch, steps, features] = input.dims();
    let hidden = rnn.hidden_size;
    let dirs = rnn.num_directions();
    let lengths: Vec<usize> = lengths.map_or_else(|| vec![steps; batch], <[usize]>::to_vec);
    let max_len = lengths.iter().copied().max().unwrap_or(0);
    let x = read(input)?;
    // Time-major layer input [max_len * B, F].
    let mut layer_in = vec![0.0f32; max_len * batch * features];
    for t in 0..max_len {
        for b in 0..batch {
            layer_in[(t * batch + b) * features..][..features]
                .copy_from_slice(&x[(b * steps + t) * features..][..features]);
        }
    }
    let mut f = features;
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    let mut states = h0.into_iter().zip(c0);
    for layer in &rnn.layers {
        let cells: Vec<&RecurrentCell> = std::iter::once(&layer.forward).chain(layer.reverse.as_ref()).collect();
        let mut out = vec![0.0f32; max_len * batch * dirs * hidden];
        for (d, cell) in cells.into_iter().enumerate() {
            let cell = Cell::new(cell)?;
            let (h_init, c_init) = states.next().unwrap_or((None, None));
            let h_init = h_init.map(read).transpose()?.unwrap_or_else(|| vec![0.0; batch * hidden]);
            let c_init = c_init.map(read).transpose()?.unwrap_or_else(|| vec![0.0; batch * hidden]);
            let (h, c) = direction(&cell, &layer_in, f, &lengths, max_len, d == 1, h_init, c_init, &mut out, d, dirs);
            h_n.push(h);
            if cell.kind == CellKind::Lstm {
                c_n.push(c);
            }
        }
        layer_in = out;
        f = dirs * hidden;
    }
    // Batch-first output [B, T, D*H], zero past each sequence's end (already zero in `layer_in`)
    // and past max_len.
    let mut output = vec![0.0f32; batch * steps * f];
    for t in 0..max_len {
        for b in 0..batch {
            output[(b * steps + t) * f..][..f].copy_from_slice(&layer_in[(t * batch + b) * f..][..f]);
        }
    }
    let output = Tensor::from_data(TensorData::new(output, [batch, steps, f]), &device);
    let stack = |v: Vec<Vec<f32>>| {
        let n = v.len();
        Tensor::<3>::from_data(TensorData::new(v.concat(), [n, batch, hidden]), &device)
    };
    let c = (!c_n.is_empty()).then(|| stack(c_n));
    Ok((output, RecurrentState { h: stack(h_n), c }))
}

/// A batch row block's result: first row, final `h`, final `c`, outputs `[T, rows, H]`.
type Block = (usize, Vec<f32>, Vec<f32>, Vec<f32>);

/// One layer direction: projects every step, then runs the recurrence in batch row blocks.
/// Writes its outputs into columns `d*H..(d+1)*H` of `out` `[T*B, D*H]` and returns the final
/// `h` and `c` `[B, H]`.
#[allow(clippy::too_many_arguments)]
fn direction(
    cell: &Cell,
    x: &[f32],
    f: usize,
    lengths: &[usize],
    steps: usize,
    reverse: bool,
    mut h: Vec<f32>,
    mut c: Vec<f32>,
    out: &mut [f32],
    d: usize,
    dirs: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (batch, hd) = (lengths.len(), cell.h);
    let g = cell.kind.num_gates() * hd;
    // Input projection of all steps: [T*B, G*H].
    let mut xp = vec![0.0f32; steps * batch * g];
    matmul(steps * batch, f, g, &mut xp, g, View::rows(x, f), View { data: &cell.w_ih, rs: 1, cs: f }, true);
    xp.par_chunks_mut(g * batch).for_each(|rows| {
        vectorize(
            #[inline(always)]
            || {
                for row in rows.chunks_exact_mut(g) {
                    row.iter_mut().zip(&cell.bias_in).for_each(|(v, &b)| *v += b);
                }
            },
        )
    });
    // Row blocks of the batch, one per thread (at least 4 rows each).
    let threads = rayon::current_num_threads().max(1);
    let rows = batch.div_ceil(threads).max(4).min(batch.max(1));
    let blocks: Vec<Block> = h
        .chunks(rows * hd)
        .zip(c.chunks(rows * hd))
        .enumerate()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(i, (h0, c0))| {
            let b0 = i * rows;
            let n = h0.len() / hd;
            let mut hb = h0.to_vec();
            let mut cb = c0.to_vec();
            let mut ys = vec![0.0f32; steps * n * hd];
            let mut hp = vec![0.0f32; n * g];
            for s in 0..steps {
                let t = if reverse { steps - 1 - s } else { s };
                matmul(n, hd, g, &mut hp, g, View::rows(&hb, hd), View::rows(&cell.w_hh_t, g), false);
                for r in 0..n {
                    if t >= lengths[b0 + r] {
                        continue;
                    }
                    let pre_x = &xp[(t * batch + b0 + r) * g..][..g];
                    let pre_h = &hp[r * g..][..g];
                    let (hr, cr) = (&mut hb[r * hd..][..hd], &mut cb[r * hd..][..hd]);
                    vectorize(
                        #[inline(always)]
                        || gates(cell, pre_x, pre_h, hr, cr),
                    );
                    ys[(t * n + r) * hd..][..hd].copy_from_slice(hr);
                }
            }
            (b0, hb, cb, ys)
        })
        .collect();
    let w = dirs * hd;
    for (b0, hb, cb, ys) in blocks {
        let n = hb.len() / hd;
        h[b0 * hd..(b0 + n) * hd].copy_from_slice(&hb);
        c[b0 * hd..(b0 + n) * hd].copy_from_slice(&cb);
        for t in 0..steps {
            for r in 0..n {
                out[(t * batch + b0 + r) * w + d * hd..][..hd].copy_from_slice(&ys[(t * n + r) * hd..][..hd]);
            }
        }
    }
    (h, c)
}

/// One sequence's step from its projected input `x` and recurrent product `hp` (both `[G*H]`,
/// biases of the input side included), updating `h` (and `c`) in place.
#[inline(always)]
fn gates(cell: &Cell, x: &[f32], hp: &[f32], h: &mut [f32], c: &mut [f32]) {
    let hd = cell.h;
    let (h, c) = (&mut h[..hd], &mut c[..hd]);
    match cell.kind {
        CellKind::Lstm => {
            let (xi, xf, xg, xo) = (&x[..hd], &x[hd..2 * hd], &x[2 * hd..3 * hd], &x[3 * hd..4 * hd]);
            let (pi, pf, pg, po) = (&hp[..hd], &hp[hd..2 * hd], &hp[2 * hd..3 * hd], &hp[3 * hd..4 * hd]);
            for j in 0..hd {
                let i = sigmoid(xi[j] + pi[j]);
                let f = sigmoid(xf[j] + pf[j]);
                let gg = tanh(xg[j] + pg[j]);
                let o = sigmoid(xo[j] + po[j]);
                let cn = f.mul_add(c[j], i * gg);
                c[j] = cn;
                h[j] = o * tanh(cn);
            }
        }
        CellKind::Gru => {
            let (xr, xz, xn) = (&x[..hd], &x[hd..2 * hd], &x[2 * hd..3 * hd]);
            let (pr, pz, pn) = (&hp[..hd], &hp[hd..2 * hd], &hp[2 * hd..3 * hd]);
            let bn = &cell.b_hn[..hd];
            for j in 0..hd {
                let r = sigmoid(xr[j] + pr[j]);
                let z = sigmoid(xz[j] + pz[j]);
                let n = tanh(r.mul_add(pn[j] + bn[j], xn[j]));
                h[j] = z.mul_add(h[j] - n, n);
            }
        }
        CellKind::Rnn => {
            let (x, hp) = (&x[..hd], &hp[..hd]);
            for j in 0..hd {
                h[j] = tanh(x[j] + hp[j]);
            }
        }
    }
}
