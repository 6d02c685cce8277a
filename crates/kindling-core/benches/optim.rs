//! One optimizer step over 11.7 M parameters (ResNet-18's count) with burn's SGD / Adam and
//! Kindling's fused ones, the model carried from step to step as in training (only the step is
//! timed).
//!
//! `cargo bench -p kindling-core --bench optim`.

use std::time::{Duration, Instant};

use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use kindling_core::optim::{FusedAdamConfig, FusedSgdConfig};

/// 3,072 × 3,800 weights + 3,800 biases ≈ 11.68 M parameters.
fn model(device: &Device) -> Linear {
    LinearConfig::new(3072, 3800).init(device)
}

/// The gradients of a small backward pass, as a training step hands them to the optimizer.
fn grads(model: &Linear, x: &Tensor<2>) -> GradientsParams {
    GradientsParams::from_grads(model.forward(x.clone()).sum().backward(), model)
}

fn momentum() -> Option<MomentumConfig> {
    Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0))
}

fn decay() -> Option<WeightDecayConfig> {
    Some(WeightDecayConfig::new(5e-4))
}

/// Makes a fresh optimizer.
type Make = fn() -> ModuleOptimizer;

fn steps(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let optimizers: [(&str, Make); 4] = [
        ("burn_sgd_momentum_decay", || SgdConfig::new().with_momentum(momentum()).with_weight_decay(decay()).init()),
        ("fused_sgd_momentum_decay", || {
            FusedSgdConfig::new().with_momentum(momentum()).with_weight_decay(decay()).init()
        }),
        ("burn_adam", || AdamConfig::new().init()),
        ("fused_adam", || FusedAdamConfig::new().init()),
    ];
    let mut g = c.benchmark_group("optimizer_step_11.7M");
    g.sample_size(10);
    for (name, make) in optimizers {
        let mut optim = make();
        let x = Tensor::<2>::random([8, 3072], Distribution::Normal(0.0, 1.0), &device);
        let mut net = Some(model(&device));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let m = net.take().expect("model");
                    let gr = grads(&m, &x);
                    let start = Instant::now();
                    let m = optim.step(1e-3, m, gr);
                    // Read one value back so that the step has finished.
                    let _ = m.weight.val().slice([0..1, 0..1]).into_scalar::<f32>();
                    total += start.elapsed();
                    net = Some(m);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
