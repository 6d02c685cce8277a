//! `kindling_vision::batch_norm` (host kernels for the training path) against burn's
//! `BatchNorm::forward` (and `batch_norm_relu` against a ReLU after it): outputs, gradients of input,
//! gamma and beta, running statistics.
#![allow(clippy::unwrap_used)]

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Output, gradients of `sum(bn(x) · r)` (with a ReLU after `bn` if `with_relu`) for x, gamma and
/// beta, then running mean and variance.
fn run(bn: &BatchNorm, x: Tensor<4>, r: &Tensor<4>, fast: bool, with_relu: bool) -> [Tensor<1>; 6] {
    let x = x.require_grad();
    let y = match (fast, with_relu) {
        (true, false) => kindling_vision::batch_norm(bn, x.clone()),
        (true, true) => kindling_vision::batch_norm_relu(bn, x.clone()),
        (false, false) => bn.forward(x.clone()),
        (false, true) => relu(bn.forward(x.clone())),
    };
    let grads = (y.clone() * r.clone()).sum().backward();
    let flat = |t: Tensor<4>| t.flatten::<1>(0, 3);
    [
        flat(y.inner()),
        flat(x.grad(&grads).unwrap()),
        bn.gamma.val().grad(&grads).unwrap(),
        bn.beta.val().grad(&grads).unwrap(),
        bn.running_mean.value_sync().inner(),
        bn.running_var.value_sync().inner(),
    ]
}

#[test]
fn training_path_matches_burn_batch_norm() {
    let device = Device::flex().autodiff();
    for (shape, with_relu) in
        [([4, 3, 7, 5], false), ([1, 6, 2, 2], true), ([8, 2, 16, 16], false), ([3, 4, 9, 9], true)]
    {
        let x = Tensor::<4>::random(shape, Distribution::Normal(1.5, 2.0), &device);
        let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let gamma = Tensor::<1>::random([shape[1]], Distribution::Normal(1.0, 0.5), &device);
        // Two layers with the same parameters (a clone would share the running statistics).
        let layer = || {
            let bn = BatchNormConfig::new(shape[1]).with_momentum(0.2).init(&device);
            BatchNorm { gamma: burn::module::Param::from_tensor(gamma.clone()), ..bn }
        };
        let (ours, theirs) = (layer(), layer());
        let fast = run(&ours, x.clone(), &r, true, with_relu);
        let reference = run(&theirs, x, &r, false, with_relu);
        let names = ["output", "input gradient", "gamma gradient", "beta gradient", "running mean", "running var"];
        for ((a, b), name) in fast.into_iter().zip(reference).zip(names) {
            let d = max_diff(a, b);
            assert!(d < 2e-4, "{shape:?} relu {with_relu} {name}: off by {d}");
        }
    }
}

#[test]
fn frozen_layers_and_inference_use_burn() {
    let device = Device::flex().autodiff();
    let bn = BatchNormConfig::new(3).init(&device).freeze();
    let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &device);
    assert_eq!(max_diff(kindling_vision::batch_norm(&bn, x.clone()), bn.forward(x)), 0.0);
    let plain = BatchNormConfig::new(3).init(&Device::flex());
    let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &Device::flex());
    assert_eq!(max_diff(kindling_vision::batch_norm(&plain, x.clone()), plain.forward(x)), 0.0);
}

/// `batch_norm_add_relu` against `relu(bn.forward(x) + residual)`: output and the gradients of
/// input, residual, gamma and beta.
#[test]
fn residual_path_matches_burn() {
    let device = Device::flex().autodiff();
    for shape in [[4, 3, 7, 5], [2, 5, 1, 1], [3, 4, 9, 9]] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.5, 2.0), &device);
        let residual = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let bn = BatchNormConfig::new(shape[1]).init(&device);
        let run = |fast: bool| {
            let (x, residual) = (x.clone().require_grad(), residual.clone().require_grad());
            let y = if fast {
                kindling_vision::batch_norm_add_relu(&bn, x.clone(), residual.clone())
            } else {
                relu(bn.forward(x.clone()) + residual.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            let flat = |t: Tensor<4>| t.flatten::<1>(0, 3);
            [
                flat(y.inner()),
                flat(x.grad(&grads).unwrap()),
                flat(residual.grad(&grads).unwrap()),
                bn.gamma.val().grad(&grads).unwrap(),
                bn.beta.val().grad(&grads).unwrap(),
            ]
        };
        let names = ["output", "input gradient", "residual gradient", "gamma gradient", "beta gradient"];
        for ((a, b), name) in run(true).into_iter().zip(run(false)).zip(names) {
            let d = max_diff(a, b);
            assert!(d < 2e-4, "{shape:?} {name}: off by {d}");
        }
    }
}
