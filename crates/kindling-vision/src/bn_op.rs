//! Training-mode BatchNorm as host kernels on burn-flex.
//!
//! burn's default `batch_norm_train` (which burn-flex does not override) builds the batch
//! statistics and their gradient out of tensor operations: channel-first copies (`swap_dims`),
//! reductions and broadcasts, about a dozen passes over the activation per forward and backward.
//! Here the statistics take one pass per channel, the normalisation one, and the backward two
//! (per-channel sums of `dy` and `dy · x̂`, then `dx`), the backward one channel per task so that
//! its second pass reads the channel from cache; parallel over channels or images.
//!
//! [`batch_norm_relu`] folds the ReLU after the normalisation into the same passes and
//! [`batch_norm_add_relu`] the end of a residual block too (`relu(bn(x) + identity)`).
//!
//! [`batch_norm`] uses it where burn's [`BatchNorm::forward`] would take its training path
//! (autodiff device, layer not frozen) on burn-flex in f32, updates the running statistics the
//! way burn does, and calls `BatchNorm::forward` everywhere else.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::tensor::activation::relu;
use burn::tensor::{DType, Device, Tensor};
use kindling_core::cpu::{flex_f32, flex_from_f32, par_channels, par_filled, vectorize};
use rayon::prelude::*;

mod small;

/// Batch statistics and batch normalisation as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormOps: Backend {
    /// Mean and biased variance per channel of `x` `[N, C, ...]`: `[2, C]`. Not differentiable
    /// (pass a detached `x`); [`bn_normalize`](Self::bn_normalize)'s gradient accounts for them.
    fn bn_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `γ (x − mean) / √(var + ε) + β` with `stats` from [`bn_stats`](Self::bn_stats) of this `x`,
    /// plus `residual` (shaped as `x`, or `[0]`: none), then ReLU if `relu`; differentiable in `x`
    /// (through the batch statistics too), `gamma`, `beta` and `residual`.
    fn bn_normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// Host kernel behind the backward pass of [`BatchNormOps::bn_normalize`] (burn-flex).
pub trait BatchNormKernels: Backend {
    /// Gradients of `x`, `gamma`, `beta` and `residual` (`None` when there is none; `beta` and
    /// `residual` are needed to recompute the ReLU mask).
    #[allow(clippy::too_many_arguments)]
    fn bn_normalize_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
        grad: FloatTensor<Self>,
    ) -> [Option<FloatTensor<Self>>; 4];
}

/// `(images, channels, positions per image)` of an `[N, C, ...]` shape.
fn dims(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// `(Σ f(x, y).0, Σ f(x, y).1)` over two equally long slices, in 16 lanes so that it vectorizes.
#[inline(always)]
fn reduce2(xs: &[f32], ys: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f32, f32) {
    let (mut a, mut b) = ([0.0f32; 16], [0.0f32; 16]);
    let (xc, yc) = (xs.chunks_exact(16), ys.chunks_exact(16));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        for l in 0..16 {
            let (p, q) = f(x[l], y[l]);
            a[l] += p;
            b[l] += q;
        }
    }
    let (mut s, mut t) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
    for (&x, &y) in xr.iter().zip(yr) {
        let (p, q) = f(x, y);
        s += p;
        t += q;
    }
    (s, t)
}

/// One channel's sums over every image of `plane(image)` (each plane reduced in f32, the planes
/// summed in f64).
fn image_sums(n: usize, plane: impl Fn(usize) -> (f32, f32)) -> (f64, f64) {
    (0..n).fold((0.0f64, 0.0f64), |(a, b), img| {
        let (p, q) = plane(img);
        (a + f64::from(p), b + f64::from(q))
    })
}

/// [`image_sums`] of every channel (`plane(image, channel)`), parallel over channels.
fn channel_sums(n: usize, c: usize, plane: impl Fn(usize, usize) -> (f32, f32) + Sync) -> Vec<(f64, f64)> {
    (0..c).into_par_iter().map(|ch| image_sums(n, |img| plane(img, ch))).collect()
}

/// `[mean…, var…]` per channel (biased variance, two passes).
fn stats(x: &[f32], shape: &[usize]) -> Vec<f32> {
    if dims(shape).2 < small::SMALL { small::stats(x, shape) } else { stats_planes(x, shape) }
}

/// [`stats`] one channel at a time.
fn stats_planes(x: &[f32], shape: &[usize]) -> Vec<f32> {
    let (n, c, hw) = dims(shape);
    let count = (n * hw).max(1) as f64;
    let at = |img: usize, ch: usize| &x[(img * c + ch) * hw..(img * c + ch + 1) * hw];
    let sums = channel_sums(n, c, |img, ch| {
        let xs = at(img, ch);
        vectorize(
            #[inline(always)]
            || reduce2(xs, xs, |v, _| (v, 0.0)),
        )
    });
    let means: Vec<f64> = sums.iter().map(|s| s.0 / count).collect();
    let vars = channel_sums(n, c, |img, ch| {
        let (xs, m) = (at(img, ch), means[ch] as f32);
        vectorize(
            #[inline(always)]
            || reduce2(xs, xs, |v, _| ((v - m) * (v - m), 0.0)),
        )
    });
    means.iter().map(|&m| m as f32).chain(vars.iter().map(|s| (s.0 / count) as f32)).collect()
}

/// Per-channel `1 / √(var + ε)`.
fn inv_std(stats: &[f32], c: usize, epsilon: f64) -> Vec<f32> {
    stats[c..2 * c].iter().map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32).collect()
}

/// Per-channel affine map `x ↦ a·x + b` of the normalisation.
fn affine(gamma: &[f32], beta: &[f32], stats: &[f32], rstd: &[f32], ch: usize) -> (f32, f32) {
    let a = gamma[ch] * rstd[ch];
    (a, beta[ch] - stats[ch] * a)
}

/// The inputs of one normalisation (forward or backward), on the host.
#[derive(Clone, Copy)]
struct Norm<'a> {
    x: &'a [f32],
    shape: &'a [usize],
    gamma: &'a [f32],
    beta: &'a [f32],
    stats: &'a [f32],
    /// Added before the ReLU; empty: none.
    residual: &'a [f32],
    epsilon: f64,
    relu: bool,
}

/// `γ (x − mean) / σ + β` (plus the residual, then the ReLU if asked).
fn normalize(norm: Norm<'_>) -> Vec<f32> {
    if dims(norm.shape).2 < small::SMALL { small::normalize(norm) } else { normalize_planes(norm) }
}

/// [`normalize`] plane by plane.
fn normalize_planes(norm: Norm<'_>) -> Vec<f32> {
    let Norm { x, shape, gamma, beta, stats, residual, epsilon, relu } = norm;
    let (_, c, hw) = dims(shape);
    let rstd = inv_std(stats, c, epsilon);
    // Every value written once: no zero-filled buffer first.
    par_filled(x.len(), hw.max(1), |i, yp| {
        let (a, b) = affine(gamma, beta, stats, &rstd, i % c);
        let xp = &x[i * hw..(i + 1) * hw];
        // `z < 0` rather than `max`: a NaN stays NaN (divergence must stay visible), as in burn's ReLU.
        let out = |z: f32| if relu && z < 0.0 { 0.0 } else { z };
        vectorize(
            #[inline(always)]
            || match residual.get(i * hw..(i + 1) * hw) {
                Some(rp) if !residual.is_empty() => {
                    yp.extend(xp.iter().zip(rp).map(|(&v, &r)| out(v.mul_add(a, b) + r)))
                }
                _ => yp.extend(xp.iter().map(|&v| out(v.mul_add(a, b)))),
            },
        );
    })
}

/// `(dx, dgamma, dbeta, dresidual)`: `dβ = Σ g`, `dγ = Σ g·x̂`, `dx = γ/σ · (g − dβ/M − x̂·dγ/M)`
/// and `dresidual = g` (empty without a residual), where `g` is `dy` masked where the ReLU (if
/// any) cut the output. One channel at a time (parallel over channels): its sums, then its
/// gradients while its planes are still in cache (small planes: [`small::normalize_backward`]).
fn normalize_backward(norm: Norm<'_>, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    if dims(norm.shape).2 < small::SMALL { small::normalize_backward(norm, dy) } else { backward_planes(norm, dy) }
}

/// [`normalize_backward`] one channel at a time.
fn backward_planes(norm: Norm<'_>, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let Norm { x, shape, gamma, beta, stats, residual, epsilon, relu } = norm;
    let (n, c, hw) = dims(shape);
    let rstd = inv_std(stats, c, epsilon);
    let count = (n * hw).max(1) as f32;
    let at = |img: usize, ch: usize| (img * c + ch) * hw..(img * c + ch + 1) * hw;
    let with_residual = !residual.is_empty();
    let (mut outs, sums) = par_channels(n, c, hw, 1 + usize::from(with_residual), |ch, planes| {
        let (a, b) = affine(gamma, beta, stats, &rstd, ch);
        // The ReLU passes the gradient where its output is positive (burn's and PyTorch's rule);
        // `g` holds the channel's masked planes one after another.
        let mut g = Vec::new();
        if relu {
            g.reserve(n * hw);
            for img in 0..n {
                let r = at(img, ch);
                let (xs, ds) = (&x[r.clone()], &dy[r.clone()]);
                let keep = |z: f32, d: f32| if z > 0.0 { d } else { 0.0 };
                vectorize(
                    #[inline(always)]
                    || match residual.get(r) {
                        Some(rs) if with_residual => {
                            g.extend(xs.iter().zip(rs).zip(ds).map(|((&v, &q), &d)| keep(v.mul_add(a, b) + q, d)))
                        }
                        _ => g.extend(xs.iter().zip(ds).map(|(&v, &d)| keep(v.mul_add(a, b), d))),
                    },
                );
            }
        }
        let gs = |img: usize| if relu { &g[img * hw..(img + 1) * hw] } else { &dy[at(img, ch)] };
        let m = stats[ch];
        let (sum_g, sum_gx) = image_sums(n, |img| {
            let (xs, ds) = (&x[at(img, ch)], gs(img));
            vectorize(
                #[inline(always)]
                || reduce2(xs, ds, |v, d| (d, (v - m) * d)),
            )
        });
        let (dbeta, dgamma) = (sum_g as f32, sum_gx as f32 * rstd[ch]);
        let (scale, rs) = (gamma[ch] * rstd[ch], rstd[ch]);
        let (mean_dy, mean_dyx) = (dbeta / count, dgamma / count);
        for img in 0..n {
            let (xs, ds) = (&x[at(img, ch)], gs(img));
            let dx = &mut planes[0][img];
            vectorize(
                #[inline(always)]
                || dx.extend(xs.iter().zip(ds).map(|(&v, &d)| scale * (d - mean_dy - (v - m) * rs * mean_dyx))),
            );
            if with_residual {
                planes[1][img].extend(ds.iter().copied());
            }
        }
        (dgamma, dbeta)
    });
    let dresidual = if with_residual { outs.pop().unwrap_or_default() } else { Vec::new() };
    let dx = outs.pop().unwrap_or_default();
    let (dgamma, dbeta) = sums.into_iter().unzip();
    (dx, dgamma, dbeta, dresidual)
}

/// The host views of a normalisation's tensors: `x`, `gamma`, `beta`, statistics, residual.
struct Host<'t> {
    shape: Vec<usize>,
    views: [std::borrow::Cow<'t, [f32]>; 5],
}

impl<'t> Host<'t> {
    fn new(tensors: [&'t FlexTensor; 5]) -> Self {
        Self { shape: tensors[0].layout().shape().to_vec(), views: tensors.map(flex_f32) }
    }

    fn norm(&self, epsilon: f64, relu: bool) -> Norm<'_> {
        let [x, gamma, beta, stats, residual] = &self.views;
        Norm { x, shape: &self.shape, gamma, beta, stats, residual, epsilon, relu }
    }
}

impl BatchNormOps for Flex {
    fn bn_stats(x: FlexTensor) -> FlexTensor {
        let shape = x.layout().shape().to_vec();
        flex_from_f32(stats(&flex_f32(&x), &shape), vec![2, shape[1]])
    }

    fn bn_normalize(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let host = Host::new([&x, &gamma, &beta, &stats, &residual]);
        flex_from_f32(normalize(host.norm(epsilon, relu)), host.shape.clone())
    }
}

impl BatchNormKernels for Flex {
    fn bn_normalize_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        stats: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
        relu: bool,
        grad: FlexTensor,
    ) -> [Option<FlexTensor>; 4] {
        let host = Host::new([&x, &gamma, &beta, &stats, &residual]);
        let (shape, c) = (host.shape.clone(), host.shape[1]);
        let (dx, dg, db, dr) = normalize_backward(host.norm(epsilon, relu), &flex_f32(&grad));
        let dr = (!host.views[4].is_empty()).then(|| flex_from_f32(dr, shape.clone()));
        [Some(flex_from_f32(dx, shape)), Some(flex_from_f32(dg, vec![c])), Some(flex_from_f32(db, vec![c])), dr]
    }
}

#[derive(Debug)]
struct NormalizeBackward;

impl<B: Backend + BatchNormKernels> Backward<B, 4> for NormalizeBackward {
    /// `x`, `gamma`, `beta`, statistics, residual, epsilon, ReLU.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, f64, bool);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, gamma, beta, stats, residual, epsilon, relu) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let out = B::bn_normalize_backward(x, gamma, beta, stats, residual, epsilon, relu, grad);
        for (parent, g) in ops.parents.into_iter().zip(out) {
            if let (Some(node), Some(g)) = (parent, g) {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

#[derive(Debug)]
struct NoGradient;

impl<B: Backend> Backward<B, 1> for NoGradient {
    type State = ();

    /// The statistics are computed from a detached input: nothing flows back.
    fn backward(self, _ops: Ops<Self::State, 1>, _grads: &mut Gradients, _checkpointer: &mut Checkpointer) {}
}

impl<B: Backend + BatchNormOps + BatchNormKernels, C: CheckpointStrategy> BatchNormOps for Autodiff<B, C> {
    fn bn_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let x = x.into_primitive();
        match NoGradient.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), B::bn_stats(x)),
            OpsKind::UnTracked(prep) => prep.finish(B::bn_stats(x)),
        }
    }

    fn bn_normalize(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        // The statistics are not a parent: their dependence on `x` is in the backward formula.
        let nodes = [x.node(), gamma.node(), beta.node(), residual.node()];
        let (x, gamma, beta, stats) =
            (x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), stats.into_primitive());
        let residual = residual.into_primitive();
        match NormalizeBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (s, r) = (stats.clone(), residual.clone());
                let y = B::bn_normalize(x.clone(), gamma.clone(), beta.clone(), s, r, epsilon, relu);
                prep.finish((x, gamma, beta, stats, residual, epsilon, relu), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::bn_normalize(x, gamma, beta, stats, residual, epsilon, relu)),
        }
    }
}

/// `bn.forward(x)`: on burn-flex in f32, the training path (autodiff device, layer not frozen)
/// runs through Kindling's BatchNorm kernels and updates the running statistics as burn does
/// (`running ← (1 − momentum) · running + momentum · batch`, biased batch variance); anything
/// else is `BatchNorm::forward`.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex().autodiff();
/// let bn = BatchNormConfig::new(4).init(&device);
/// let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(2.0, 3.0), &device);
/// let y = kindling_vision::batch_norm(&bn, x);
/// let mean = y.clone().mean().into_scalar::<f32>();
/// assert!(mean.abs() < 1e-4, "normalised: mean {mean}");
/// ```
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalize_with(bn, &x, None, false).unwrap_or_else(|| bn.forward(x))
}

/// `relu(bn.forward(x))`, the ReLU fused into the BatchNorm kernels where [`batch_norm`] uses them.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex().autodiff();
/// let bn = BatchNormConfig::new(4).init(&device);
/// let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
/// let y = kindling_vision::batch_norm_relu(&bn, x);
/// assert!(y.min().into_scalar::<f32>() >= 0.0);
/// ```
pub fn batch_norm_relu(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    normalize_with(bn, &x, None, true).unwrap_or_else(|| relu(bn.forward(x)))
}

/// `relu(bn.forward(x) + residual)`, the end of a residual block: the addition and the ReLU fused
/// into the BatchNorm kernels where [`batch_norm`] uses them.
///
/// ```
/// use burn::nn::BatchNormConfig;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex().autodiff();
/// let bn = BatchNormConfig::new(4).init(&device);
/// let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
/// let identity = Tensor::<4>::random([3, 4, 5, 5], Distribution::Normal(0.0, 1.0), &device);
/// let y = kindling_vision::batch_norm_add_relu(&bn, x, identity);
/// assert!(y.min().into_scalar::<f32>() >= 0.0);
/// ```
pub fn batch_norm_add_relu(bn: &BatchNorm, x: Tensor<4>, residual: Tensor<4>) -> Tensor<4> {
    normalize_with(bn, &x, Some(&residual), true).unwrap_or_else(|| relu(bn.forward(x) + residual))
}

/// The kernel path, or `None` where burn's module applies.
fn normalize_with(bn: &BatchNorm, x: &Tensor<4>, residual: Option<&Tensor<4>>, relu: bool) -> Option<Tensor<4>> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    let residual_fits = residual.is_none_or(|r| r.dims() == x.dims() && r.dtype() == DType::F32);
    if !training || device != Device::flex() || x.dtype() != DType::F32 || !residual_fits {
        return None;
    }
    let channels = x.dims()[1];
    let stats = Tensor::<2>::from_dispatch(Dispatch::bn_stats(x.clone().detach().into_dispatch()));
    let batch = |row: usize| stats.clone().narrow(0, row, 1).reshape([channels]);
    let update = |running: Tensor<1>, batch: Tensor<1>| {
        running.to_device(&device).mul_scalar(1.0 - bn.momentum).add(batch.mul_scalar(bn.momentum)).detach()
    };
    bn.running_mean.update(update(bn.running_mean.value_sync(), batch(0)));
    bn.running_var.update(update(bn.running_var.value_sync(), batch(1)));
    Some(Tensor::<4>::from_dispatch(Dispatch::bn_normalize(
        x.clone().into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        stats.into_dispatch(),
        residual.map_or_else(|| Tensor::<1>::zeros([0], &device).into_dispatch(), |r| r.clone().into_dispatch()),
        bn.epsilon,
        relu,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(seed * 40503) % 1000) as f32 / 250.0 - 1.0)
            .collect()
    }

    /// Per-channel mean and variance against an f64 reference, with a mean 10⁴ times the standard
    /// deviation (a one-pass `E[x²] − E[x]²` in f32 would lose the variance entirely: a guard for
    /// any faster statistics pass).
    #[test]
    fn stats_keep_small_variances_of_large_means() {
        let shape = [3, 2, 5, 7];
        let len: usize = shape.iter().product();
        let x: Vec<f32> = val(len, 7)
            .iter()
            .enumerate()
            .map(|(k, &v)| if (k / 35) % 2 == 0 { 1000.0 + 0.1 * v } else { v })
            .collect();
        let got = stats(&x, &shape);
        for ch in 0..2 {
            let vals: Vec<f64> =
                (0..3).flat_map(|img| x[(img * 2 + ch) * 35..][..35].iter().map(|&v| f64::from(v))).collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / vals.len() as f64;
            assert!((f64::from(got[ch]) - mean).abs() < 1e-4 * mean.abs().max(1.0), "channel {ch} mean");
            assert!((f64::from(got[2 + ch]) - var).abs() < 1e-3 * var, "channel {ch} var {} vs {var}", got[2 + ch]);
        }
    }

    /// The small-map kernels (image by image) and the per-channel ones give the same statistics,
    /// outputs and gradients, on planes of 1 to 300 positions, with and without ReLU and residual.
    #[test]
    fn small_map_kernels_match_per_channel_ones() {
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len(), "{what}");
            let d = a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0f32, f32::max);
            assert!(d < 2e-5, "{what}: off by {d}");
        };
        for shape in [[5, 3, 1, 1], [4, 6, 2, 2], [3, 2, 5, 7], [2, 3, 8, 8], [2, 2, 15, 20]] {
            let len: usize = shape.iter().product();
            let (x, gamma, beta, dy, res) = (val(len, 1), val(shape[1], 2), val(shape[1], 3), val(len, 4), val(len, 5));
            let st = small::stats(&x, &shape);
            close(&st, &stats_planes(&x, &shape), &format!("{shape:?} stats"));
            for (relu, residual) in [(false, &[][..]), (true, &[][..]), (true, &res[..])] {
                let norm = Norm {
                    x: &x,
                    shape: &shape,
                    gamma: &gamma,
                    beta: &beta,
                    stats: &st,
                    residual,
                    epsilon: 1e-5,
                    relu,
                };
                close(&small::normalize(norm), &normalize_planes(norm), &format!("{shape:?} {relu} normalize"));
                let (a, b) = (small::normalize_backward(norm, &dy), backward_planes(norm, &dy));
                for (k, (a, b)) in [(a.0, b.0), (a.1, b.1), (a.2, b.2), (a.3, b.3)].iter().enumerate() {
                    close(a, b, &format!("{shape:?} relu {relu} residual {}: gradient {k}", !residual.is_empty()));
                }
            }
        }
    }

    /// The gradient of `sum(normalize(x) · r)` against finite differences, with the statistics
    /// recomputed from the perturbed `x` (as the training path does), with and without the ReLU
    /// and a residual added before it.
    #[test]
    fn gradients_match_finite_differences() {
        let shape = [3, 2, 2, 3];
        let len: usize = shape.iter().product();
        let (x, gamma, beta, r, res) = (val(len, 1), val(2, 2), val(2, 3), val(len, 4), val(len, 5));
        let eps = 1e-5;
        for (relu, with_residual) in [(false, false), (true, false), (true, true), (false, true)] {
            let loss = |args: &[Vec<f32>; 4]| -> f64 {
                let [x, gamma, beta, res] = args;
                let stats = stats(x, &shape);
                let residual = if with_residual { res.as_slice() } else { &[] };
                let norm = Norm { x, shape: &shape, gamma, beta, stats: &stats, residual, epsilon: eps, relu };
                normalize(norm).iter().zip(&r).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
            };
            let st = stats(&x, &shape);
            let residual = if with_residual { res.as_slice() } else { &[] };
            let norm =
                Norm { x: &x, shape: &shape, gamma: &gamma, beta: &beta, stats: &st, residual, epsilon: eps, relu };
            let (dx, dg, db, dr) = normalize_backward(norm, &r);
            assert_eq!(dr.len(), if with_residual { len } else { 0 });
            for (which, grad) in [&dx, &dg, &db, &dr].into_iter().enumerate() {
                for k in 0..grad.len() {
                    let mut args = [x.clone(), gamma.clone(), beta.clone(), res.clone()];
                    args[which][k] += 1e-3;
                    let up = loss(&args);
                    args[which][k] -= 2e-3;
                    let down = loss(&args);
                    let numeric = (up - down) / 2e-3;
                    let g = f64::from(grad[k]);
                    assert!(
                        (numeric - g).abs() < 5e-3,
                        "relu {relu}, residual {with_residual}, input {which}[{k}]: {numeric} vs {g}"
                    );
                }
            }
        }
    }
}
