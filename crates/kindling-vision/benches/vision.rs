//! Forward passes of ResNet-18/50 and VGG-11 at batch 8, 224×224, and one ResNet-18 training
//! step (forward, cross-entropy, backward, SGD), on Kindling's default device (burn-flex CPU).
//!
//! `cargo bench -p kindling-vision --bench vision`

use std::hint::black_box;
use std::time::Duration;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use kindling_vision::Arch;

const BATCH: usize = 8;
const SIDE: usize = 224;

fn forward(c: &mut Criterion) {
    let device = kindling_core::default_device();
    let mut group = c.benchmark_group("forward");
    group.sample_size(10).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(20));
    for arch in [Arch::Resnet18, Arch::Resnet50, Arch::Vgg11] {
        let model = arch.init(1000, &device);
        let x = Tensor::<4>::random([BATCH, 3, SIDE, SIDE], Distribution::Normal(0.0, 1.0), &device);
        group.bench_function(format!("{arch}_b{BATCH}_{SIDE}"), |b| {
            b.iter(|| black_box(model.forward(x.clone()).into_data()))
        });
    }
    group.finish();
}

fn train_step(c: &mut Criterion) {
    let device = kindling_core::default_device().autodiff();
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(30));
    let mut model = Some(Arch::Resnet18.init(1000, &device));
    let mut optim = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random([BATCH, 3, SIDE, SIDE], Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_ints([0, 1, 2, 3, 4, 5, 6, 7], &device);
    group.bench_function(format!("resnet18_b{BATCH}_{SIDE}_sgd"), |b| {
        b.iter(|| {
            let m = model.take().expect("model");
            let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            let m = optim.step(0.01, m, grads);
            black_box(loss.into_data());
            model = Some(m);
        })
    });
    group.finish();
}

criterion_group!(benches, forward, train_step);
criterion_main!(benches);
