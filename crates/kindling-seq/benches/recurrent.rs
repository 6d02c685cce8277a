//! Recurrent layer speed at the sizes of the performance targets (B=32, T=64, I=128, H=256).
//!
//! `cargo bench -p kindling-seq` (release). PyTorch's figures for the same work come from
//! `scripts/bench/recurrent_torch.py`.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{BiGruConfig, Embedding, EmbeddingConfig, Linear, LinearConfig, LstmConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use kindling_seq::{CellKind, Recurrent, RecurrentConfig};

const B: usize = 32;
const T: usize = 64;
const I: usize = 128;
const H: usize = 256;
const VOCAB: usize = 10_000;

fn input(device: &Device) -> Tensor<3> {
    Tensor::random([B, T, I], Distribution::Normal(0.0, 1.0), device)
}

fn sync(t: Tensor<3>) -> f32 {
    t.sum().into_scalar()
}

fn layer(kind: CellKind, bidirectional: bool, device: &Device) -> Recurrent {
    RecurrentConfig::new(kind, I, H).with_bidirectional(bidirectional).init(device).expect("valid config")
}

/// A ragged batch: lengths spread over T/2..=T.
fn ragged_lengths() -> Vec<usize> {
    (0..B).map(|b| T / 2 + (b * 7919) % (T / 2 + 1)).collect()
}

fn inference(c: &mut Criterion) {
    let device = kindling_core::default_device();
    let x = input(&device);
    let mut g = c.benchmark_group("inference");
    g.sample_size(20);
    let lstm = layer(CellKind::Lstm, false, &device);
    g.bench_function("lstm_forward", |b| b.iter(|| sync(lstm.forward(x.clone(), None, None).expect("forward").0)));
    let lengths = ragged_lengths();
    g.bench_function("lstm_forward_ragged", |b| {
        b.iter(|| sync(lstm.forward(x.clone(), Some(&lengths), None).expect("forward").0))
    });
    let bigru = layer(CellKind::Gru, true, &device);
    g.bench_function("bigru_forward", |b| b.iter(|| sync(bigru.forward(x.clone(), None, None).expect("forward").0)));
    let rnn = layer(CellKind::Rnn, false, &device);
    g.bench_function("rnn_forward", |b| b.iter(|| sync(rnn.forward(x.clone(), None, None).expect("forward").0)));
    // burn-nn's own layers (one small matmul per gate and per input/hidden side) for reference.
    let burn_lstm = LstmConfig::new(I, H, true).init(&device);
    g.bench_function("burn_nn_lstm_forward", |b| b.iter(|| sync(burn_lstm.forward(x.clone(), None).0)));
    let burn_bigru = BiGruConfig::new(I, H, true).init(&device);
    g.bench_function("burn_nn_bigru_forward", |b| b.iter(|| sync(burn_bigru.forward(x.clone(), None).0)));
    g.finish();
}

fn training(c: &mut Criterion) {
    let device = kindling_core::default_device().autodiff();
    let mut g = c.benchmark_group("training");
    g.sample_size(10);
    let lstm = layer(CellKind::Lstm, false, &device);
    let x = input(&device);
    g.bench_function("lstm_forward_backward", |b| {
        b.iter(|| {
            let xi = x.clone().require_grad();
            let (out, _) = lstm.forward(xi, None, None).expect("forward");
            let grads = out.sum().backward();
            lstm.layers[0].forward.weight_hh.val().grad(&grads).map(|t| t.sum().into_scalar::<f32>())
        })
    });
    let burn_lstm = LstmConfig::new(I, H, true).init(&device);
    g.bench_function("burn_nn_lstm_forward_backward", |b| {
        b.iter(|| {
            let (out, _) = burn_lstm.forward(x.clone().require_grad(), None);
            let _grads = out.sum().backward();
        })
    });
    g.finish();
}

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

/// The performance target's "LSTM many-to-one train step": embedding 10k x 128, LSTM 256,
/// linear head, cross-entropy, Adam step.
fn train_step(c: &mut Criterion) {
    let device = kindling_core::default_device().autodiff();
    let mut model = ManyToOne {
        embedding: EmbeddingConfig::new(VOCAB, I).init(&device),
        lstm: layer(CellKind::Lstm, false, &device),
        head: LinearConfig::new(H, 2).init(&device),
    };
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let tokens = Tensor::<2>::random([B, T], Distribution::Uniform(0.0, VOCAB as f64), &device).int();
    let labels = Tensor::<1>::random([B], Distribution::Uniform(0.0, 2.0), &device).int();
    let mut g = c.benchmark_group("training");
    g.sample_size(10);
    g.bench_function("lstm_many_to_one_train_step_adam", |b| {
        b.iter(|| {
            let loss = loss_fn.forward(model.forward(tokens.clone()), labels.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model.clone(), grads);
        })
    });
    g.finish();
}

criterion_group!(benches, inference, training, train_step);
criterion_main!(benches);
