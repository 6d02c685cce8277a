//! `kindling_vision::conv2d` (the im2col + gemm op) against burn's own convolution: outputs and
//! the gradients of input, weight and bias through autodiff.
#![allow(clippy::unwrap_used)]

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Output, input gradient, weight gradient and bias gradient of `sum(conv(x) · r)`.
fn run(conv: &Conv2d, x: Tensor<4>, r: &Tensor<4>, fast: bool) -> (Tensor<4>, Tensor<4>, Tensor<4>, Option<Tensor<1>>) {
    let x = x.require_grad();
    let y = if fast { kindling_vision::conv2d(conv, x.clone()) } else { conv.forward(x.clone()) };
    let grads = (y.clone() * r.clone()).sum().backward();
    let gx = x.grad(&grads).unwrap();
    let gw = conv.weight.val().grad(&grads).unwrap();
    let gb = conv.bias.as_ref().map(|b| b.val().grad(&grads).unwrap());
    (y.inner(), gx, gw, gb)
}

#[test]
fn forward_and_gradients_match_burn_convolution() {
    let device = Device::flex().autodiff();
    let cases = [
        (Conv2dConfig::new([3, 8], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)), [4, 3, 12, 10]),
        (
            Conv2dConfig::new([4, 6], [7, 7]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3)),
            [1, 4, 17, 15],
        ),
        (Conv2dConfig::new([5, 7], [1, 1]).with_stride([2, 2]).with_bias(false), [3, 5, 9, 9]),
        (Conv2dConfig::new([6, 4], [1, 1]), [2, 6, 5, 7]),
        (Conv2dConfig::new([3, 5], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Same), [2, 3, 10, 11]),
        (Conv2dConfig::new([2, 3], [3, 2]).with_padding(PaddingConfig2d::Valid), [5, 2, 6, 6]),
        // Maps smaller than the kernel's reach: taps that only read padding are cropped away
        // (ResNet-18's last stage on 32×32 images: 1×1 and 2×2 maps).
        (Conv2dConfig::new([4, 5], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)), [3, 4, 1, 1]),
        (
            Conv2dConfig::new([4, 5], [3, 3]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)),
            [3, 4, 2, 2],
        ),
        (Conv2dConfig::new([3, 2], [5, 3]).with_padding(PaddingConfig2d::Explicit(2, 1, 2, 2)), [2, 3, 2, 3]),
        (
            Conv2dConfig::new([2, 3], [7, 7]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3)),
            [2, 2, 3, 5],
        ),
    ];
    for (config, shape) in cases {
        let conv = config.init(&device);
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let probe = conv.forward(x.clone());
        let r = Tensor::<4>::random(probe.dims(), Distribution::Normal(0.0, 1.0), &device);
        let (y, gx, gw, gb) = run(&conv, x.clone(), &r, true);
        let (y0, gx0, gw0, gb0) = run(&conv, x, &r, false);
        assert_eq!(y.dims(), y0.dims(), "{shape:?}");
        assert!(max_diff(y, y0) < 1e-4, "{shape:?}: output");
        assert!(max_diff(gx, gx0) < 1e-4, "{shape:?}: input gradient");
        assert!(max_diff(gw, gw0) < 1e-3, "{shape:?}: weight gradient");
        if let (Some(gb), Some(gb0)) = (gb, gb0) {
            assert!(max_diff(gb, gb0) < 1e-3, "{shape:?}: bias gradient");
        }
    }
}

#[test]
fn frozen_weights_get_no_gradient_and_inputs_without_grad_are_skipped() {
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([3, 4], [3, 3]).init(&device).freeze();
    let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let grads = kindling_vision::conv2d(&conv, x.clone()).sum().backward();
    assert!(conv.weight.val().grad(&grads).is_none());
    let gx = x.grad(&grads).unwrap();
    let reference = {
        let grads = conv.forward(x.clone()).sum().backward();
        x.grad(&grads).unwrap()
    };
    assert!(max_diff(gx, reference) < 1e-4);
}

#[test]
fn depthwise_and_other_backends_fall_back_to_burn() {
    let device = Device::flex();
    let conv = Conv2dConfig::new([4, 4], [3, 3]).with_groups(4).init(&device);
    let x = Tensor::<4>::random([1, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(max_diff(kindling_vision::conv2d(&conv, x.clone()), conv.forward(x)), 0.0);
}
