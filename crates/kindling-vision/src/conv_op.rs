//! 2-D convolution as one differentiable im2col + gemm op on burn-flex.
//!
//! burn-flex runs a convolution's backward pass as `conv3d` / `conv_transpose3d` calls whose
//! matrix products have degenerate shapes (one-row gemm microkernels: 6% of the CPU's fp32 peak
//! for a ResNet-18 training step, BENCHMARKS.md). This op keeps the convolution NCHW and phrases
//! every pass as full-size products over a group of images (one image when its output map has at
//! least `MIN_COLUMNS` (384) positions, more for small maps), groups spread over rayon's threads:
//!
//! - forward: `Y[g] = W · im2col(X[g]) + b` (`[Co, C·kh·kw] × [C·kh·kw, k·OH·OW]`);
//! - weight gradient: `dW = Σ_g dY[g] · im2col(X[g])ᵀ`, summed transposed where that is faster
//!   ([`transposed_dw`]); one accumulating product per group, one accumulator per thread, from the
//!   column matrices the forward pass kept when they are small (up to [`KEEP_BYTES`] per
//!   convolution: small maps, whose im2col costs most per FLOP);
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
use kindling_core::cpu::{View, flex_f32, flex_from_f32, matmul, matmul_add, transpose, zeros};
use rayon::prelude::*;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// [`ConvGemmOps::conv2d_gemm`], also returning the column matrices it built when they fit
    /// [`KEEP_BYTES`] (for the weight gradient of the backward pass).
    fn conv2d_gemm_keep(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: [usize; 6],
    ) -> (FloatTensor<Self>, Option<Arc<KeptCols>>);

    /// Gradients of `x`, `weight` and `bias` from the output gradient; `None` where `need` is
    /// false. `kept`: the forward pass's column matrices, if it kept them.
    fn conv2d_gemm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        spec: [usize; 6],
        need: [bool; 3],
        kept: Option<Arc<KeptCols>>,
    ) -> [Option<FloatTensor<Self>>; 3];
}

/// Column matrices are kept from the forward pass for the weight gradient when they take at
/// most this many bytes per convolution (ResNet-18 on 32×32 images, batch 64: 9.4 MiB for a
/// first-stage convolution; larger maps rebuild them rather than hold hundreds of MiB).
pub const KEEP_BYTES: usize = 16 << 20;

/// The column matrix of every group of a forward pass, in group order.
#[derive(Debug, Default)]
pub struct KeptCols(Vec<Vec<f32>>);

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

/// Per-worker state: column matrix and output-gradient block of one group, weight-gradient sum
/// (tap-major for [`shifted`] products, transposed where [`transposed_dw`]).
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

/// Runs `job(group index, images of the group, their part of out, scratch)` for every group,
/// spread as `plan` says (`out`, when given, holds `per_image` elements per image); returns the
/// workers' scratch.
fn for_groups(
    plan: &Plan,
    out: Option<&mut [f32]>,
    per_image: usize,
    job: impl Fn(usize, std::ops::Range<usize>, Option<&mut [f32]>, &mut Scratch) + Sync,
) -> Vec<Scratch> {
    let mut work: Vec<Vec<_>> = (0..plan.workers).map(|_| Vec::new()).collect();
    // An empty batch has no group to run.
    let groups = (0..plan.groups).filter(|&gi| !plan.images(gi).is_empty());
    match out {
        Some(mut out) => {
            for gi in groups {
                let (part, rest) = std::mem::take(&mut out).split_at_mut(plan.images(gi).len() * per_image);
                out = rest;
                work[gi % plan.workers].push((gi, plan.images(gi), Some(part)));
            }
        }
        None => groups.for_each(|gi| work[gi % plan.workers].push((gi, plan.images(gi), None))),
    }
    work.into_par_iter()
        .map(|jobs| {
            let mut scratch = Scratch::default();
            for (gi, images, part) in jobs {
                job(gi, images, part, &mut scratch);
            }
            scratch
        })
        .collect()
}

/// Whether the forward pass builds column matrices worth keeping for the backward pass: not
/// for shifted-image products or an image that is its own column matrix, nor beyond [`KEEP_BYTES`].
fn keeps_cols(g: &Geom, plan: &Plan) -> bool {
    let own = plan.groups == g.n && g.pointwise();
    !shifted::applies(g) && !own && g.ckk() * g.n * g.ohow() * size_of::<f32>() <= KEEP_BYTES
}

/// The output `[N, Co, OH, OW]` and, if `keep` and [`keeps_cols`], every group's column matrix.
fn forward(g: &Geom, x: &[f32], w: &[f32], bias: &[f32], keep: bool) -> (Vec<f32>, Option<KeptCols>) {
    let (ohow, ckk, plan) = (g.ohow(), g.ckk(), Plan::new(g));
    let mut out = zeros(g.n * g.co * ohow);
    let par = plan.parallel_products();
    let shifted = shifted::applies(g);
    let wt = if shifted { shifted::tap_major(g, w) } else { Vec::new() };
    let pad = (g.ow < narrow::NARROW).then(|| narrow::Padded::new(g));
    let kept = (keep && keeps_cols(g, &plan)).then(|| Mutex::new(vec![Vec::new(); plan.groups]));
    for_groups(&plan, Some(&mut out), g.co * ohow, |gi, images, dst, scratch| {
        let Some(dst) = dst else { return };
        let k = images.len();
        if shifted {
            shifted::forward_group(g, x, &wt, images, dst, scratch, par);
        } else {
            let Scratch { cols, block, .. } = scratch;
            let cols_g = group_cols(g, x, images, cols, pad.as_ref());
            if k == 1 {
                matmul(g.co, ckk, ohow, dst, ohow, View::rows(w, ckk), View::rows(cols_g, ohow), par);
            } else {
                block.resize(g.co * k * ohow, 0.0);
                matmul(g.co, ckk, k * ohow, block, k * ohow, View::rows(w, ckk), View::rows(cols_g, k * ohow), par);
                for (i, image) in dst.chunks_exact_mut(g.co * ohow).enumerate() {
                    for (o, row) in image.chunks_exact_mut(ohow).enumerate() {
                        row.copy_from_slice(&block[o * k * ohow + i * ohow..][..ohow]);
                    }
                }
            }
            if let Some(kept) = &kept {
                // The group's matrix moves out; the worker's next group builds in a fresh one.
                kept.lock().unwrap_or_else(PoisonError::into_inner)[gi] = std::mem::take(cols);
            }
        }
        // An empty `bias` (none) ends the zip at once.
        for image in dst.chunks_exact_mut(g.co * ohow) {
            for (row, &b) in image.chunks_exact_mut(ohow).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    });
    (out, kept.map(|k| KeptCols(k.into_inner().unwrap_or_else(PoisonError::into_inner))))
}

/// Whether the weight gradient of the column-matrix path is summed transposed, `dWᵀ = Σ_g
/// im2col(X[g]) · dY[g]ᵀ` (`[C·kh·kw, Co]`, transposed once at the end): for the shapes of
/// ResNet-18's stem and early stages that product runs 1.3–2× faster than `dY[g] · im2col(X[g])ᵀ`
/// (`kindling-bench gemm`, BENCHMARKS.md), but the final transpose of large weights over few
/// columns (ResNet-18's last stages at 224×224: 512 × 4608 over 392) costs what the product saves;
/// hence only with at least [`DW_T_COLUMNS`] columns (`N·OH·OW`), where the transpose is under a
/// thousandth of the product's work.
fn transposed_dw(g: &Geom) -> bool {
    g.n * g.ohow() >= DW_T_COLUMNS
}

/// See [`transposed_dw`].
const DW_T_COLUMNS: usize = 2048;

/// `(dx, dw, db)` for the parts in `need`; the weight gradient reads the column matrices of
/// `kept` (from [`forward`] on the same input) instead of rebuilding them.
fn backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    need: [bool; 3],
    kept: Option<&KeptCols>,
) -> [Option<Vec<f32>>; 3] {
    let (chw, ohow, ckk, plan) = (g.c * g.h * g.w, g.ohow(), g.ckk(), Plan::new(g));
    // Zeroed: `col2im` adds into it.
    let mut dx = need[0].then(|| zeros(g.n * chw));
    let par = plan.parallel_products();
    let shifted = shifted::applies(g);
    let wt = if shifted { shifted::tap_major(g, w) } else { Vec::new() };
    let dw_t = !shifted && transposed_dw(g);
    let pad = (g.ow < narrow::NARROW).then(|| narrow::Padded::new(g));
    let scratch = for_groups(&plan, dx.as_deref_mut(), chw, |gi, images, dxg, scratch| {
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
            // A kept matrix is empty where the image was its own (a 1×1 convolution's lone image).
            let cols = match kept.map(|k| &k.0[gi]).filter(|c| !c.is_empty()) {
                Some(kept) => kept,
                None => group_cols(g, x, images.clone(), cols, pad.as_ref()),
            };
            if dw_t {
                let dy_t = View { data: dy_g, rs: 1, cs: ld };
                matmul_add(ckk, ld, g.co, dw, g.co, View::rows(cols, ld), dy_t, par);
            } else {
                let cols_t = View { data: cols, rs: 1, cs: ld };
                matmul_add(g.co, ld, ckk, dw, ckk, View::rows(dy_g, ld), cols_t, par);
            }
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
        if shifted {
            shifted::from_tap_major(g, &sum)
        } else if dw_t {
            transpose(&sum, ckk, g.co)
        } else {
            sum
        }
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

/// The forward pass on burn-flex tensors, keeping the column matrices if `keep`.
fn flex_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    spec: [usize; 6],
    keep: bool,
) -> (FlexTensor, Option<KeptCols>) {
    let g = Geom::new(x.layout().shape(), weight.layout().shape(), spec);
    let (out, kept) = forward(&g, &flex_f32(x), &flex_f32(weight), &flex_f32(bias), keep);
    (flex_from_f32(out, [g.n, g.co, g.oh, g.ow]), kept)
}

impl ConvGemmOps for Flex {
    fn conv2d_gemm(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, spec: [usize; 6]) -> FlexTensor {
        flex_forward(&x, &weight, &bias, spec, false).0
    }
}

impl ConvGemmKernels for Flex {
    fn conv2d_gemm_keep(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: [usize; 6],
    ) -> (FlexTensor, Option<Arc<KeptCols>>) {
        let (out, kept) = flex_forward(&x, &weight, &bias, spec, true);
        (out, kept.map(Arc::new))
    }

    fn conv2d_gemm_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        spec: [usize; 6],
        need: [bool; 3],
        kept: Option<Arc<KeptCols>>,
    ) -> [Option<FlexTensor>; 3] {
        let (xs, ws) = (x.layout().shape().to_vec(), weight.layout().shape().to_vec());
        let g = Geom::new(&xs, &ws, spec);
        let [dx, dw, db] = backward(&g, &flex_f32(&x), &flex_f32(&weight), &flex_f32(&grad), need, kept.as_deref());
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
    /// `x`, `weight`, spec, the forward pass's column matrices.
    type State = (FloatTensor<B>, FloatTensor<B>, [usize; 6], Option<Arc<KeptCols>>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, weight, spec, kept) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let need = [0, 1, 2].map(|i| ops.parents[i].is_some());
        let out = B::conv2d_gemm_backward(x, weight, grad, spec, need, kept);
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
        // The column matrices serve the weight gradient only: a frozen layer does not keep them.
        let weight_grad = weight.is_tracked();
        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
        match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, kept) = if weight_grad {
                    B::conv2d_gemm_keep(x.clone(), weight.clone(), bias, spec)
                } else {
                    (B::conv2d_gemm(x.clone(), weight.clone(), bias, spec), None)
                };
                prep.finish((x, weight, spec, kept), out)
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
mod tests;
