//! The fused optimizers against burn's: same parameters after several steps (momentum, dampening,
//! Nesterov, L2 and decoupled weight decay), a clone the caller kept stays untouched, and states saved by one load
//! into the other.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Tensor, TensorData};
use kindling_core::optim::{FusedAdamConfig, FusedAdamWConfig, FusedSgdConfig};

#[derive(Module, Debug)]
struct Net {
    a: Linear,
    b: Linear,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self { a: LinearConfig::new(37, 300).init(device), b: LinearConfig::new(300, 5).init(device) }
    }

    fn grads(&self, step: usize) -> GradientsParams {
        let device = self.a.weight.val().device();
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..8 * 37).map(|k| (((k * 7 + step * 13) % 23) as f32 - 11.0) / 7.0).collect::<Vec<_>>(),
                [8, 37],
            ),
            &device,
        );
        let loss = self.b.forward(self.a.forward(x).tanh()).powf_scalar(2.0).mean();
        GradientsParams::from_grads(loss.backward(), self)
    }

    fn weights(&self) -> Vec<f32> {
        [
            self.a.weight.val().into_data(),
            self.a.bias.as_ref().expect("bias").val().into_data(),
            self.b.weight.val().into_data(),
        ]
        .into_iter()
        .flat_map(|d| d.try_to_vec::<f32>().expect("f32 weights"))
        .collect()
    }
}

/// The same network every time, without burn's process-wide random generator (tests run in
/// parallel).
fn net() -> Net {
    let device = Device::flex().autodiff();
    let mut net = Net::new(&device);
    let values = |n: usize, seed: usize| -> Vec<f32> {
        (0..n).map(|k| (((k * 2_654_435_761 + seed) % 1000) as f32 / 500.0 - 1.0) * 0.2).collect()
    };
    let fixed = |shape: [usize; 2], seed| {
        Param::from_tensor(Tensor::<2>::from_data(TensorData::new(values(shape[0] * shape[1], seed), shape), &device))
    };
    let bias = |n: usize, seed| {
        Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values(n, seed), [n]), &device)))
    };
    net.a.weight = fixed([37, 300], 1);
    net.b.weight = fixed([300, 5], 2);
    net.a.bias = bias(300, 3);
    net.b.bias = bias(5, 4);
    net
}

/// `steps` steps of `optim` from the same start; returns the weights after each.
fn run(mut optim: ModuleOptimizer, steps: usize) -> Vec<Vec<f32>> {
    let mut model = net();
    (0..steps)
        .map(|s| {
            let grads = model.grads(s);
            model = optim.step(0.05, model.clone(), grads);
            model.weights()
        })
        .collect()
}

/// Makes a fresh optimizer.
type Make = fn() -> ModuleOptimizer;

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn sgd_matches_burn() {
    for (momentum, dampening, nesterov, decay) in
        [(None, 0.0, false, None), (Some(0.9), 0.0, false, Some(5e-2)), (Some(0.8), 0.1, true, None)]
    {
        let m =
            momentum.map(|m| MomentumConfig::new().with_momentum(m).with_dampening(dampening).with_nesterov(nesterov));
        let wd = decay.map(WeightDecayConfig::new);
        let ours = run(FusedSgdConfig::new().with_momentum(m.clone()).with_weight_decay(wd.clone()).init(), 4);
        let burns = run(SgdConfig::new().with_momentum(m).with_weight_decay(wd).init(), 4);
        let diff = max_diff(&ours, &burns);
        assert!(diff <= 1e-6, "momentum {momentum:?} nesterov {nesterov} decay {decay:?}: max diff {diff}");
        assert!(max_diff(&ours[..1], &ours[3..]) > 1e-3, "the steps moved the weights");
    }
}

#[test]
fn adam_matches_burn() {
    for decay in [None, Some(1e-2)] {
        let wd = decay.map(WeightDecayConfig::new);
        let ours = run(FusedAdamConfig::new().with_epsilon(1e-8).with_weight_decay(wd.clone()).init(), 5);
        let burns = run(AdamConfig::new().with_epsilon(1e-8).with_weight_decay(wd).init(), 5);
        let diff = max_diff(&ours, &burns);
        assert!(diff <= 1e-6, "decay {decay:?}: max diff {diff}");
        assert!(max_diff(&ours[..1], &ours[4..]) > 1e-3, "the steps moved the weights");
    }
}

#[test]
fn adamw_matches_burn() {
    for decay in [0.0, 5e-2] {
        let ours = run(FusedAdamWConfig::new().with_weight_decay(decay).init(), 5);
        let burns = run(AdamWConfig::new().with_weight_decay(decay).init(), 5);
        let diff = max_diff(&ours, &burns);
        assert!(diff <= 1e-6, "decay {decay}: max diff {diff}");
        assert!(max_diff(&ours[..1], &ours[4..]) > 1e-3, "the steps moved the weights");
    }
}

#[test]
fn a_kept_clone_is_not_changed() {
    let mut optim = FusedSgdConfig::new().with_momentum(Some(MomentumConfig::new())).init();
    let model = net();
    let before = model.weights();
    let kept = model.clone();
    let grads = model.grads(0);
    let stepped = optim.step(0.1, model, grads);
    assert_eq!(kept.weights(), before, "the clone kept by the caller is bit-identical");
    assert_ne!(stepped.weights(), before);
}

/// Three steps with one optimizer, its record loaded into the other kind, one more step each:
/// the state names match, so both continue the same way.
#[test]
fn states_load_across_burn_and_fused() {
    let pairs: [(Make, Make); 3] = [
        (
            || FusedSgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init(),
            || SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init(),
        ),
        (|| FusedAdamConfig::new().init(), || AdamConfig::new().init()),
        (|| FusedAdamWConfig::new().init(), || AdamWConfig::new().init()),
    ];
    for (fused, burns) in pairs {
        for (first, second) in [(fused, burns), (burns, fused)] {
            let mut a = first();
            let mut model = net();
            for s in 0..3 {
                let grads = model.grads(s);
                model = a.step(0.05, model.clone(), grads);
            }
            let mut b = second().load_record(a.to_record());
            let grads = model.grads(3);
            let via_a = a.step(0.05, model.clone(), grads).weights();
            let grads = model.grads(3);
            let via_b = b.step(0.05, model, grads).weights();
            let diff = max_diff(&[via_a], &[via_b]);
            assert!(diff <= 1e-6, "resumed across optimizers: max diff {diff}");
        }
    }
}
