//! Training through the layers: a ragged many-to-one task is learned, dropout acts only
//! between layers and only in training, and weight dropout masks the recurrent matrices.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{DropoutConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use kindling_seq::{CellKind, Recurrent, RecurrentConfig};
use rand::Rng;

#[derive(Module, Debug)]
struct Classifier {
    rnn: Recurrent,
    head: Linear,
}

impl Classifier {
    fn forward(&self, x: Tensor<3>, lengths: &[usize]) -> Tensor<2> {
        let (_, state) = self.rnn.forward(x, Some(lengths), None).expect("forward");
        self.head.forward(self.rnn.last_hidden(&state))
    }
}

/// Sequences of +-1 (plus noise) of odd lengths 3..=11 padded to 11 with garbage;
/// the label is whether the valid steps sum to more than zero.
fn batch(rng: &mut impl Rng, n: usize, device: &Device) -> (Tensor<3>, Vec<usize>, Tensor<1, Int>) {
    const T: usize = 11;
    let (mut x, mut lengths, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 3 + 2 * rng.random_range(0..5usize);
        let mut sum = 0.0;
        for t in 0..T {
            let v: f32 = if t < len { if rng.random_bool(0.5) { 1.0 } else { -1.0 } } else { 5.0 };
            if t < len {
                sum += v;
            }
            x.push(v + rng.random_range(-0.1..0.1));
        }
        lengths.push(len);
        labels.push(i64::from(sum > 0.0));
    }
    let x = Tensor::from_data(TensorData::new(x, [n, T, 1]), device);
    (x, lengths, Tensor::from_data(TensorData::new(labels, [n]), device))
}

fn accuracy(model: &Classifier, x: Tensor<3>, lengths: &[usize], y: Tensor<1, Int>) -> f32 {
    let pred = model.forward(x, lengths).argmax(1).reshape([lengths.len()]);
    let hits: i64 = pred.equal(y).int().sum().into_scalar();
    hits as f32 / lengths.len() as f32
}

#[test]
fn ragged_many_to_one_task_is_learned_by_every_kind() {
    for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let device = kindling_core::default_device().autodiff();
        let mut rng = kindling_core::seed_everything(7, &device);
        let rnn = RecurrentConfig::new(kind, 1, 12).with_bidirectional(true).init(&device).expect("init");
        let head = LinearConfig::new(rnn.output_size(), 2).init(&device);
        let mut model = Classifier { rnn, head };
        let mut optim = AdamConfig::new().init();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let (tx, tl, ty) = batch(&mut rng, 256, &device);
        let before = accuracy(&model.valid(), tx.clone().inner(), &tl, ty.clone().inner());
        let mut losses = Vec::new();
        for _ in 0..150 {
            let (x, lengths, y) = batch(&mut rng, 32, &device);
            let loss = loss_fn.forward(model.forward(x, &lengths), y);
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.02, model, grads);
        }
        let after = accuracy(&model.valid(), tx.inner(), &tl, ty.inner());
        let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
        let last: f32 = losses[losses.len() - 10..].iter().sum::<f32>() / 10.0;
        assert!(last < 0.5 * first, "{kind}: loss {first} -> {last}");
        assert!(after >= 0.9, "{kind}: held-out accuracy {before} -> {after}");
    }
}

#[test]
fn dropout_acts_between_layers_in_training_only() {
    let device = kindling_core::default_device().autodiff();
    kindling_core::seed_everything(3, &device);
    let x = Tensor::<3>::random([4, 6, 3], Distribution::Normal(0.0, 1.0), &device);
    let out = |rnn: &Recurrent, x: Tensor<3>| {
        kindling_core::tensor::to_vec_f32(rnn.forward(x, None, None).expect("forward").0).expect("floats")
    };

    let two =
        RecurrentConfig::new(CellKind::Gru, 3, 8).with_num_layers(2).with_dropout(0.5).init(&device).expect("init");
    assert_ne!(out(&two, x.clone()), out(&two, x.clone()), "training applies dropout between layers");
    let valid = two.valid();
    assert_eq!(out(&valid, x.clone().inner()), out(&valid, x.clone().inner()), "no dropout in validation");

    let one = RecurrentConfig::new(CellKind::Gru, 3, 8).with_dropout(0.5).init(&device).expect("init");
    // Training projects step by step, validation in one matmul: equal up to rounding.
    let d = kindling_core::tensor::max_abs_diff(&out(&one, x.clone()), &out(&one.valid(), x.inner()));
    assert!(d < 1e-6, "no dropout after the last layer (max|diff| {d:e})");
}

/// Weight dropout (DropConnect on `weight_hh`): in training, the gradient of a dropped entry is
/// exactly zero although every time step reads the matrix (one mask per forward pass, shared by
/// the steps), about `p` of the entries are dropped, and validation runs the plain matrix. For
/// the fused LSTM op and the per-step path (GRU) alike.
#[test]
fn weight_dropout_masks_the_recurrent_matrices_once_per_pass() {
    let device = kindling_core::default_device().autodiff();
    kindling_core::seed_everything(5, &device);
    let x = Tensor::<3>::random([4, 7, 3], Distribution::Normal(0.0, 1.0), &device);
    for kind in [CellKind::Lstm, CellKind::Gru] {
        let zero_share = |p: f64| {
            let rnn = RecurrentConfig::new(kind, 3, 16).with_weight_dropout(p).init(&device).expect("init");
            let (out, _) = rnn.forward(x.clone(), None, None).expect("forward");
            let grads = out.powi_scalar(2).sum().backward();
            let g = rnn.layers[0].forward.weight_hh.val().grad(&grads).expect("weight_hh gradient");
            let g = kindling_core::tensor::to_vec_f32(g).expect("floats");
            g.iter().filter(|&&v| v == 0.0).count() as f64 / g.len() as f64
        };
        assert_eq!(zero_share(0.0), 0.0, "{kind:?}: no entry dropped without weight dropout");
        let dropped = zero_share(0.5);
        assert!((0.4..0.6).contains(&dropped), "{kind:?}: {dropped} of the entries dropped for p = 0.5");

        let rnn = RecurrentConfig::new(kind, 3, 16).with_weight_dropout(0.5).init(&device).expect("init");
        let out = |rnn: &Recurrent, x: Tensor<3>| {
            kindling_core::tensor::to_vec_f32(rnn.forward(x, None, None).expect("forward").0).expect("floats")
        };
        assert_ne!(out(&rnn, x.clone()), out(&rnn, x.clone()), "{kind:?}: a fresh mask per pass");
        let mut plain = rnn.clone();
        plain.weight_dropout = DropoutConfig::new(0.0).init();
        let (a, b) = (out(&rnn.valid(), x.clone().inner()), out(&plain.valid(), x.clone().inner()));
        let d = kindling_core::tensor::max_abs_diff(&a, &b);
        assert!(d < 1e-6, "{kind:?}: validation without weight dropout (max|diff| {d:e})");
    }
    assert!(RecurrentConfig::new(CellKind::Lstm, 3, 4).with_weight_dropout(1.0).validate().is_err());
}
