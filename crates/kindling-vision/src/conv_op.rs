//! 2-D convolution as one differentiable im2col + gemm op on burn-flex.
//!
//! burn-flex runs a convolution's backward pass as `conv3d` / `conv_transpose3d` calls whose
//! matrix products have degenerate shapes (one-row gemm microkernels: 6% of the CPU's fp32 peak
//! for a ResNet-18 training step, BENCHMARKS.md). This op keeps the convolution NCHW and phrases
//! every pass as full-size products over a group of images (one image when its output map has at
//! least `MIN_COLUMNS` (384) positions, more for small maps), groups spread over rayon's threads:
//!
//! - forward: `Y[g] = W · im2col(X[g]) + b` (`[Co, C·kh·kw] × [C·kh·kw, k·OH·OW]`);
//! - weight gradient: `dW = Σ_g dY[g] · im2col(X[g])ᵀ` (one accumulating product per group,
//!   one accumulator per thread);
//! - input gradient: `dX[g] = col2im(Wᵀ · dY[g])`, skipped when the input needs no gradient
//!   (the image batch of a network's stem), like the weight gradient of a frozen layer.
//!
//! Column matrices of narrow maps (output rows under 16 values) are copied from zero-bordered
//! planes in runs of a fixed width ([`narrow`]), wider ones row by row ([`wide`]). Stride-1
//! convolutions on maps of 28×28 and more skip the column matrix: one product per kernel tap
//! reads the zero-padded images at the tap's offset ([`shifted`]). Images go in groups, a multiple of the
//! thread count, each a single-threaded product.
//!
//! Kernel taps that only ever read padding (a 3×3 kernel on a 1×1 map: ResNet's last stage on
//! small images) are cropped away first ([`taps`]).
//!
//! [`conv2d`] uses it for groups = 1 and dilation 1 on burn-flex in f32 (training and inference)
//! and falls back to [`Conv2d::forward`] elsewhere (other backends, depthwise convolutions).
//! Results match burn's convolution to float rounding (tests below and `tests/conv_op.rs`).

mod narrow;
mod shifted;
mod taps;
mod wide;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Device, Tensor};
use kindling_core::cpu::{View, flex_f32, flex_from_f32, matmul, matmul_add, zeros};
use rayon::prelude::*;

/// The im2col + gemm convolution as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait ConvGemmOps: Backend {
    /// `x` `[N, C, H, W]`, `weight` `[Co, C, kh, kw]`, `bias` `[Co]` (or `[0]`: none); `spec` is
    /// `[stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right]`. Returns `[N, Co, OH, OW]`.
    fn conv2d_gemm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: [usize; 6],
    ) -> FloatTensor<Self>;
}

/// Host kernels behind [`ConvGemmOps`] (burn-flex).
pub trait ConvGemmKernels: Backend {
    /// Gradients of `x`, `weight` and `bias` from the output gradient; `None` where `need` is false.
    fn conv2d_gemm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        spec: [usize; 6],
        need: [bool; 3],
    ) -> [Option<FloatTensor<Self>>; 3];
}

/// A convolution's sizes.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    co: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pt: usize,
    pl: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(x: &[usize], w: &[usize], spec: [usize; 6]) -> Self {
        let [sh, sw, pt, pb, pl, pr] = spec;
        let (h, wd, kh, kw) = (x[2], x[3], w[2], w[3]);
        let oh = (h + pt + pb).saturating_sub(kh) / sh + 1;
        let ow = (wd + pl + pr).saturating_sub(kw) / sw + 1;
        Self { n: x[0], c: x[1], h, w: wd, co: w[0], kh, kw, sh, sw, pt, pl, oh, ow }
    }

    /// Rows of the column matrix: `C·kh·kw`.
    fn ckk(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Output positions per image: `OH·OW`.
    fn ohow(&self) -> usize {
        self.oh * self.ow
    }

    /// A 1×1, stride-1, unpadded convolution: the image is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }

    /// For kernel column `kj`: the output columns `lo..hi` that read inside the image.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let lo = self.pl.saturating_sub(kj).div_ceil(self.sw).min(self.ow);
        let hi = if self.w + self.pl > kj { ((self.w + self.pl - kj - 1) / self.sw + 1).min(self.ow) } else { 0 };
        (lo, hi.max(lo))
    }

    /// [`valid_cols`](Self::valid_cols) of every kernel column (computed once per image, not
    /// per column-matrix row: the divisions were a visible share of small-map convolutions).
    fn valid_cols_all(&self) -> Vec<(usize, usize)> {
        (0..self.kw).map(|kj| self.valid_cols(kj)).collect()
    }

    /// [`in_row`](Self::in_row) for every kernel row `ki` (outer) and output row `oy` (inner).
    fn in_rows_all(&self) -> Vec<Option<usize>> {
        (0..self.kh).flat_map(|ki| (0..self.oh).map(move |oy| self.in_row(oy, ki))).collect()
    }

    /// Input row read by output row `oy` at kernel row `ki`, if inside the image.
    fn in_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.sh + ki).checked_sub(self.pt).filter(|&iy| iy < self.h)
    }
}

/// Output columns a product should have at least (smaller ones run at a fraction of the gemm
/// kernels' speed): images with few output positions are processed in groups.
const MIN_COLUMNS: usize = 384;

/// How the batch is cut: `groups` groups of consecutive images (sizes differing by at most one),
/// one product per group, spread over `workers` rayon tasks (one single-threaded product each)
/// when there are enough groups, else one task whose products use every thread.
#[derive(Debug, Clone, Copy)]
struct Plan {
    n: usize,
    groups: usize,
    workers: usize,
}

impl Plan {
    fn new(g: &Geom) -> Self {
        let threads = rayon::current_num_threads();
        // A multiple of the threads, so that each thread gets the same number of columns: gemm's
        // own split of one product scales poorly (1.1–1.4× on two threads), one single-threaded
        // product per thread nearly 2×.
        let want = (g.n * g.ohow()).div_ceil(MIN_COLUMNS).next_multiple_of(threads);
        let groups = want.clamp(1, g.n.max(1));
        Self { n: g.n, groups, workers: if groups >= threads { threads } else { 1 } }
    }

    /// The images of group `gi`.
    fn images(&self, gi: usize) -> std::ops::Range<usize> {
        let (base, extra) = (self.n / self.groups, self.n % self.groups);
        let start = gi * base + gi.min(extra);
        start..start + base + usize::from(gi < extra)
    }

    fn parallel_products(&self) -> bool {
        self.workers == 1
    }
}

/// Per-worker state: column matrix and output-gradient block of one group, weight-gradient sum.
#[derive(Default)]
struct Scratch {
    cols: Vec<f32>,
    block: Vec<f32>,
    dw: Vec<f32>,
}

/// Group `gi`'s images: their column matrix `[C·kh·kw, k·OH·OW]` (or the image itself for an
/// ungrouped pointwise convolution), through zero-bordered planes for narrow maps.
fn group_cols<'a>(
    g: &Geom,
    x: &'a [f32],
    images: std::ops::Range<usize>,
    cols: &'a mut Vec<f32>,
    pad: Option<&narrow::Padded>,
) -> &'a [f32] {
    let (chw, ohow) = (g.c * g.h * g.w, g.ohow());
    if images.len() == 1 && g.pointwise() {
        return &x[images.start * chw..images.end * chw];
    }
    cols.clear();
    cols.reserve(g.ckk() * images.len() * ohow);
    let x = &x[images.start * chw..images.end * chw];
    match pad {
        Some(pad) => narrow::im2col(g, pad, x, images.len(), cols),
        None => wide::im2col(g, x, cols),
    }
    debug_assert_eq!(cols.len(), g.ckk() * images.len() * ohow);
    cols
}

/// Runs `job(images of the group, their part of out, scratch)` for every group, spread as `plan` says
/// (`out`, when given, holds `per_image` elements per image); returns the workers' scratch.
fn for_groups(
    plan: &Plan,
    out: Option<&mut [f32]>,
    per_image: usize,
    job: impl Fn(std::ops::Range<usize>, Option<&mut [f32]>, &mut Scratch) + Sync,
) -> Vec<Scratch> {
    let mut work: Vec<Vec<_>> = (0..plan.workers).map(|_| Vec::new()).collect();
    // An empty batch has no group to run.
    let groups = (0..plan.groups).filter(|&gi| !plan.images(gi).is_empty());
    match out {
        Some(mut out) => {
            for gi in groups {
                let (part, rest) = std::mem::take(&mut out).split_at_mut(plan.images(gi).len() * per_image);
                out = rest;
                work[gi % plan.workers].push((plan.images(gi), Some(part)));
            }
        }
        None => groups.for_each(|gi| work[gi % plan.workers].push((plan.images(gi), None))),
    }
    work.into_par_iter()
        .map(|jobs| {
            let mut scratch = Scratch::default();
            for (images, part) in jobs {
                job(images, part, &mut scratch);
            }
            scratch
        })
        .collect()
}

fn forward(g: &Geom, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let (ohow, ckk, plan) = (g.ohow(), g.ckk(), Plan::new(g));
    let mut out = zeros(g.n * g.co * ohow);
    let par = plan.parallel_products();
    let shifted = shifted::applies(g);
    let wt = if shifted { shifted::tap_major(g, w) } else { Vec::new() };
    let pad = (g.ow < narrow::NARROW).then(|| narrow::Padded::new(g));
    for_groups(&plan, Some(&mut out), g.co * ohow, |images, dst, scratch| {
        let Some(dst) = dst else { return };
        let k = images.len();
        if shifted {
            shifted::forward_group(g, x, &wt, images, dst, scratch, par);
        } else if k == 1 {
            let Scratch { cols, .. } = scratch;
            let cols = group_cols(g, x, images, cols, pad.as_ref());
            matmul(g.co, ckk, ohow, dst, ohow, View::rows(w, ckk), View::rows(cols, ohow), par);
        } else {
            let Scratch { cols, block, .. } = scratch;
            let cols = group_cols(g, x, images, cols, pad.as_ref());
            block.resize(g.co * k * ohow, 0.0);
            matmul(g.co, ckk, k * ohow, block, k * ohow, View::rows(w, ckk), View::rows(cols, k * ohow), par);
            for (i, image) in dst.chunks_exact_mut(g.co * ohow).enumerate() {
                for (o, row) in image.chunks_exact_mut(ohow).enumerate() {
                    row.copy_from_slice(&block[o * k * ohow + i * ohow..][..ohow]);
                }
            }
        }
        // An empty `bias` (none) ends the zip at once.
        for image in dst.chunks_exact_mut(g.co * ohow) {
            for (row, &b) in image.chunks_exact_mut(ohow).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    });
    out
}

/// `(dx, dw, db)` for the parts in `need`.
fn backward(g: &Geom, x: &[f32], w: &[f32], dy: &[f32], need: [bool; 3]) -> [Option<Vec<f32>>; 3] {
    let (chw, ohow, ckk, plan) = (g.c * g.h * g.w, g.ohow(), g.ckk(), Plan::new(g));
    // Zeroed: `col2im` adds into it.
    let mut dx = need[0].then(|| zeros(g.n * chw));
    let par = plan.parallel_products();
    let shifted = shifted::applies(g);
    let wt = if shifted { shifted::tap_major(g, w) } else { Vec::new() };
    let pad = (g.ow < narrow::NARROW).then(|| narrow::Padded::new(g));
    let scratch = for_groups(&plan, dx.as_deref_mut(), chw, |images, dxg, scratch| {
        let (k, n0) = (images.len(), images.start);
        if shifted {
            let dy_g = &dy[n0 * g.co * ohow..(n0 + k) * g.co * ohow];
            shifted::backward_group(g, x, &wt, dy_g, images, dxg, need[1], scratch, par);
            return;
        }
        let ld = k * ohow;
        let Scratch { cols, block, dw } = scratch;
        // The group's output gradient as one `[Co, k·OH·OW]` block.
        let dy_g: &[f32] = if k == 1 {
            &dy[n0 * g.co * ohow..(n0 + 1) * g.co * ohow]
        } else {
            block.resize(g.co * ld, 0.0);
            for i in 0..k {
                for o in 0..g.co {
                    block[o * ld + i * ohow..][..ohow].copy_from_slice(&dy[((n0 + i) * g.co + o) * ohow..][..ohow]);
                }
            }
            block
        };
        if need[1] {
            dw.resize(g.co * ckk, 0.0);
            let cols = group_cols(g, x, images.clone(), cols, pad.as_ref());
            let cols_t = View { data: cols, rs: 1, cs: ld };
            matmul_add(g.co, ld, ckk, dw, ckk, View::rows(dy_g, ld), cols_t, par);
        }
        if let Some(dxg) = dxg {
            let w_t = View { data: w, rs: 1, cs: ckk };
            if k == 1 && g.pointwise() {
                matmul(ckk, g.co, ld, dxg, ld, w_t, View::rows(dy_g, ld), par);
            } else {
                cols.resize(ckk * ld, 0.0);
                matmul(ckk, g.co, ld, cols, ld, w_t, View::rows(dy_g, ld), par);
                match &pad {
                    Some(pad) => narrow::col2im(g, pad, cols, k, dxg),
                    None => {
                        for (i, dxn) in dxg.chunks_exact_mut(chw).enumerate() {
                            wide::col2im(g, cols, ld, i * ohow, dxn);
                        }
                    }
                }
            }
        }
    });
    let dw = need[1].then(|| {
        let mut parts = scratch.into_iter().map(|s| s.dw).filter(|d| !d.is_empty());
        let mut sum = parts.next().unwrap_or_else(|| vec![0.0f32; g.co * ckk]);
        for part in parts {
            sum.par_chunks_mut(1 << 14).zip(part.par_chunks(1 << 14)).for_each(|(s, p)| {
                s.iter_mut().zip(p).for_each(|(s, v)| *s += v);
            });
        }
        if shifted { shifted::from_tap_major(g, &sum) } else { sum }
    });
    let db = need[2].then(|| {
        let mut db = vec![0.0f32; g.co];
        for image in dy.chunks_exact(g.co * ohow) {
            for (s, row) in db.iter_mut().zip(image.chunks_exact(ohow)) {
                *s += row.iter().sum::<f32>();
            }
        }
        db
    });
    [dx, dw, db]
}

impl ConvGemmOps for Flex {
    fn conv2d_gemm(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, spec: [usize; 6]) -> FlexTensor {
        let g = Geom::new(x.layout().shape(), weight.layout().shape(), spec);
        let out = forward(&g, &flex_f32(&x), &flex_f32(&weight), &flex_f32(&bias));
        flex_from_f32(out, [g.n, g.co, g.oh, g.ow])
    }
}

impl ConvGemmKernels for Flex {
    fn conv2d_gemm_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        spec: [usize; 6],
        need: [bool; 3],
    ) -> [Option<FlexTensor>; 3] {
        let (xs, ws) = (x.layout().shape().to_vec(), weight.layout().shape().to_vec());
        let g = Geom::new(&xs, &ws, spec);
        let [dx, dw, db] = backward(&g, &flex_f32(&x), &flex_f32(&weight), &flex_f32(&grad), need);
        [
            dx.map(|v| flex_from_f32(v, [xs[0], xs[1], xs[2], xs[3]])),
            dw.map(|v| flex_from_f32(v, [ws[0], ws[1], ws[2], ws[3]])),
            db.map(|v| flex_from_f32(v, [ws[0]])),
        ]
    }
}

#[derive(Debug)]
struct ConvBackward;

impl<B: Backend + ConvGemmKernels> Backward<B, 3> for ConvBackward {
    /// `x`, `weight`, spec.
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 6]);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, weight, spec) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let need = [0, 1, 2].map(|i| ops.parents[i].is_some());
        let out = B::conv2d_gemm_backward(x, weight, grad, spec, need);
        for (parent, g) in ops.parents.into_iter().zip(out) {
            if let (Some(node), Some(g)) = (parent, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + ConvGemmOps + ConvGemmKernels, C: CheckpointStrategy> ConvGemmOps for Autodiff<B, C> {
    fn conv2d_gemm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: [usize; 6],
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::conv2d_gemm(x.clone(), weight.clone(), bias, spec);
                prep.finish((x, weight, spec), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_gemm(x, weight, bias, spec)),
        }
    }
}

/// `conv.forward(x)`, through the im2col + gemm op on burn-flex (f32, groups 1, dilation 1,
/// with or without autodiff) and through burn's convolution otherwise.
///
/// ```
/// use burn::nn::conv::Conv2dConfig;
/// use burn::nn::PaddingConfig2d;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex();
/// let conv = Conv2dConfig::new([3, 8], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&device);
/// let x = Tensor::<4>::random([2, 3, 9, 9], Distribution::Normal(0.0, 1.0), &device);
/// let fast = kindling_vision::conv2d(&conv, x.clone());
/// let reference = conv.forward(x);
/// assert_eq!(fast.dims(), [2, 8, 9, 9]);
/// assert!((fast - reference).abs().max().into_scalar::<f32>() < 1e-4);
/// ```
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let [_, _, height, width] = x.dims();
    let on_flex = device == Device::flex() && x.dtype() == DType::F32;
    let Some((spec, taps)) = taps::spec(conv, height, width).filter(|_| on_flex) else {
        return conv.forward(x);
    };
    // Kernel taps that only ever read padding (a 3×3 kernel on a 1×1 map) are cropped away.
    let weight = taps::cropped(conv.weight.val(), &taps);
    // No bias: an empty one, which the kernels skip (no pass adding zeros to every output).
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([0], &device),
    };
    Tensor::<4>::from_dispatch(Dispatch::conv2d_gemm(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        spec,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(seed * 40503) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    }

    /// Direct convolution, the definition.
    fn direct(g: &Geom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f32; g.n * g.co * g.ohow()];
        for n in 0..g.n {
            for o in 0..g.co {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut s = b[o];
                        for c in 0..g.c {
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy = (oy * g.sh + ki) as isize - g.pt as isize;
                                    let ix = (ox * g.sw + kj) as isize - g.pl as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                        let xi = ((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize;
                                        s += x[xi] * w[((o * g.c + c) * g.kh + ki) * g.kw + kj];
                                    }
                                }
                            }
                        }
                        y[((n * g.co + o) * g.oh + oy) * g.ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    /// Forward against the definition, backward against finite differences of `sum(y · r)`,
    /// over strides, asymmetric padding, 1×1, grouped and single-image products, narrow maps
    /// (zero-bordered planes) and wide ones.
    #[test]
    fn matches_direct_convolution_and_finite_differences() {
        let cases = [
            ([3, 2, 7, 6], [4, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
            ([1, 3, 8, 9], [2, 3, 3, 2], [2, 2, 0, 1, 1, 0]),
            ([2, 4, 5, 5], [3, 4, 1, 1], [1, 1, 0, 0, 0, 0]),
            ([2, 2, 9, 7], [2, 2, 5, 5], [2, 3, 2, 2, 2, 2]),
            // Large enough for one image per product (1×1 in place).
            ([2, 3, 24, 20], [2, 3, 1, 1], [1, 1, 0, 0, 0, 0]),
            // Output rows of 16 and more: im2col row by row (the narrower ones through padded planes).
            ([3, 2, 20, 20], [2, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
            ([1, 2, 40, 36], [2, 2, 3, 3], [2, 2, 1, 1, 1, 1]),
            // Stride 1 with 5×5 kernels and asymmetric padding.
            ([2, 3, 6, 7], [2, 3, 5, 5], [1, 1, 2, 2, 2, 2]),
            ([2, 2, 5, 6], [3, 2, 2, 2], [1, 1, 0, 1, 0, 1]),
            ([1, 2, 4, 5], [2, 2, 3, 3], [1, 1, 0, 2, 1, 1]),
        ];
        for (xs, ws, spec) in cases {
            assert!(!shifted::applies(&Geom::new(&xs, &ws, spec)), "{xs:?} {ws:?}: im2col cases");
            check(xs, ws, spec);
        }
    }

    /// An empty batch gives an empty output and gradients of the right sizes, on every path.
    #[test]
    fn empty_batch() {
        for (xs, ws, spec) in
            [([0, 2, 24, 24], [3, 2, 3, 3], [1, 1, 1, 1, 1, 1]), ([0, 2, 5, 5], [3, 2, 3, 3], [2, 2, 1, 1, 1, 1])]
        {
            let g = Geom::new(&xs, &ws, spec);
            let (x, w) = (Vec::new(), val(ws.iter().product(), 1));
            assert!(forward(&g, &x, &w, &[]).is_empty());
            let [dx, dw, _] = backward(&g, &x, &w, &[], [true, true, false]);
            assert_eq!((dx.map(|d| d.len()), dw.map(|d| d.len())), (Some(0), Some(w.len())));
        }
    }

    /// The same for stride-1 convolutions through the shifted-image products: one image and
    /// groups of images per product, a non-square kernel with asymmetric padding.
    #[test]
    fn shifted_products_match_direct_convolution_and_finite_differences() {
        let cases = [
            ([2, 2, 24, 24], [2, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
            ([5, 2, 11, 11], [3, 2, 2, 2], [1, 1, 0, 1, 0, 1]),
            ([2, 2, 24, 23], [2, 2, 2, 3], [1, 1, 0, 1, 1, 1]),
        ];
        for (xs, ws, spec) in cases {
            let g = Geom::new(&xs, &ws, spec);
            assert!(shifted::applies(&g), "{xs:?} {ws:?}: shifted-image cases");
            assert_eq!(Plan::new(&g).groups < xs[0], xs[0] == 5, "{xs:?}: grouping");
            check(xs, ws, spec);
        }
    }

    fn check(xs: [usize; 4], ws: [usize; 4], spec: [usize; 6]) {
        let g = Geom::new(&xs, &ws, spec);
        let (x, w, b) = (val(xs.iter().product(), 1), val(ws.iter().product(), 2), val(ws[0], 3));
        let y = forward(&g, &x, &w, &b);
        let reference = direct(&g, &x, &w, &b);
        let max = y.iter().zip(&reference).map(|(a, r)| (a - r).abs()).fold(0.0f32, f32::max);
        assert!(max < 1e-5, "{xs:?} {ws:?} {spec:?}: forward off by {max}");
        let r = val(y.len(), 4);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            direct(&g, x, w, b).iter().zip(&r).map(|(&a, &c)| f64::from(a) * f64::from(c)).sum()
        };
        let [dx, dw, db] = backward(&g, &x, &w, &r, [true, true, true]);
        let analytic = [dx.unwrap_or_default(), dw.unwrap_or_default(), db.unwrap_or_default()];
        for (which, grad) in analytic.iter().enumerate() {
            let len = [x.len(), w.len(), b.len()][which];
            assert_eq!(grad.len(), len);
            for k in (0..len).step_by(5) {
                let mut args = [x.clone(), w.clone(), b.clone()];
                args[which][k] += 1e-2;
                let up = loss(&args[0], &args[1], &args[2]);
                args[which][k] -= 2e-2;
                let down = loss(&args[0], &args[1], &args[2]);
                let numeric = (up - down) / 2e-2;
                assert!(
                    (numeric - f64::from(grad[k])).abs() < 1e-3,
                    "{xs:?} input {which}[{k}]: {numeric} vs {}",
                    grad[k]
                );
            }
        }
        let [dx, dw, db] = backward(&g, &x, &w, &r, [false, true, false]);
        assert!(dx.is_none() && db.is_none() && dw.is_some());
    }
}
