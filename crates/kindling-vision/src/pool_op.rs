//! Max pooling as a host kernel on burn-flex, differentiable.
//!
//! burn-flex pools with indices (its training path) one scalar window at a time, three integer
//! divisions per output for the window bounds and `i64` indices, and scatters the gradient the
//! same way: ≈ 5% of a ResNet-18 fine-tuning step at 224×224 (`perf`). Here each output row
//! reads its clipped window rows directly, the argmax is kept as a `u32` offset in its plane, and
//! the backward pass adds each output gradient at that offset, parallel over planes.
//!
//! [`max_pool2d`] uses it on burn-flex in f32 (dilation 1, floor mode, the configurations of
//! torchvision's VGG and ResNet) and calls `MaxPool2d::forward` everywhere else.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::{DType, Device, Tensor};
use kindling_core::cpu::{flex_f32, flex_from_f32, zeros};
use rayon::prelude::*;

/// Max pooling as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait MaxPoolOps: Backend {
    /// Max pooling of `x` `[N, C, H, W]`; `spec` is `[kh, kw, sh, sw, top, bottom, left, right]`
    /// (kernel, stride, padding). Differentiable in `x`.
    fn max_pool(x: FloatTensor<Self>, spec: [usize; 8]) -> FloatTensor<Self>;
}

/// Where the maxima of one pooling came from: per output, the offset of its maximum in its
/// input plane, and the input shape `[N, C, H, W]`.
#[derive(Debug, Clone)]
pub struct Argmax {
    offsets: Vec<u32>,
    input: [usize; 4],
}

/// Host kernels behind [`MaxPoolOps`] (burn-flex).
pub trait MaxPoolKernels: Backend {
    /// The pooled output and where its maxima came from.
    fn max_pool_forward(x: FloatTensor<Self>, spec: [usize; 8]) -> (FloatTensor<Self>, Argmax);

    /// The input gradient from the output gradient.
    fn max_pool_backward(grad: FloatTensor<Self>, argmax: &Argmax) -> FloatTensor<Self>;
}

/// Output height and width for an `h × w` input.
fn out_size(spec: [usize; 8], h: usize, w: usize) -> (usize, usize) {
    let [kh, kw, sh, sw, top, bottom, left, right] = spec;
    ((h + top + bottom - kh) / sh + 1, (w + left + right - kw) / sw + 1)
}

/// The input range `[lo, hi)` of window `o` along an axis of `size` (clipped to the input).
fn window(o: usize, k: usize, s: usize, pad: usize, size: usize) -> (usize, usize) {
    let start = o * s;
    (start.saturating_sub(pad).min(size), (start + k).saturating_sub(pad).min(size))
}

/// Pools every `[H, W]` plane of `x`: the maxima and their offsets in the plane. NaN wins and
/// ties keep the first maximum, as in burn and PyTorch.
fn forward(x: &[f32], shape: [usize; 4], spec: [usize; 8]) -> (Vec<f32>, Vec<u32>) {
    let [n, c, h, w] = shape;
    let [kh, kw, sh, sw, top, _, left, _] = spec;
    let (oh, ow) = out_size(spec, h, w);
    let cols: Vec<(usize, usize)> = (0..ow).map(|ox| window(ox, kw, sw, left, w)).collect();
    let mut out = zeros(n * c * oh * ow);
    let mut argmax = vec![0u32; n * c * oh * ow];
    let planes = out.par_chunks_mut(oh * ow).zip(argmax.par_chunks_mut(oh * ow)).zip(x.par_chunks(h * w));
    planes.for_each(|((out, argmax), plane)| {
        for oy in 0..oh {
            let (y0, y1) = window(oy, kh, sh, top, h);
            let row_out = &mut out[oy * ow..(oy + 1) * ow];
            let row_arg = &mut argmax[oy * ow..(oy + 1) * ow];
            for ((v, a), &(x0, x1)) in row_out.iter_mut().zip(row_arg.iter_mut()).zip(&cols) {
                let (mut best, mut at, mut first) = (f32::NEG_INFINITY, y0 * w + x0, true);
                for iy in y0..y1 {
                    for (ix, &val) in plane[iy * w + x0..iy * w + x1].iter().enumerate() {
                        if first || val > best || val.is_nan() {
                            (best, at, first) = (val, iy * w + x0 + ix, false);
                        }
                    }
                }
                *v = best;
                *a = at as u32;
            }
        }
    });
    (out, argmax)
}

/// The input gradient: each output gradient added at its argmax.
fn backward(grad: &[f32], argmax: &[u32], shape: [usize; 4]) -> Vec<f32> {
    let [n, c, h, w] = shape;
    let per_plane = (grad.len() / (n * c).max(1)).max(1);
    let mut dx = zeros(n * c * h * w);
    let planes = dx.par_chunks_mut(h * w).zip(grad.par_chunks(per_plane)).zip(argmax.par_chunks(per_plane));
    planes.for_each(|((dx, grad), argmax)| {
        for (&g, &at) in grad.iter().zip(argmax) {
            dx[at as usize] += g;
        }
    });
    dx
}

/// The shape of a 4-D burn-flex tensor (also used by the convolution's tap crop).
pub(crate) fn shape4(t: &FlexTensor) -> [usize; 4] {
    let s = t.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

impl MaxPoolOps for Flex {
    fn max_pool(x: FlexTensor, spec: [usize; 8]) -> FlexTensor {
        Self::max_pool_forward(x, spec).0
    }
}

impl MaxPoolKernels for Flex {
    fn max_pool_forward(x: FlexTensor, spec: [usize; 8]) -> (FlexTensor, Argmax) {
        let shape = shape4(&x);
        let (out, offsets) = forward(&flex_f32(&x), shape, spec);
        let (oh, ow) = out_size(spec, shape[2], shape[3]);
        (flex_from_f32(out, [shape[0], shape[1], oh, ow]), Argmax { offsets, input: shape })
    }

    fn max_pool_backward(grad: FlexTensor, argmax: &Argmax) -> FlexTensor {
        flex_from_f32(backward(&flex_f32(&grad), &argmax.offsets, argmax.input), argmax.input)
    }
}

#[derive(Debug)]
struct PoolBackward;

impl<B: Backend + MaxPoolKernels> Backward<B, 1> for PoolBackward {
    type State = Argmax;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = ops.parents.into_iter().next().flatten() {
            grads.register::<B>(node.id, B::max_pool_backward(grad, &ops.state));
        }
    }
}

impl<B: Backend + MaxPoolOps + MaxPoolKernels, C: CheckpointStrategy> MaxPoolOps for Autodiff<B, C> {
    fn max_pool(x: FloatTensor<Self>, spec: [usize; 8]) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let x = x.into_primitive();
        match PoolBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, argmax) = B::max_pool_forward(x, spec);
                prep.finish(argmax, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool(x, spec)),
        }
    }
}

/// `pool.forward(x)`: on burn-flex in f32 (training or not) through Kindling's kernel when the
/// pool has dilation 1, floor mode and valid or explicit padding smaller than its kernel;
/// anything else is `MaxPool2d::forward`.
///
/// ```
/// use burn::nn::pool::MaxPool2dConfig;
/// use burn::nn::PaddingConfig2d;
/// use burn::tensor::{Device, Distribution, Tensor};
///
/// let device = Device::flex().autodiff();
/// let pool = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init();
/// let x = Tensor::<4>::random([2, 3, 9, 8], Distribution::Normal(0.0, 1.0), &device);
/// let y = kindling_vision::max_pool2d(&pool, x.clone());
/// assert_eq!(y.dims(), [2, 3, 5, 4]);
/// assert_eq!((y - pool.forward(x)).abs().max().into_scalar::<f32>(), 0.0);
/// ```
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let [kh, kw] = pool.kernel_size;
    // `Same` padding stays with burn (its split for even kernels is burn's to define).
    let ((top, bottom), (left, right)) = match pool.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        PaddingConfig2d::Same => return pool.forward(x),
    };
    let applies = x.device() == Device::flex()
        && x.dtype() == DType::F32
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && top.max(bottom) < kh
        && left.max(right) < kw
        && h + top + bottom >= kh
        && w + left + right >= kw
        && pool.stride.iter().all(|&s| s > 0);
    if !applies {
        return pool.forward(x);
    }
    let spec = [kh, kw, pool.stride[0], pool.stride[1], top, bottom, left, right];
    Tensor::<4>::from_dispatch(Dispatch::max_pool(x.into_dispatch(), spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::Distribution;

    /// Outputs equal to burn's pooling and input gradients equal to burn's backward pass, on
    /// ResNet's and VGG's pools and odd shapes (values drawn with ties: rounded to 0.5).
    #[test]
    fn matches_burn_outputs_and_gradients() {
        let device = Device::flex().autodiff();
        let cases = [
            ([3, 3], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1), [2, 3, 12, 11]),
            ([2, 2], [2, 2], PaddingConfig2d::Valid, [2, 2, 8, 9]),
            ([3, 2], [1, 2], PaddingConfig2d::Explicit(1, 0, 1, 0), [1, 2, 5, 7]),
        ];
        for (kernel, strides, padding, shape) in cases {
            let pool = MaxPool2dConfig::new(kernel).with_strides(strides).with_padding(padding).init();
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 2.0), &device)
                .mul_scalar(2.0)
                .round()
                .div_scalar(2.0);
            let ours_x = x.clone().detach().require_grad();
            let burn_x = x.detach().require_grad();
            let ours = max_pool2d(&pool, ours_x.clone());
            let reference = pool.forward(burn_x.clone());
            assert_eq!(ours.dims(), reference.dims());
            let r = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let diff = (ours.clone() - reference.clone()).abs().max().into_scalar::<f32>();
            assert_eq!(diff, 0.0, "{kernel:?} {strides:?}: outputs differ");
            let (g_ours, g_burn) = ((ours * r.clone()).sum().backward(), (reference * r).sum().backward());
            let (a, b) = (ours_x.grad(&g_ours).expect("gradient"), burn_x.grad(&g_burn).expect("gradient"));
            let diff = (a - b).abs().max().into_scalar::<f32>();
            assert!(diff <= 1e-6, "{kernel:?} {strides:?}: gradients differ by {diff}");
        }
    }
}
