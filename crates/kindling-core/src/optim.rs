//! SGD, Adam and AdamW with burn's update rules, each step one fused pass over a parameter on
//! burn-flex.
//!
//! burn's [`Sgd`](burn::optim::Sgd) and [`Adam`] build an update out of tensor
//! operations, each writing a fresh tensor: SGD with momentum and weight decay makes seven passes
//! over every parameter, Adam about thirteen. On ResNet-18 (11.7 M parameters) they took ≈ 12% of
//! a fine-tuning step. [`FusedSgd`], [`FusedAdam`] and [`FusedAdamW`] apply the same formulas element by element
//! in one parallel pass over burn-flex `f32` tensors, in place where the parameter and its state
//! are not shared (a caller keeping a clone of the model gets a copy, never a changed clone). On
//! other devices they run burn's tensor formulas. Their states are saved under the names burn's
//! optimizers use, so checkpoints move between the two.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::optim::GradientsParams;
//! use burn::optim::momentum::MomentumConfig;
//! use burn::tensor::{Device, Tensor};
//! use kindling_core::optim::FusedSgdConfig;
//!
//! let device = Device::flex().autodiff();
//! let model = LinearConfig::new(3, 2).init(&device);
//! let mut optim = FusedSgdConfig::new().with_momentum(Some(MomentumConfig::new())).init();
//! let loss = model.forward(Tensor::<2>::ones([4, 3], &device)).sum();
//! let grads = GradientsParams::from_grads(loss.backward(), &model);
//! let before = model.weight.val().sum().into_scalar::<f32>();
//! let model = optim.step(0.1, model, grads);
//! assert!(model.weight.val().sum().into_scalar::<f32>() < before);
//! ```

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer,
    Optimizer, RecordState, StateSink, StateSource, join_path,
};
use burn::tensor::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::cpu::{flex_f32, flex_from_f32, vectorize};

/// Elements per parallel task: small tensors (biases, norms) stay on one thread.
const CHUNK: usize = 1 << 14;

/// Settings of [`FusedSgd`]: the fields of burn's [`SgdConfig`](burn::optim::SgdConfig).
///
/// ```
/// use burn::optim::decay::WeightDecayConfig;
/// let _optim = kindling_core::optim::FusedSgdConfig::new()
///     .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
///     .init();
/// ```
#[derive(Config, Debug)]
pub struct FusedSgdConfig {
    /// L2 penalty: the gradient becomes `g + penalty · p`.
    pub weight_decay: Option<WeightDecayConfig>,
    /// Momentum, dampening and Nesterov.
    pub momentum: Option<MomentumConfig>,
    /// Gradient clipping, applied before the step.
    pub gradient_clipping: Option<GradientClippingConfig>,
}

impl FusedSgdConfig {
    /// The optimizer, ready for `ModuleOptimizer::step`.
    pub fn init(&self) -> ModuleOptimizer {
        let sgd = FusedSgd {
            penalty: self.weight_decay.as_ref().map(|w| w.penalty),
            momentum: self.momentum.as_ref().map(|m| (m.momentum as f32, (1.0 - m.dampening) as f32, m.nesterov)),
        };
        with_clipping(sgd, self.gradient_clipping.as_ref())
    }
}

/// SGD with optional momentum (dampening, Nesterov) and L2 weight decay, as burn's `Sgd`
/// computes it, in one pass on burn-flex (see the [module documentation](self)).
///
/// ```
/// let _optim = kindling_core::optim::FusedSgdConfig::new().init();
/// ```
#[derive(Clone, Debug)]
pub struct FusedSgd {
    penalty: Option<f32>,
    /// `(momentum, 1 - dampening, nesterov)`.
    momentum: Option<(f32, f32, bool)>,
}

/// [`FusedSgd`]'s state for one parameter: the momentum buffer (`None` without momentum), saved
/// under the name burn's `SgdState` uses (`momentum.velocity`).
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// let state = kindling_core::optim::FusedSgdState { velocity: Some(Tensor::<1>::zeros([3], &Device::flex())) };
/// assert_eq!(state.velocity.map(|v| v.dims()), Some([3]));
/// ```
#[derive(Clone, Debug)]
pub struct FusedSgdState<const D: usize> {
    /// The velocity `v`.
    pub velocity: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for FusedSgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(&join_path(prefix, "momentum"), "velocity", v.to_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src.take_tensor(&join_path(prefix, "momentum"), "velocity");
        Some(Self { velocity: velocity.map(|data| Tensor::from_data(data, device)) })
    }
}

impl Optimizer for FusedSgd {
    type State<const D: usize> = FusedSgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let fused = on_flex(&tensor) && on_flex(&grad) && velocity.as_ref().is_none_or(on_flex);
        let (tensor, velocity) =
            if fused { self.fused(lr, tensor, grad, velocity) } else { self.tensor_ops(lr, tensor, grad, velocity) };
        (tensor, Some(FusedSgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        FusedSgdState { velocity: state.velocity.map(|v| v.to_device(device)) }
    }
}

impl FusedSgd {
    /// burn's formulas as tensor operations (any device).
    fn tensor_ops<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        mut grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        if let Some(penalty) = self.penalty {
            grad = tensor.clone().mul_scalar(penalty).add(grad);
        }
        let mut new_velocity = None;
        if let Some((momentum, keep, nesterov)) = self.momentum {
            let v = match velocity {
                Some(v) => grad.clone().mul_scalar(keep).add(v.mul_scalar(momentum)),
                None => grad.clone(),
            };
            grad = if nesterov { v.clone().mul_scalar(momentum).add(grad) } else { v.clone() };
            new_velocity = Some(v);
        }
        (tensor - grad.mul_scalar(lr), new_velocity)
    }

    /// The same formulas, element by element in one pass.
    fn fused<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        let (lr, penalty) = (lr as f32, self.penalty);
        let shape = tensor.dims();
        let mut p = writable(flex(tensor));
        let g = flex(grad);
        let g = flex_f32(&g);
        let decayed = |p: f32, g: f32| match penalty {
            Some(penalty) => p * penalty + g,
            None => g,
        };
        let Some((momentum, keep, nesterov)) = self.momentum else {
            p.storage_mut::<f32>().par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(p, g)| {
                vectorize(|| p.iter_mut().zip(g).for_each(|(p, &g)| *p -= decayed(*p, g) * lr));
            });
            return (tensor_from(p), None);
        };
        let first = velocity.is_none();
        let mut v = match velocity {
            Some(v) => writable(flex(v)),
            None => FlexTensor::zeros(shape.into(), DType::F32),
        };
        let chunks = p.storage_mut::<f32>().par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK));
        chunks.zip(v.storage_mut::<f32>().par_chunks_mut(CHUNK)).for_each(|((p, g), v)| {
            vectorize(|| {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    let g = decayed(*p, g);
                    *v = if first { g } else { g * keep + *v * momentum };
                    let step = if nesterov { *v * momentum + g } else { *v };
                    *p -= step * lr;
                }
            });
        });
        (tensor_from(p), Some(tensor_from(v)))
    }
}

/// Settings of [`FusedAdam`]: the fields of burn's [`AdamConfig`] (without AMSGrad).
///
/// ```
/// let _optim = kindling_core::optim::FusedAdamConfig::new().with_epsilon(1e-8).init();
/// ```
#[derive(Config, Debug)]
pub struct FusedAdamConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to the denominator (burn's default, 1e-5; PyTorch's is 1e-8).
    #[config(default = 1e-5)]
    pub epsilon: f32,
    /// L2 penalty: the gradient becomes `g + penalty · p`.
    pub weight_decay: Option<WeightDecayConfig>,
    /// Gradient clipping, applied before the step.
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl FusedAdamConfig {
    /// The optimizer, ready for `ModuleOptimizer::step`.
    pub fn init(&self) -> ModuleOptimizer {
        let burn = AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay.clone())
            .build();
        let moments = Moments { beta_1: self.beta_1, beta_2: self.beta_2, epsilon: self.epsilon };
        let penalty = self.weight_decay.as_ref().map(|w| w.penalty);
        with_clipping(FusedAdam { moments, penalty, burn: Fallback(burn) }, self.grad_clipping.as_ref())
    }
}

/// Adam with optional L2 weight decay, as burn's `Adam` computes it (bias corrections folded into
/// the step size), in one pass on burn-flex; its state is burn's [`AdamState`].
///
/// ```
/// let _optim = kindling_core::optim::FusedAdamConfig::new().init();
/// ```
#[derive(Clone, Debug)]
pub struct FusedAdam {
    moments: Moments,
    penalty: Option<f32>,
    /// burn's Adam with the same settings, for other devices.
    burn: Fallback<Adam>,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let moments = state.as_ref().map(|s| &s.momentum);
        if !adam_fuses(&tensor, &grad, moments) {
            return self.burn.0.step(lr, tensor, grad, state);
        }
        let rule = AdamRule::L2 { penalty: self.penalty };
        let (tensor, moments) = adam_pass(self.moments, rule, lr, tensor, grad, state.map(|s| s.momentum));
        (tensor, Some(AdamState::new(moments)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// Settings of [`FusedAdamW`]: the fields of burn's [`AdamWConfig`] (without AMSGrad and cautious
/// weight decay).
///
/// ```
/// let _optim = kindling_core::optim::FusedAdamWConfig::new().with_weight_decay(1e-2).init();
/// ```
#[derive(Config, Debug)]
pub struct FusedAdamWConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to the denominator.
    #[config(default = 1e-5)]
    pub epsilon: f32,
    /// Decoupled weight decay: each step scales the parameter by `1 - lr · weight_decay`.
    #[config(default = 1e-4)]
    pub weight_decay: f32,
    /// Gradient clipping, applied before the step.
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl FusedAdamWConfig {
    /// The optimizer, ready for `ModuleOptimizer::step`.
    pub fn init(&self) -> ModuleOptimizer {
        let burn = AdamWConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
            .build();
        let moments = Moments { beta_1: self.beta_1, beta_2: self.beta_2, epsilon: self.epsilon };
        let adamw = FusedAdamW { moments, weight_decay: self.weight_decay, burn: Fallback(burn) };
        with_clipping(adamw, self.grad_clipping.as_ref())
    }
}

/// AdamW (Adam with decoupled weight decay) as burn's `AdamW` computes it, in one pass on
/// burn-flex; its state is burn's [`AdamWState`].
///
/// ```
/// let _optim = kindling_core::optim::FusedAdamWConfig::new().init();
/// ```
#[derive(Clone, Debug)]
pub struct FusedAdamW {
    moments: Moments,
    weight_decay: f32,
    /// burn's AdamW with the same settings, for other devices.
    burn: Fallback<AdamW>,
}

/// The moment decays and ε of the Adam variants.
#[derive(Clone, Copy, Debug)]
struct Moments {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

/// `optim` as a module optimizer, with gradient clipping when configured.
fn with_clipping<O: Optimizer>(optim: O, clip: Option<&GradientClippingConfig>) -> ModuleOptimizer {
    let optim = ModuleOptimizer::from(optim);
    match clip {
        Some(clip) => optim.with_grad_clipping(clip.init()),
        None => optim,
    }
}

/// burn's optimizer behind a fused one, for tensors the kernels do not take (it has no `Debug`).
#[derive(Clone)]
struct Fallback<O>(O);

impl<O> std::fmt::Debug for Fallback<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("burn's optimizer")
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let moments = state.as_ref().map(|s| &s.momentum);
        if !adam_fuses(&tensor, &grad, moments) {
            return self.burn.0.step(lr, tensor, grad, state);
        }
        let rule = AdamRule::Decoupled { keep: (1.0 - lr * f64::from(self.weight_decay)) as f32 };
        let (tensor, moments) = adam_pass(self.moments, rule, lr, tensor, grad, state.map(|s| s.momentum));
        (tensor, Some(AdamWState { momentum: moments }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

/// How the Adam variants apply weight decay.
#[derive(Clone, Copy)]
enum AdamRule {
    /// Adam: `g + penalty · p`, bias corrections folded into the step and ε (burn's `Adam`).
    L2 { penalty: Option<f32> },
    /// AdamW: the parameter scaled by `keep = 1 − lr · weight_decay`, bias-corrected moments
    /// (burn's `AdamW`).
    Decoupled { keep: f32 },
}

/// Whether [`adam_pass`] takes this parameter: all on burn-flex, no AMSGrad maximum.
fn adam_fuses<const D: usize>(
    tensor: &Tensor<D>,
    grad: &Tensor<D>,
    moments: Option<&AdaptiveMomentumState<D>>,
) -> bool {
    on_flex(tensor)
        && on_flex(grad)
        && moments.is_none_or(|m| m.max_moment_2.is_none() && on_flex(&m.moment_1) && on_flex(&m.moment_2))
}

/// One Adam or AdamW step over a parameter, element by element.
fn adam_pass<const D: usize>(
    Moments { beta_1: b1, beta_2: b2, epsilon }: Moments,
    rule: AdamRule,
    lr: LearningRate,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<AdaptiveMomentumState<D>>,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let shape = tensor.dims();
    let (time, mut m, mut v) = match moments {
        Some(s) => (s.time + 1, writable(flex(s.moment_1)), writable(flex(s.moment_2))),
        None => (1, FlexTensor::zeros(shape.into(), DType::F32), FlexTensor::zeros(shape.into(), DType::F32)),
    };
    let mut p = writable(flex(tensor));
    let g = flex(grad);
    let g = flex_f32(&g);
    let (bias1, bias2) = (1.0 - b1.powi(time as i32), 1.0 - b2.powi(time as i32));
    let (factor, eps) = (bias2.sqrt() / bias1, epsilon * bias2.sqrt());
    let lr = lr as f32;
    let pg = p.storage_mut::<f32>().par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK));
    let mv = m.storage_mut::<f32>().par_chunks_mut(CHUNK).zip(v.storage_mut::<f32>().par_chunks_mut(CHUNK));
    pg.zip(mv).for_each(|((p, g), (m, v))| {
        vectorize(|| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = match rule {
                    AdamRule::L2 { penalty: Some(penalty) } => *p * penalty + g,
                    _ => g,
                };
                *m = *m * b1 + g * (1.0 - b1);
                *v = *v * b2 + g * g * (1.0 - b2);
                *p = match rule {
                    AdamRule::L2 { .. } => *p - *m * factor / (v.sqrt() + eps) * lr,
                    AdamRule::Decoupled { keep } => *p * keep - *m / bias1 / ((*v / bias2).sqrt() + epsilon) * lr,
                };
            }
        });
    });
    (tensor_from(p), AdaptiveMomentumState::new(time, tensor_from(m), tensor_from(v)))
}

/// Whether the fused kernels take `t`: an `f32` tensor burn-flex holds without autodiff (the
/// conversion [`flex`] makes, tried on a handle that shares the data).
fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    t.dtype() == DType::F32 && t.clone().try_into_primitive::<Flex>().is_ok()
}

/// The burn-flex primitive of a tensor [`on_flex`] accepted.
fn flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
    match t.try_into_primitive::<Flex>() {
        Ok(t) => t,
        Err(e) => unreachable!("on_flex accepted a tensor burn-flex does not hold: {e:?}"),
    }
}

fn tensor_from<const D: usize>(t: FlexTensor) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(t)
}

/// `t` itself when it solely owns exactly its contiguous storage (updated in place), else a copy.
fn writable(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    if t.is_unique() && t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4 {
        return t;
    }
    let shape = t.layout().shape().to_vec();
    flex_from_f32(flex_f32(&t).into_owned(), shape)
}
