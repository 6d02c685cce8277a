//! Hyper-parameters of a training run: optimiser, learning-rate schedule, monitor.

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::ModuleOptimizer;
use burn::optim::decay::WeightDecayConfig;
use kindling_core::optim::{FusedAdamConfig, FusedAdamWConfig};
use serde::{Deserialize, Serialize};

use super::EvalStats;
use crate::{Result, SeqError};

/// The optimiser of a [`TrainConfig`].
///
/// ```
/// use kindling_seq::train::OptimizerKind;
/// assert_eq!("adamw".parse::<OptimizerKind>()?, OptimizerKind::AdamW);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (β = 0.9, 0.999, ε = 1e-8 as in PyTorch); `weight_decay` is an L2 term on the gradient.
    Adam,
    /// AdamW: decoupled weight decay.
    AdamW,
}

impl std::str::FromStr for OptimizerKind {
    type Err = SeqError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adam" => Ok(Self::Adam),
            "adamw" => Ok(Self::AdamW),
            _ => Err(SeqError::Config(format!("unknown optimizer `{s}`: expected adam or adamw"))),
        }
    }
}

/// Learning rate over the run, per optimiser step.
///
/// ```
/// use kindling_seq::train::LrSchedule;
/// let cosine = LrSchedule::Cosine { warmup_steps: 10, min_factor: 0.1 };
/// assert_eq!(cosine.factor(0, 110), 0.1); // warm-up starts at min_factor
/// assert_eq!(cosine.factor(10, 110), 1.0);
/// assert!((cosine.factor(60, 110) - 0.55).abs() < 1e-12);
/// assert_eq!(cosine.factor(500, 110), 0.1); // bounded after the last step
/// assert_eq!(LrSchedule::Constant.factor(500, 110), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// The configured learning rate throughout.
    Constant,
    /// Linear warm-up from `min_factor` over `warmup_steps`, then cosine decay to `min_factor`
    /// times the learning rate at the last step, and constant after it.
    Cosine {
        /// Warm-up length in optimiser steps.
        warmup_steps: usize,
        /// Floor, as a fraction of the configured learning rate.
        min_factor: f64,
    },
}

impl LrSchedule {
    /// The factor applied to the learning rate at (0-based) `step` of `total` steps.
    pub fn factor(&self, step: usize, total: usize) -> f64 {
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine { warmup_steps, min_factor } => {
                if step < warmup_steps {
                    return min_factor + (1.0 - min_factor) * step as f64 / warmup_steps as f64;
                }
                let span = total.saturating_sub(warmup_steps).max(1);
                let t = ((step - warmup_steps) as f64 / span as f64).min(1.0);
                min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

/// Which validation value early stopping and best-model selection follow.
///
/// ```
/// use kindling_seq::train::{EvalStats, Monitor};
/// let s = EvalStats { loss: 0.3, accuracy: 0.9, count: 10, extra: Default::default() };
/// assert_eq!(Monitor::Accuracy.score(&s), 0.9);
/// assert_eq!(Monitor::Loss.score(&s), -0.3); // higher is better
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation accuracy, higher is better.
    Accuracy,
    /// Validation loss, lower is better.
    Loss,
}

impl Monitor {
    /// The monitored value of `stats`, signed so that higher is better.
    pub fn score(self, stats: &EvalStats) -> f64 {
        match self {
            Monitor::Accuracy => stats.accuracy,
            Monitor::Loss => -stats.loss,
        }
    }
}

/// Hyper-parameters of a [`Trainer`](super::Trainer) run (serialised into the run's `config.json`).
///
/// ```
/// use kindling_seq::train::{LrSchedule, TrainConfig};
/// let c = TrainConfig::new()
///     .with_epochs(20)
///     .with_lr(2e-3)
///     .with_schedule(LrSchedule::Cosine { warmup_steps: 100, min_factor: 0.05 })
///     .with_patience(Some(3));
/// c.validate()?;
/// assert!(TrainConfig::new().with_batch_size(0).validate().is_err());
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Number of epochs.
    #[config(default = 10)]
    pub epochs: usize,
    /// Items per batch.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// Optimiser.
    #[config(default = "OptimizerKind::Adam")]
    pub optimizer: OptimizerKind,
    /// Weight decay (L2 for Adam, decoupled for AdamW); 0 for none.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm (all parameters together, like PyTorch's
    /// `clip_grad_norm_`) to this value; `None` for no clipping.
    #[config(default = "Some(5.0)")]
    pub max_grad_norm: Option<f64>,
    /// Learning-rate schedule.
    #[config(default = "LrSchedule::Constant")]
    pub schedule: LrSchedule,
    /// Stop after this many epochs without improvement of the monitored validation value.
    #[config(default = "None")]
    pub patience: Option<usize>,
    /// Validation value followed by early stopping and best-model selection.
    #[config(default = "Monitor::Accuracy")]
    pub monitor: Monitor,
    /// Seed of every random draw of the run (batch order, dropout).
    #[config(default = 42)]
    pub seed: u64,
}

impl TrainConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SeqError::Config(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad(format!("epochs ({}) and batch_size ({}) must be positive", self.epochs, self.batch_size));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("the learning rate must be positive, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay must be >= 0, got {}", self.weight_decay));
        }
        if let Some(n) = self.max_grad_norm.filter(|n| !(n.is_finite() && *n > 0.0)) {
            return bad(format!("max_grad_norm must be positive, got {n}"));
        }
        if let LrSchedule::Cosine { min_factor, .. } = self.schedule
            && !(0.0..=1.0).contains(&min_factor)
        {
            return bad(format!("the cosine floor min_factor must be in [0, 1], got {min_factor}"));
        }
        Ok(())
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
        match self.optimizer {
            OptimizerKind::Adam => FusedAdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay((self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32)))
                .init(),
            OptimizerKind::AdamW => FusedAdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(self.weight_decay as f32)
                .with_grad_clipping(None::<GradientClippingConfig>)
                .init(),
        }
    }
}
