//! Channels-last activations and the element-wise, pooling and linear kernels of the engine.
//!
//! Loops are written plainly and run inside [`vectorize`], which compiles them for the widest
//! instruction set the CPU has (AVX-512, AVX2+FMA, or baseline x86-64), chosen at run time.

use std::sync::Mutex;

use rayon::prelude::*;

pub(crate) use kindling_core::cpu::vectorize;
/// Activation buffers kept between layers and calls: a fresh multi-megabyte `Vec` per layer costs
/// a page fault and a zeroing per 4 KiB page, more than many layers' arithmetic. Buffers handed
/// out keep stale contents; every kernel overwrites all of its output.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    free: Mutex<Vec<Vec<f32>>>,
}

/// Buffers kept at most.
const KEEP: usize = 8;

impl Scratch {
    /// A buffer of `len` values (contents unspecified).
    pub fn take(&self, len: usize) -> Vec<f32> {
        let found = {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that fits, else the largest (grown below).
            let best = (0..free.len())
                .filter(|&i| free[i].capacity() >= len)
                .min_by_key(|&i| free[i].capacity())
                .or_else(|| (0..free.len()).max_by_key(|&i| free[i].capacity()));
            best.map(|i| free.swap_remove(i))
        };
        let mut v = found.unwrap_or_default();
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    /// Returns a buffer for reuse.
    pub fn give(&self, v: Vec<f32>) {
        if v.capacity() == 0 {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.push(v);
        if free.len() > KEEP {
            // Drop the smallest.
            if let Some(i) = (0..free.len()).min_by_key(|&i| free[i].capacity()) {
                free.swap_remove(i);
            }
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

/// A batch of feature maps in NHWC (channels-last) order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Map {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Map {
    /// From NCHW data (burn's layout).
    pub fn from_nchw(data: &[f32], [n, c, h, w]: [usize; 4], scratch: &Scratch) -> Self {
        let mut out = scratch.take(n * h * w * c);
        let plane = h * w;
        out.par_chunks_mut(w * c).enumerate().for_each(|(row, dst)| {
            let (b, y) = (row / h, row % h);
            for ch in 0..c {
                let src = &data[(b * c + ch) * plane + y * w..][..w];
                for (x, &v) in src.iter().enumerate() {
                    dst[x * c + ch] = v;
                }
            }
        });
        Map { n, h, w, c, data: out }
    }

    /// Hands the buffer back to `scratch`.
    pub fn recycle(self, scratch: &Scratch) {
        scratch.give(self.data);
    }

    /// The data in NCHW order.
    pub fn to_nchw(&self) -> Vec<f32> {
        let (h, w, c) = (self.h, self.w, self.c);
        let mut out = vec![0.0; self.data.len()];
        for b in 0..self.n {
            for y in 0..h {
                for x in 0..w {
                    let src = &self.data[((b * h + y) * w + x) * c..][..c];
                    for (ch, &v) in src.iter().enumerate() {
                        out[((b * c + ch) * h + y) * w + x] = v;
                    }
                }
            }
        }
        out
    }
}

/// The activation fused into a kernel's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

#[inline(always)]
fn rows_apply(out: &mut [f32], n: usize, bias: &[f32], res: Option<&[f32]>, f: impl Fn(f32) -> f32) {
    match res {
        Some(res) => {
            for (row, r) in out.chunks_exact_mut(n).zip(res.chunks_exact(n)) {
                for ((o, &b), &r) in row.iter_mut().zip(bias).zip(r) {
                    *o = f(*o + b + r);
                }
            }
        }
        None => {
            for row in out.chunks_exact_mut(n) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    *o = f(*o + b);
                }
            }
        }
    }
}

/// `out[r, :] = act(out[r, :] + bias + residual[r, :])` for rows of width `bias.len()`.
pub(crate) fn epilogue(out: &mut [f32], bias: &[f32], residual: Option<&[f32]>, act: Act) {
    let n = bias.len();
    vectorize(
        #[inline(always)]
        || match act {
            Act::None => rows_apply(
                out,
                n,
                bias,
                residual,
                #[inline(always)]
                |x| x,
            ),
            Act::Relu => rows_apply(
                out,
                n,
                bias,
                residual,
                #[inline(always)]
                |x| x.max(0.0),
            ),
            Act::Relu6 => rows_apply(
                out,
                n,
                bias,
                residual,
                #[inline(always)]
                |x| x.clamp(0.0, 6.0),
            ),
        },
    )
}

/// Applies `act` in place (for kernels that produce their output without a bias pass).
#[inline(always)]
pub(crate) fn activate(v: &mut [f32], act: Act) {
    match act {
        Act::None => {}
        Act::Relu => {
            for x in v {
                *x = x.max(0.0);
            }
        }
        Act::Relu6 => {
            for x in v {
                *x = x.clamp(0.0, 6.0);
            }
        }
    }
}

/// Output size of a window of `k` with `stride` over `size` padded by `pad` (before + after).
pub(crate) fn out_size(size: usize, k: usize, stride: usize, pad: (usize, usize)) -> usize {
    (size + pad.0 + pad.1).saturating_sub(k) / stride + 1
}

/// Max-pool with a `k × k` window, `stride` and zero-free padding (padded cells never win).
pub(crate) fn max_pool(x: &Map, k: usize, stride: usize, pad: usize, scratch: &Scratch) -> Map {
    let (oh, ow) = (out_size(x.h, k, stride, (pad, pad)), out_size(x.w, k, stride, (pad, pad)));
    let c = x.c;
    let mut out = scratch.take(x.n * oh * ow * c);
    out.par_chunks_mut(ow * c).enumerate().for_each(|(row, dst)| {
        let (b, oy) = (row / oh, row % oh);
        vectorize(
            #[inline(always)]
            || {
                for ox in 0..ow {
                    let acc = &mut dst[ox * c..(ox + 1) * c];
                    acc.fill(f32::NEG_INFINITY);
                    for ky in 0..k {
                        let Some(iy) = (oy * stride + ky).checked_sub(pad).filter(|&v| v < x.h) else { continue };
                        for kx in 0..k {
                            let Some(ix) = (ox * stride + kx).checked_sub(pad).filter(|&v| v < x.w) else { continue };
                            let src = &x.data[((b * x.h + iy) * x.w + ix) * c..][..c];
                            for (a, &v) in acc.iter_mut().zip(src) {
                                *a = a.max(v);
                            }
                        }
                    }
                }
            },
        )
    });
    Map { n: x.n, h: oh, w: ow, c, data: out }
}

/// Adaptive average pooling to `oh × ow` (PyTorch's windows: `floor(i*H/oh)..ceil((i+1)*H/oh)`).
pub(crate) fn adaptive_avg_pool(x: &Map, oh: usize, ow: usize) -> Map {
    if (x.h, x.w) == (oh, ow) {
        return x.clone();
    }
    let c = x.c;
    let mut out = vec![0.0; x.n * oh * ow * c];
    out.par_chunks_mut(ow * c).enumerate().for_each(|(row, dst)| {
        let (b, oy) = (row / oh, row % oh);
        let (y0, y1) = (oy * x.h / oh, ((oy + 1) * x.h).div_ceil(oh));
        for ox in 0..ow {
            let (x0, x1) = (ox * x.w / ow, ((ox + 1) * x.w).div_ceil(ow));
            let acc = &mut dst[ox * c..(ox + 1) * c];
            for iy in y0..y1 {
                for ix in x0..x1 {
                    let src = &x.data[((b * x.h + iy) * x.w + ix) * c..][..c];
                    acc.iter_mut().zip(src).for_each(|(a, &v)| *a += v);
                }
            }
            let scale = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
            acc.iter_mut().for_each(|a| *a *= scale);
        }
    });
    Map { n: x.n, h: oh, w: ow, c, data: out }
}

/// Mean over all pixels of each image: `[n, c]`.
pub(crate) fn global_avg_pool(x: &Map) -> Vec<f32> {
    let (c, hw) = (x.c, x.h * x.w);
    let mut out = vec![0.0; x.n * c];
    for (b, acc) in out.chunks_exact_mut(c).enumerate() {
        vectorize(
            #[inline(always)]
            || {
                for px in x.data[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
                    acc.iter_mut().zip(px).for_each(|(a, &v)| *a += v);
                }
            },
        );
        let scale = 1.0 / hw as f32;
        acc.iter_mut().for_each(|a| *a *= scale);
    }
    out
}
