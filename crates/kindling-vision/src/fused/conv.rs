//! Convolutions with BatchNorm folded into their weights, channels-last, with the bias, the
//! residual add and the activation fused into the pass that writes the output.
//!
//! - Dense convolutions are one matrix product per tile of output pixels: the tile's patches are
//!   gathered (im2col; 1×1 stride-1 convolutions read the input directly) and multiplied by the
//!   packed `[kh*kw*cin, cout]` weights with the `gemm` crate; the output tile is finished while
//!   it is still in cache. Tiles run in parallel; when there are too few to balance (batch 1,
//!   small maps) each thread takes an equal share of the pixels, and only maps too small for that
//!   (under `MIN_TILE` pixels a thread) run as one product that gemm splits over the threads.
//! - Depthwise convolutions accumulate each output pixel's channels in SIMD registers.

use std::cell::RefCell;

use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use kindling_core::tensor::to_vec_f32;
use kindling_core::{Error, Result};
use rayon::prelude::*;

use super::map::{Act, Map, Scratch, activate, epilogue, out_size, vectorize};
use kindling_core::cpu::{View, matmul};

/// Dense (any `cin`, one group) or depthwise (`groups == cin == cout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dense,
    Depthwise,
}

/// A convolution (+ folded BatchNorm) ready for channels-last inference.
#[derive(Debug, Clone)]
pub(crate) struct ConvLayer {
    kind: Kind,
    pub cin: usize,
    pub cout: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    padding: PaddingConfig2d,
    /// Dense: `[kh, kw, cin, cout]` (a `[K, cout]` matrix); depthwise: `[kh, kw, c]`.
    weight: Vec<f32>,
    /// Convolution bias with the BatchNorm shift folded in, `[cout]`.
    bias: Vec<f32>,
}

thread_local! {
    /// Per-thread im2col tile, reused across calls.
    static PATCHES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Fewest output pixels of a tile that runs as its own single-threaded product; smaller maps run as
/// one product that gemm splits over the threads.
const MIN_TILE: usize = 32;

fn same_pad(size: usize, k: usize, s: usize) -> (usize, usize) {
    let out = size.div_ceil(s);
    let total = ((out.max(1) - 1) * s + k).saturating_sub(size);
    (total / 2, total - total / 2)
}

impl ConvLayer {
    /// Folds `bn` (inference statistics) into `conv`:
    /// `w' = w · γ/√(var+ε)`, `b' = (b − mean) · γ/√(var+ε) + β`.
    pub fn new(conv: &Conv2d, bn: Option<&BatchNorm>) -> Result<Self> {
        let [cout, cin_g, kh, kw] = conv.weight.dims();
        if conv.dilation != [1, 1] {
            return Err(Error::Config(format!("fused convolution: dilation {:?} is not supported", conv.dilation)));
        }
        let kind = match conv.groups {
            1 => Kind::Dense,
            g if g == cout && cin_g == 1 => Kind::Depthwise,
            g => return Err(Error::Config(format!("fused convolution: {g} groups of {cin_g} channels not supported"))),
        };
        let w = to_vec_f32(conv.weight.val())?;
        let mut bias = match &conv.bias {
            Some(b) => to_vec_f32(b.val())?,
            None => vec![0.0; cout],
        };
        let mut scale = vec![1.0f32; cout];
        if let Some(bn) = bn {
            let gamma = to_vec_f32(bn.gamma.val())?;
            let beta = to_vec_f32(bn.beta.val())?;
            let mean = to_vec_f32(bn.running_mean.value())?;
            let var = to_vec_f32(bn.running_var.value())?;
            if [gamma.len(), beta.len(), mean.len(), var.len()] != [cout; 4] {
                return Err(Error::Shape(format!(
                    "BatchNorm of {} features after a {cout}-channel convolution",
                    gamma.len()
                )));
            }
            for o in 0..cout {
                // In f64 so that folding adds no rounding of its own beyond the final f32.
                let s = f64::from(gamma[o]) / (f64::from(var[o]) + bn.epsilon).sqrt();
                scale[o] = s as f32;
                bias[o] = ((f64::from(bias[o]) - f64::from(mean[o])) * s + f64::from(beta[o])) as f32;
            }
        }
        let k = kh * kw;
        let weight = match kind {
            Kind::Dense => {
                // [cout, cin, kh, kw] -> [kh, kw, cin, cout]
                let mut packed = vec![0.0; k * cin_g * cout];
                for o in 0..cout {
                    for i in 0..cin_g {
                        for p in 0..k {
                            packed[(p * cin_g + i) * cout + o] = w[(o * cin_g + i) * k + p] * scale[o];
                        }
                    }
                }
                packed
            }
            Kind::Depthwise => {
                // [c, 1, kh, kw] -> [kh, kw, c]
                let mut packed = vec![0.0; k * cout];
                for o in 0..cout {
                    for p in 0..k {
                        packed[p * cout + o] = w[o * k + p] * scale[o];
                    }
                }
                packed
            }
        };
        let cin = if kind == Kind::Dense { cin_g } else { cout };
        Ok(Self { kind, cin, cout, kh, kw, stride: conv.stride, padding: conv.padding.clone(), weight, bias })
    }

    /// `((top, bottom), (left, right))` padding for an `h × w` input.
    fn pads(&self, h: usize, w: usize) -> ((usize, usize), (usize, usize)) {
        match self.padding {
            PaddingConfig2d::Valid => ((0, 0), (0, 0)),
            PaddingConfig2d::Same => (same_pad(h, self.kh, self.stride[0]), same_pad(w, self.kw, self.stride[1])),
            PaddingConfig2d::Explicit(t, l, b, r) => ((t, b), (l, r)),
        }
    }

    /// Output height and width for an `h × w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let (ph, pw) = self.pads(h, w);
        (out_size(h, self.kh, self.stride[0], ph), out_size(w, self.kw, self.stride[1], pw))
    }

    /// `act(conv(x) + bias + residual)`; `residual` must have the output's shape.
    pub fn forward(&self, x: &Map, residual: Option<&Map>, act: Act, s: &Scratch) -> Map {
        debug_assert_eq!(x.c, self.cin);
        let (oh, ow) = self.out_hw(x.h, x.w);
        if let Some(r) = residual {
            debug_assert_eq!((r.n, r.h, r.w, r.c), (x.n, oh, ow, self.cout));
        }
        let data = match self.kind {
            Kind::Dense => self.dense(x, oh, ow, residual.map(|r| r.data.as_slice()), act, s),
            Kind::Depthwise => self.depthwise(x, oh, ow, residual.map(|r| r.data.as_slice()), act, s),
        };
        Map { n: x.n, h: oh, w: ow, c: self.cout, data }
    }

    fn is_pointwise(&self, x: &Map) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pads(x.h, x.w) == ((0, 0), (0, 0))
    }

    #[allow(clippy::too_many_arguments)]
    fn dense(&self, x: &Map, oh: usize, ow: usize, residual: Option<&[f32]>, act: Act, s: &Scratch) -> Vec<f32> {
        let (cout, k) = (self.cout, self.kh * self.kw * self.cin);
        let pixels = x.n * oh * ow;
        let mut out = s.take(pixels * cout);
        let weights = View::rows(&self.weight, cout);
        let pointwise = self.is_pointwise(x);
        // Rows per tile: the patch tile stays around 1-2 MiB, never so few rows that repacking the
        // weights for every tile dominates.
        let threads = rayon::current_num_threads();
        let mut tile = ((1usize << 19) / k).clamp(128, 512);
        if pixels.div_ceil(tile) < 2 * threads {
            // Too few tiles to balance: one per thread. Single-threaded products on a thread's share
            // of the pixels ran faster than one product that gemm splits (batch 1, ResNet-18).
            tile = pixels.div_ceil(threads);
        }
        if tile >= MIN_TILE && pixels > tile {
            out.par_chunks_mut(tile * cout).enumerate().for_each(|(t, dst)| {
                let (r0, rows) = (t * tile, dst.len() / cout);
                if pointwise {
                    matmul(rows, k, cout, dst, cout, View::rows(&x.data[r0 * k..], k), weights, false);
                } else {
                    PATCHES.with_borrow_mut(|patches| {
                        patches.resize(rows * k, 0.0);
                        self.im2col(x, oh, ow, r0, rows, patches);
                        matmul(rows, k, cout, dst, cout, View::rows(patches, k), weights, false);
                    });
                }
                epilogue(dst, &self.bias, residual.map(|r| &r[r0 * cout..r0 * cout + dst.len()]), act);
            });
        } else {
            let mut patches = Vec::new();
            let a = if pointwise {
                &x.data
            } else {
                patches = s.take(pixels * k);
                patches.par_chunks_mut(k * 16).enumerate().for_each(|(t, chunk)| {
                    self.im2col(x, oh, ow, t * 16, chunk.len() / k, chunk);
                });
                &patches
            };
            matmul(pixels, k, cout, &mut out, cout, View::rows(a, k), weights, true);
            s.give(patches);
            let rows = pixels.div_ceil(2 * rayon::current_num_threads()).max(1);
            out.par_chunks_mut(rows * cout).enumerate().for_each(|(t, dst)| {
                let r0 = t * rows * cout;
                epilogue(dst, &self.bias, residual.map(|r| &r[r0..r0 + dst.len()]), act);
            });
        }
        out
    }

    /// Gathers the patches of output pixels `r0..r0+rows` into `dst` (`[rows, kh*kw*cin]`, zeros
    /// for padding).
    fn im2col(&self, x: &Map, oh: usize, ow: usize, r0: usize, rows: usize, dst: &mut [f32]) {
        let ((pt, _), (pl, _)) = self.pads(x.h, x.w);
        let (cin, kh, kw) = (self.cin, self.kh, self.kw);
        let (k, seg) = (kh * kw * cin, kw * cin);
        for (r, row) in dst[..rows * k].chunks_exact_mut(k).enumerate() {
            let p = r0 + r;
            let (b, oy, ox) = (p / (oh * ow), (p / ow) % oh, p % ow);
            let x0 = (ox * self.stride[1]) as isize - pl as isize;
            for ky in 0..kh {
                let out = &mut row[ky * seg..(ky + 1) * seg];
                let iy = (oy * self.stride[0] + ky) as isize - pt as isize;
                if iy < 0 || iy >= x.h as isize {
                    out.fill(0.0);
                    continue;
                }
                let line = &x.data[(b * x.h + iy as usize) * x.w * cin..][..x.w * cin];
                if x0 >= 0 && x0 as usize + kw <= x.w {
                    out.copy_from_slice(&line[x0 as usize * cin..][..seg]);
                } else {
                    for kx in 0..kw {
                        let ix = x0 + kx as isize;
                        let o = &mut out[kx * cin..(kx + 1) * cin];
                        if ix < 0 || ix >= x.w as isize {
                            o.fill(0.0);
                        } else {
                            o.copy_from_slice(&line[ix as usize * cin..][..cin]);
                        }
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn depthwise(&self, x: &Map, oh: usize, ow: usize, residual: Option<&[f32]>, act: Act, s: &Scratch) -> Vec<f32> {
        let c = self.cout;
        let ((pt, _), (pl, _)) = self.pads(x.h, x.w);
        let (kh, kw, [sh, sw]) = (self.kh, self.kw, self.stride);
        let mut out = s.take(x.n * oh * ow * c);
        out.par_chunks_mut(ow * c).enumerate().for_each(|(row, dst)| {
            let (b, oy) = (row / oh, row % oh);
            // Kernel rows that land inside the input for this output row.
            let ky0 = pt.saturating_sub(oy * sh);
            let ky1 = kh.min((x.h + pt).saturating_sub(oy * sh));
            vectorize(
                #[inline(always)]
                || {
                    for ox in 0..ow {
                        let kx0 = pl.saturating_sub(ox * sw);
                        let kx1 = kw.min((x.w + pl).saturating_sub(ox * sw));
                        let pixel =
                            |ky: usize, kx: usize| ((b * x.h + oy * sh + ky - pt) * x.w + ox * sw + kx - pl) * c;
                        let acc = &mut dst[ox * c..(ox + 1) * c];
                        // Channel blocks accumulate in registers over every tap.
                        let mut c0 = 0;
                        while c0 + 32 <= c {
                            dw_block::<32>(
                                acc,
                                &x.data,
                                &self.weight,
                                &self.bias,
                                c,
                                c0,
                                ky0..ky1,
                                kx0..kx1,
                                kw,
                                &pixel,
                            );
                            c0 += 32;
                        }
                        while c0 + 8 <= c {
                            dw_block::<8>(
                                acc,
                                &x.data,
                                &self.weight,
                                &self.bias,
                                c,
                                c0,
                                ky0..ky1,
                                kx0..kx1,
                                kw,
                                &pixel,
                            );
                            c0 += 8;
                        }
                        while c0 < c {
                            dw_block::<1>(
                                acc,
                                &x.data,
                                &self.weight,
                                &self.bias,
                                c,
                                c0,
                                ky0..ky1,
                                kx0..kx1,
                                kw,
                                &pixel,
                            );
                            c0 += 1;
                        }
                        if let Some(r) = residual {
                            let r = &r[((b * oh + oy) * ow + ox) * c..][..c];
                            acc.iter_mut().zip(r).for_each(|(a, &v)| *a += v);
                        }
                        activate(acc, act);
                    }
                },
            )
        });
        out
    }
}

/// Channels `c0..c0+L` of one depthwise output pixel: bias plus every valid tap, in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_block<const L: usize>(
    acc: &mut [f32],
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    c: usize,
    c0: usize,
    ky: std::ops::Range<usize>,
    kx: std::ops::Range<usize>,
    kw: usize,
    pixel: &impl Fn(usize, usize) -> usize,
) {
    let mut a: [f32; L] = std::array::from_fn(|l| bias[c0 + l]);
    for y in ky {
        for xk in kx.clone() {
            let (Some(xs), Some(ws)) = (
                x.get(pixel(y, xk) + c0..pixel(y, xk) + c0 + L).and_then(|s| <&[f32; L]>::try_from(s).ok()),
                weight
                    .get((y * kw + xk) * c + c0..(y * kw + xk) * c + c0 + L)
                    .and_then(|s| <&[f32; L]>::try_from(s).ok()),
            ) else {
                continue;
            };
            for l in 0..L {
                a[l] = xs[l].mul_add(ws[l], a[l]);
            }
        }
    }
    acc[c0..c0 + L].copy_from_slice(&a);
}
