//! Fine-tuning configuration.

use burn::config::Config;
use kindling_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with (Nesterov) momentum.
    Sgd {
        /// Momentum factor.
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// AdamW (decoupled weight decay).
    AdamW {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
    },
}

impl Default for OptimizerKind {
    fn default() -> Self {
        OptimizerKind::Sgd { momentum: 0.9, nesterov: false }
    }
}

/// Learning-rate schedule over the whole run (applied per optimiser step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// Linear warm-up from 0 over `warmup_epochs`, then cosine decay to `min_factor` × LR at the end.
    WarmupCosine {
        /// Warm-up length in epochs (may be fractional).
        warmup_epochs: f64,
        /// Final LR as a fraction of the initial one.
        min_factor: f64,
    },
    /// Multiply the LR by `gamma` every `step_epochs` epochs.
    Step {
        /// Epochs between decays.
        step_epochs: usize,
        /// Decay factor.
        gamma: f64,
    },
}

impl Default for ScheduleKind {
    fn default() -> Self {
        ScheduleKind::WarmupCosine { warmup_epochs: 0.5, min_factor: 0.01 }
    }
}

/// Which stages are frozen (parameters and BatchNorm statistics), and when they thaw.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FreezePolicy {
    /// Stages frozen at the start, by name (`--freeze stem,layer1`).
    pub stages: Vec<String>,
    /// Freeze every stage from the input up to and including this one (`--freeze-until layer2`).
    pub until: Option<String>,
    /// Gradual unfreezing: after this many epochs, unfreeze the frozen stage nearest the head, then one
    /// more stage at the start of every following epoch (ULMFiT-style). `None` keeps them frozen.
    pub unfreeze_after: Option<usize>,
}

/// Learning rates: the new head trains at `base_lr`; pretrained stages at `base_lr ×
/// pretrained_multiplier × stage_decay^d`, where `d` counts stages between a stage and the head
/// (discriminative fine-tuning). From scratch, use a multiplier of 1 and decay 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrPolicy {
    /// LR of the new head.
    pub base_lr: f64,
    /// Factor for pretrained parameters (default 0.1).
    pub pretrained_multiplier: f64,
    /// Extra factor per stage away from the head (1.0 = none).
    pub stage_decay: f64,
}

impl Default for LrPolicy {
    fn default() -> Self {
        LrPolicy { base_lr: 0.01, pretrained_multiplier: 0.1, stage_decay: 1.0 }
    }
}

/// Everything that defines a fine-tuning (or from-scratch) run. Saved as `config.json` in the report.
///
/// ```
/// use kindling_transfer::FineTuneConfig;
/// let cfg = FineTuneConfig::new(10).with_epochs(3).with_batch_size(64);
/// cfg.check()?;
/// assert_eq!(cfg.lr.pretrained_multiplier, 0.1);
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct FineTuneConfig {
    /// Number of classes of the new head.
    pub num_classes: usize,
    /// Epochs.
    #[config(default = 5)]
    pub epochs: usize,
    /// Mini-batch size.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Optimiser.
    #[config(default = "OptimizerKind::Sgd { momentum: 0.9, nesterov: false }")]
    pub optimizer: OptimizerKind,
    /// Learning rates.
    #[config(default = "LrPolicy { base_lr: 0.01, pretrained_multiplier: 0.1, stage_decay: 1.0 }")]
    pub lr: LrPolicy,
    /// Schedule.
    #[config(default = "ScheduleKind::WarmupCosine { warmup_epochs: 0.5, min_factor: 0.01 }")]
    pub schedule: ScheduleKind,
    /// Weight decay (L2 for SGD, decoupled for AdamW).
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    /// Label smoothing in `[0, 1)`.
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// Freezing.
    #[config(default = "FreezePolicy::default()")]
    pub freeze: FreezePolicy,
    /// Fraction of the training data held out for validation (stratified).
    #[config(default = 0.1)]
    pub val_fraction: f64,
    /// Stop after this many epochs without a better validation accuracy.
    #[config(default = "None")]
    pub early_stopping_patience: Option<usize>,
    /// Clip the global gradient norm to this value.
    #[config(default = "None")]
    pub max_grad_norm: Option<f64>,
    /// Seed of everything random (initialisation, split, order, augmentation, dropout).
    #[config(default = 42)]
    pub seed: u64,
}

impl FineTuneConfig {
    /// Validates the hyper-parameters.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.num_classes < 2 {
            return bad(format!("num_classes must be at least 2, got {}", self.num_classes));
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be positive".into());
        }
        let lr = &self.lr;
        if !(lr.base_lr > 0.0 && lr.base_lr.is_finite()) {
            return bad(format!("learning rate must be positive and finite, got {}", lr.base_lr));
        }
        if !(lr.pretrained_multiplier >= 0.0 && lr.stage_decay > 0.0) {
            return bad("pretrained multiplier must be >= 0 and stage decay > 0".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("label smoothing must be in [0, 1), got {}", self.label_smoothing));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(format!("validation fraction must be in [0, 1), got {}", self.val_fraction));
        }
        if self.weight_decay < 0.0 {
            return bad("weight decay must be >= 0".into());
        }
        match self.schedule {
            ScheduleKind::Step { step_epochs: 0, .. } => return bad("step schedule needs step_epochs > 0".into()),
            ScheduleKind::WarmupCosine { warmup_epochs, min_factor }
                if warmup_epochs < 0.0 || !(0.0..=1.0).contains(&min_factor) =>
            {
                return bad("warm-up must be >= 0 epochs and min_factor in [0, 1]".into());
            }
            _ => {}
        }
        if let OptimizerKind::Sgd { momentum, .. } = self.optimizer
            && !(0.0..1.0).contains(&momentum)
        {
            return bad(format!("momentum must be in [0, 1), got {momentum}"));
        }
        Ok(())
    }

    /// A from-scratch configuration: every parameter trains at the base LR, nothing frozen.
    pub fn from_scratch(num_classes: usize) -> Self {
        Self::new(num_classes).with_lr(LrPolicy { base_lr: 0.05, pretrained_multiplier: 1.0, stage_decay: 1.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_hyperparameters() {
        assert!(FineTuneConfig::new(1).check().is_err());
        assert!(FineTuneConfig::new(3).with_label_smoothing(1.0).check().is_err());
        assert!(
            FineTuneConfig::new(3).with_schedule(ScheduleKind::Step { step_epochs: 0, gamma: 0.1 }).check().is_err()
        );
        let lr = LrPolicy { base_lr: f64::NAN, ..Default::default() };
        assert!(FineTuneConfig::new(3).with_lr(lr).check().is_err());
        assert!(FineTuneConfig::new(3).check().is_ok());
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = FineTuneConfig::new(4).with_freeze(FreezePolicy {
            stages: vec!["stem".into()],
            until: None,
            unfreeze_after: Some(2),
        });
        let json = serde_json::to_string(&cfg).unwrap();
        let back: FineTuneConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }
}
