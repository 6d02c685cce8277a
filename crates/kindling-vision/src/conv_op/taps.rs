//! Which part of a convolution the op computes: strides, padding, and the kernel taps that read
//! the image. A 3×3 kernel on a 1×1 map only ever reads the image with its centre (ResNet's last
//! stage on 32×32 images), so the weight is cropped to its live taps by a differentiable op whose
//! gradient puts the taps' gradient back in place (burn's `slice` did the same with a zeroed
//! allocation, a realigning copy and a strided assignment: ≈ 7% of a ResNet-18 training step on
//! 32×32 images, BENCHMARKS.md).

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use kindling_core::cpu::{flex_f32, flex_from_f32, par_filled};

use crate::pool_op::shape4;
use rayon::prelude::*;

/// Cropping a weight `[Co, C, KH, KW]` to kernel taps `rows × cols`, as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait CropTapsOps: Backend {
    /// `weight[:, :, r0..r1, c0..c1]` for `taps` `[KH, KW, r0, r1, c0, c1]` (the kernel size, then
    /// the taps kept). Differentiable in `weight`.
    fn crop_taps(weight: FloatTensor<Self>, taps: [usize; 6]) -> FloatTensor<Self>;
}

/// Host kernel of the gradient of [`CropTapsOps`] (burn-flex).
pub trait CropTapsKernels: Backend {
    /// `grad` `[Co, C, kh, kw]` in place in a zero `[Co, C, KH, KW]`.
    fn uncrop_taps(grad: FloatTensor<Self>, taps: [usize; 6]) -> FloatTensor<Self>;
}

/// burn's `Same` padding (TensorFlow's): the total split with the smaller half first.
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = if out > 0 { ((out - 1) * stride + kernel).saturating_sub(size) } else { 0 };
    (total / 2, total - total / 2)
}

/// The op's spec (`[stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right]`) for `conv`
/// on an input of `height × width`, for the kernel cropped to its live taps `[r0, r1, c0, c1]`;
/// `None` where the op does not cover the convolution.
pub(super) fn spec(conv: &Conv2d, height: usize, width: usize) -> Option<([usize; 6], [usize; 4])> {
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return None;
    }
    let [kh, kw] = conv.kernel_size;
    let [sh, sw] = conv.stride;
    let ((pt, pb), (pl, pr)) = match conv.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (same_padding(kh, sh, height), same_padding(kw, sw, width)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
    };
    if height + pt + pb < kh || width + pl + pr < kw {
        return None;
    }
    let (rows, [pt, pb]) = live_taps(height, kh, sh, pt, pb);
    let (cols, [pl, pr]) = live_taps(width, kw, sw, pl, pr);
    Some(([sh, sw, pt, pb, pl, pr], [rows.start, rows.end, cols.start, cols.end]))
}

/// Along one axis (input `size`, kernel `k`, stride `s`, padding `before`/`after`): the kernel taps
/// that read inside the input for some output position, and the padding that keeps the output
/// size when the kernel is cropped to them.
fn live_taps(size: usize, k: usize, s: usize, before: usize, after: usize) -> (Range<usize>, [usize; 2]) {
    let out = (size + before + after - k) / s + 1;
    let lo = before.saturating_sub((out - 1) * s);
    let hi = (before + size).min(k);
    // Cropped at the end, the last output position reads the last input position exactly.
    let after = if hi < k { (out - 1) * s } else { after };
    (lo..hi, [before - lo, after])
}

/// `weight` cropped to `taps` (itself when they are all of its taps).
pub(super) fn cropped(weight: Tensor<4>, taps: &[usize; 4]) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    if *taps == [0, kh, 0, kw] {
        return weight;
    }
    let [r0, r1, c0, c1] = *taps;
    Tensor::<4>::from_dispatch(Dispatch::crop_taps(weight.into_dispatch(), [kh, kw, r0, r1, c0, c1]))
}

/// `w` `[Co, C, KH, KW]` (`full`) cropped to `[r0, r1, c0, c1]`.
fn crop(w: &[f32], full: [usize; 4], [r0, r1, c0, c1]: [usize; 4]) -> Vec<f32> {
    let ([_, c, fh, fw], kh, kw) = (full, r1 - r0, c1 - c0);
    let mut out = vec![0.0f32; w.len() / (fh * fw) * kh * kw];
    // The whole weight is read (the taps interleave in memory): by output channel, in parallel;
    // element-wise, as the rows kept are a tap or two, too short for a copy call each.
    out.par_chunks_mut(c * kh * kw).zip(w.par_chunks(c * fh * fw)).for_each(|(dst, src)| {
        for (d, kernel) in dst.chunks_exact_mut(kh * kw).zip(src.chunks_exact(fh * fw)) {
            for (d, r) in d.chunks_exact_mut(kw).zip(r0..r1) {
                d.iter_mut().zip(&kernel[r * fw + c0..r * fw + c1]).for_each(|(d, &v)| *d = v);
            }
        }
    });
    out
}

/// The adjoint of [`crop`]: `g` `[Co, C, kh, kw]` in place in a zero `[Co, C, KH, KW]`.
fn uncrop(g: &[f32], full: [usize; 4], [r0, r1, c0, c1]: [usize; 4]) -> Vec<f32> {
    let ([co, c, fh, fw], kh, kw) = (full, r1 - r0, c1 - c0);
    // The full kernel's index of each cropped tap.
    let to: Vec<usize> = (r0..r1).flat_map(|r| (c0..c1).map(move |col| r * fw + col)).collect();
    // Written once, kernel by kernel (no zero-filled buffer written a second time).
    par_filled(co * c * fh * fw, c * fh * fw, |o, out| {
        let mut kernel = vec![0.0f32; fh * fw];
        for s in g[o * c * kh * kw..(o + 1) * c * kh * kw].chunks_exact(kh * kw) {
            to.iter().zip(s).for_each(|(&t, &v)| kernel[t] = v);
            out.extend(kernel.iter().copied());
        }
    })
}

impl CropTapsOps for Flex {
    fn crop_taps(weight: FlexTensor, [_, _, r0, r1, c0, c1]: [usize; 6]) -> FlexTensor {
        let full = shape4(&weight);
        flex_from_f32(crop(&flex_f32(&weight), full, [r0, r1, c0, c1]), [full[0], full[1], r1 - r0, c1 - c0])
    }
}

impl CropTapsKernels for Flex {
    fn uncrop_taps(grad: FlexTensor, [kh, kw, r0, r1, c0, c1]: [usize; 6]) -> FlexTensor {
        let [co, c, _, _] = shape4(&grad);
        flex_from_f32(uncrop(&flex_f32(&grad), [co, c, kh, kw], [r0, r1, c0, c1]), [co, c, kh, kw])
    }
}

#[derive(Debug)]
struct CropBackward;

impl<B: Backend + CropTapsKernels> Backward<B, 1> for CropBackward {
    /// The kernel size and the taps kept.
    type State = [usize; 6];

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = ops.parents.into_iter().next().flatten() {
            grads.register::<B>(node.id, B::uncrop_taps(grad, ops.state));
        }
    }
}

impl<B: Backend + CropTapsOps + CropTapsKernels, C: CheckpointStrategy> CropTapsOps for Autodiff<B, C> {
    fn crop_taps(weight: FloatTensor<Self>, taps: [usize; 6]) -> FloatTensor<Self> {
        let nodes = [weight.node()];
        let weight = weight.into_primitive();
        match CropBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(taps, B::crop_taps(weight, taps)),
            OpsKind::UnTracked(prep) => prep.finish(B::crop_taps(weight, taps)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_that_only_read_padding_are_cropped() {
        assert_eq!(live_taps(1, 3, 1, 1, 1), (1..2, [0, 0])); // 3×3 on a 1×1 map: the centre
        assert_eq!(live_taps(2, 3, 2, 1, 1), (1..3, [0, 1])); // stride 2 from a 2×2 map
        assert_eq!(live_taps(2, 5, 1, 2, 2), (1..4, [1, 1]));
        assert_eq!(live_taps(32, 7, 2, 3, 3), (0..7, [3, 3])); // large maps keep every tap
    }

    #[test]
    fn uncrop_is_the_adjoint_of_crop() {
        let (full, taps) = ([2, 3, 3, 4], [1, 3, 0, 2]);
        let w: Vec<f32> = (0..72).map(|v| v as f32).collect();
        let small = crop(&w, full, taps);
        assert_eq!(small.len(), 2 * 3 * 2 * 2);
        assert_eq!(small[..4], [4.0, 5.0, 8.0, 9.0]); // rows 1–2, columns 0–1 of the first kernel
        // ⟨crop(w), v⟩ = ⟨w, uncrop(v)⟩
        let v: Vec<f32> = (0..small.len()).map(|k| (k % 5) as f32 - 2.0).collect();
        let left: f32 = small.iter().zip(&v).map(|(a, b)| a * b).sum();
        let right: f32 = w.iter().zip(uncrop(&v, full, taps)).map(|(a, b)| a * b).sum();
        assert_eq!(left, right);
    }
}
