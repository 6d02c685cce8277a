//! The benchmark workloads: what each one runs, on which sizes, and how many FLOPs it does.
//!
//! Every workload has a PyTorch twin of the same name in `bench/reference/torch_workloads.py`
//! (same shapes, same optimizer settings). Adding a workload means adding an entry to
//! [`WORKLOADS`], a branch in [`prepare`] and the twin in the Python script.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::tensor::{Device, Distribution, Int, Tensor};
use kindling_core::optim::{FusedAdamConfig, FusedSgdConfig};
use kindling_seq::{CellKind, Recurrent, RecurrentConfig};
use kindling_transfer::FineTuneConfig;
use kindling_transfer::policy::{Stages, lr_scheduler};
use kindling_vision::{Arch, VisionModel};

use crate::flops;

/// Whether a workload trains (autodiff, optimizer step) or only infers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Forward pass only.
    Inference,
    /// Forward, backward and optimizer step.
    Training,
}

/// One benchmark workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Name shared with the PyTorch reference script.
    pub name: &'static str,
    /// What one iteration does.
    pub description: &'static str,
    /// Images or sequences per iteration.
    pub items: usize,
    /// What an item is (`img`, `seq`).
    pub unit: &'static str,
    /// Inference or training.
    pub kind: Kind,
    /// Whether the convolution-heavy ≥ 50 % of peak goal applies.
    pub conv_heavy: bool,
}

const fn w(
    name: &'static str,
    description: &'static str,
    items: usize,
    unit: &'static str,
    kind: Kind,
    conv_heavy: bool,
) -> Workload {
    Workload { name, description, items, unit, kind, conv_heavy }
}

/// Every workload, in table order.
pub const WORKLOADS: &[Workload] = &[
    w("resnet18_infer_b8", "ResNet-18 inference, batch 8, 224×224", 8, "img", Kind::Inference, true),
    w("resnet18_infer_b1", "ResNet-18 inference, batch 1, 224×224", 1, "img", Kind::Inference, true),
    w(
        "resnet18_finetune_b8",
        "ResNet-18 fine-tune step (new 10-class head, SGD momentum 0.9, per-stage LRs), batch 8, 224×224",
        8,
        "img",
        Kind::Training,
        false,
    ),
    w(
        "resnet18_train_b64_32",
        "ResNet-18 train step (10 classes, SGD momentum 0.9), batch 64, 32×32",
        64,
        "img",
        Kind::Training,
        false,
    ),
    w("vgg11_infer_b4", "VGG-11 inference, batch 4, 224×224", 4, "img", Kind::Inference, true),
    w("vgg16_infer_b2", "VGG-16 inference, batch 2, 224×224", 2, "img", Kind::Inference, true),
    w("efficientnet_lite0_infer_b8", "EfficientNet-Lite0 inference, batch 8, 224×224", 8, "img", Kind::Inference, true),
    w(
        "lstm_train_b32",
        "LSTM many-to-one train step (vocab 10k, emb 128, hidden 256, T=64, B=32, Adam)",
        32,
        "seq",
        Kind::Training,
        false,
    ),
    w("bigru_infer_b32", "BiGRU inference (input 128, hidden 256, T=64, B=32)", 32, "seq", Kind::Inference, false),
];

/// Which Kindling code path runs a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Kindling's fastest path for the workload (the default).
    Kindling,
    /// The plain burn modules on burn-flex, without Kindling's inference engine.
    Plain,
}

/// A workload ready to run: its FLOPs per iteration and the iteration itself (which returns a
/// checksum of its output so that nothing is optimised away and runs can be compared).
pub struct Prepared {
    /// FLOPs of one iteration (see [`crate::flops`]).
    pub flops: f64,
    /// Runs one iteration.
    pub step: Box<dyn FnMut() -> f64>,
    /// Which code path actually runs (the plain path when no faster one exists).
    pub variant: Variant,
}

fn images(n: usize, side: usize, device: &Device) -> Tensor<4> {
    Tensor::random([n, 3, side, side], Distribution::Normal(0.0, 1.0), device)
}

fn labels(n: usize, classes: usize, device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
    Tensor::from_ints(v.as_slice(), device)
}

fn sum(t: Tensor<2>) -> f64 {
    kindling_core::tensor::to_vec_f32(t).map(|v| v.iter().map(|&x| f64::from(x)).sum()).unwrap_or(f64::NAN)
}

/// Inference on a randomly initialised model: Kindling's fused engine (`model.into_fused()`) or
/// burn's modules (`--plain`).
fn infer_vision(arch: Arch, batch: usize, variant: Variant) -> Prepared {
    let device = kindling_core::default_device();
    let model = arch.init(1000, &device);
    let x = images(batch, 224, &device);
    let flops = flops::vision(&model, batch, 224, 224);
    match variant {
        Variant::Plain => Prepared { flops, step: Box::new(move || sum(model.forward(x.clone()))), variant },
        Variant::Kindling => {
            let fused = model.into_fused().expect("fusable model");
            let step = move || sum(fused.forward(x.clone()).expect("valid input"));
            Prepared { flops, step: Box::new(step), variant }
        }
    }
}

/// One step of kindling-transfer's fine-tuning loop, built from the same pieces as `fit`: the
/// engine's optimizer and per-stage learning-rate schedule, cross-entropy, loss read back each step.
fn finetune(batch: usize) -> Prepared {
    let device = kindling_core::default_device();
    let ad = device.clone().autodiff();
    let model = Arch::Resnet18.init(1000, &device).with_num_classes(10);
    let flops = 3.0 * flops::vision(&model, batch, 224, 224);
    let config = FineTuneConfig::new(10).with_batch_size(batch);
    let stages = Stages::of(&model);
    let mut sched = lr_scheduler(&stages, &config, 100).expect("valid schedule");
    let mut optim = kindling_transfer::build_optimizer(&config);
    let mut model = Some(model.fork(&ad).train());
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let x = images(batch, 224, &ad);
    let y = labels(batch, 10, &ad);
    let step = move || {
        let m: VisionModel = model.take().expect("model");
        let logits = m.forward(x.clone());
        let loss = loss_fn.forward(logits, y.clone());
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(sched.step(), m, grads));
        value
    };
    Prepared { flops, step: Box::new(step), variant: Variant::Plain }
}

/// A from-scratch training step: torchvision ResNet-18 (standard stem) on 32×32 images.
fn train_small(batch: usize) -> Prepared {
    let ad = kindling_core::default_device().autodiff();
    let mut model = Some(Arch::Resnet18.init(10, &ad));
    let flops = 3.0 * model.as_ref().map_or(0.0, |m| flops::vision(m, batch, 32, 32));
    let mut optim = FusedSgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9).with_dampening(0.0)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let x = images(batch, 32, &ad);
    let y = labels(batch, 10, &ad);
    let step = move || {
        let m: VisionModel = model.take().expect("model");
        let loss = loss_fn.forward(m.forward(x.clone()), y.clone());
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(0.1, m, grads));
        value
    };
    Prepared { flops, step: Box::new(step), variant: Variant::Plain }
}

const VOCAB: usize = 10_000;
const EMB: usize = 128;
const HIDDEN: usize = 256;
const STEPS: usize = 64;

/// Embedding → LSTM → linear head on the last hidden state.
#[derive(Module, Debug)]
struct ManyToOne {
    embedding: Embedding,
    lstm: Recurrent,
    head: Linear,
}

impl ManyToOne {
    fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let (_, state) = self.lstm.forward(self.embedding.forward(tokens), None, None).expect("forward");
        self.head.forward(self.lstm.last_hidden(&state))
    }
}

fn lstm_train(batch: usize) -> Prepared {
    let ad = kindling_core::default_device().autodiff();
    let lstm = RecurrentConfig::new(CellKind::Lstm, EMB, HIDDEN).init(&ad).expect("valid config");
    let mut model = Some(ManyToOne {
        embedding: EmbeddingConfig::new(VOCAB, EMB).init(&ad),
        lstm,
        head: LinearConfig::new(HIDDEN, 2).init(&ad),
    });
    let flops = 3.0 * (flops::recurrent(4, EMB, HIDDEN, STEPS, batch) + 2.0 * (batch * HIDDEN * 2) as f64);
    let mut optim = FusedAdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let tokens: Vec<i64> = (0..batch * STEPS).map(|i| ((i * 7919 + 13) % VOCAB) as i64).collect();
    let tokens = Tensor::<1, Int>::from_ints(tokens.as_slice(), &ad).reshape([batch, STEPS]);
    let y = labels(batch, 2, &ad);
    let step = move || {
        let m = model.take().expect("model");
        let loss = loss_fn.forward(m.forward(tokens.clone()), y.clone());
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(1e-3, m, grads));
        value
    };
    Prepared { flops, step: Box::new(step), variant: Variant::Plain }
}

fn bigru_infer(batch: usize, variant: Variant) -> Prepared {
    let device = kindling_core::default_device();
    let x = Tensor::<3>::random([batch, STEPS, EMB], Distribution::Normal(0.0, 1.0), &device);
    let flops = 2.0 * flops::recurrent(3, EMB, HIDDEN, STEPS, batch);
    let step: Box<dyn FnMut() -> f64> = match variant {
        // Kindling's `Recurrent` (host kernels on burn-flex inference).
        Variant::Kindling => {
            let gru = RecurrentConfig::new(CellKind::Gru, EMB, HIDDEN)
                .with_bidirectional(true)
                .init(&device)
                .expect("valid config");
            Box::new(move || {
                let (out, _) = gru.forward(x.clone(), None, None).expect("forward");
                let [b, t, f] = out.dims();
                sum(out.reshape([b * t, f]))
            })
        }
        // burn's own `BiGru` module (same sizes, PyTorch's reset-after GRU).
        Variant::Plain => {
            let gru = burn::nn::gru::BiGruConfig::new(EMB, HIDDEN, true).init(&device);
            Box::new(move || {
                let (out, _) = gru.forward(x.clone(), None);
                let [b, t, f] = out.dims();
                sum(out.reshape([b * t, f]))
            })
        }
    };
    Prepared { flops, step, variant }
}

/// Builds workload `name` (see [`WORKLOADS`]).
pub fn prepare(name: &str, variant: Variant) -> Option<Prepared> {
    Some(match name {
        "resnet18_infer_b8" => infer_vision(Arch::Resnet18, 8, variant),
        "resnet18_infer_b1" => infer_vision(Arch::Resnet18, 1, variant),
        "resnet18_finetune_b8" => finetune(8),
        "resnet18_train_b64_32" => train_small(64),
        "vgg11_infer_b4" => infer_vision(Arch::Vgg11, 4, variant),
        "vgg16_infer_b2" => infer_vision(Arch::Vgg16, 2, variant),
        "efficientnet_lite0_infer_b8" => infer_vision(Arch::EfficientnetLite0, 8, variant),
        "lstm_train_b32" => lstm_train(32),
        "bigru_infer_b32" => bigru_infer(32, variant),
        _ => return None,
    })
}
