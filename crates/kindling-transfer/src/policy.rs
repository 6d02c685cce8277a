//! Freezing and learning-rate policies resolved against a model's stages.

use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::module::ParamGroup;
use burn::optim::LearningRate;
use kindling_core::{Error, Result};
use kindling_vision::StagedClassifier;

use crate::config::{FineTuneConfig, FreezePolicy, LrPolicy, ScheduleKind};

/// A model's stages with their parameter patterns, in forward order (the head last).
#[derive(Debug, Clone, PartialEq)]
pub struct Stages {
    /// `(name, regex over parameter paths)`.
    pub stages: Vec<(String, String)>,
}

impl Stages {
    /// Reads the stages of `model`.
    pub fn of<M: StagedClassifier>(model: &M) -> Self {
        let stages = model.stage_names().into_iter().filter_map(|s| model.stage_pattern(&s).map(|p| (s, p))).collect();
        Stages { stages }
    }

    /// Position of a stage by name, with a typed error listing the valid names.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.stages.iter().position(|(n, _)| n == name).ok_or_else(|| {
            Error::Config(format!(
                "unknown stage `{name}`; this model has: {}",
                self.stages.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Index of the head (the last stage).
    pub fn head(&self) -> usize {
        self.stages.len().saturating_sub(1)
    }

    /// A parameter group matching any of the given stages.
    pub fn group(&self, indices: &[usize]) -> Result<ParamGroup> {
        let patterns: Vec<&str> = indices.iter().map(|&i| self.stages[i].1.as_str()).collect();
        ParamGroup::from_any_regexes(patterns).map_err(|e| Error::Config(format!("stage pattern: {e:?}")))
    }
}

/// Stages frozen at the start of a run, sorted; the head can never be frozen.
///
/// ```
/// use kindling_transfer::{FreezePolicy, policy::{Stages, initially_frozen}};
/// let s = Stages { stages: ["stem", "layer1", "layer2", "fc"].iter().map(|n| (n.to_string(), format!("^{n}\\."))).collect() };
/// let p = FreezePolicy { stages: vec!["layer2".into()], until: Some("layer1".into()), unfreeze_after: None };
/// assert_eq!(initially_frozen(&s, &p)?, vec![0, 1, 2]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn initially_frozen(stages: &Stages, policy: &FreezePolicy) -> Result<Vec<usize>> {
    let mut frozen = Vec::new();
    if let Some(until) = &policy.until {
        frozen.extend(0..=stages.index(until)?);
    }
    for s in &policy.stages {
        frozen.push(stages.index(s)?);
    }
    frozen.sort_unstable();
    frozen.dedup();
    if frozen.contains(&stages.head()) {
        return Err(Error::Config(format!("the head `{}` cannot be frozen", stages.stages[stages.head()].0)));
    }
    Ok(frozen)
}

/// Stages still frozen during `epoch` (0-based) under gradual unfreezing: from epoch
/// `unfreeze_after` on, one stage per epoch thaws, nearest the head first.
pub fn frozen_at(initial: &[usize], policy: &FreezePolicy, epoch: usize) -> Vec<usize> {
    match policy.unfreeze_after {
        Some(k) if epoch >= k => {
            let thawed = epoch - k + 1;
            initial[..initial.len().saturating_sub(thawed)].to_vec()
        }
        _ => initial.to_vec(),
    }
}

/// Peak learning rate of each stage: the head gets `base_lr`; the others
/// `base_lr × pretrained_multiplier × stage_decay^(distance to the head − 1)`.
///
/// ```
/// use kindling_transfer::{LrPolicy, policy::stage_lrs};
/// let lrs = stage_lrs(4, &LrPolicy { base_lr: 0.1, pretrained_multiplier: 0.1, stage_decay: 0.5 });
/// assert_eq!(lrs.len(), 4);
/// assert!((lrs[3] - 0.1).abs() < 1e-12);   // head
/// assert!((lrs[2] - 0.01).abs() < 1e-12);  // next to the head
/// assert!((lrs[0] - 0.0025).abs() < 1e-12);
/// ```
pub fn stage_lrs(num_stages: usize, lr: &LrPolicy) -> Vec<f64> {
    (0..num_stages)
        .map(|i| {
            if i + 1 == num_stages {
                lr.base_lr
            } else {
                let d = (num_stages - 2 - i) as i32;
                lr.base_lr * lr.pretrained_multiplier * lr.stage_decay.powi(d)
            }
        })
        .collect()
}

/// An LR schedule scaled to one peak LR; implements burn's [`LrScheduler`] so that it plugs into a
/// [`ModuleLrScheduler`] group and saves/restores its position.
#[derive(Debug, Clone)]
pub struct ScheduledLr {
    peak: f64,
    kind: ScheduleKind,
    steps_per_epoch: usize,
    total_steps: usize,
    step: usize,
}

impl ScheduledLr {
    /// A schedule of `kind` peaking at `peak` over `epochs × steps_per_epoch` steps.
    pub fn new(peak: f64, kind: ScheduleKind, steps_per_epoch: usize, epochs: usize) -> Self {
        ScheduledLr {
            peak,
            kind,
            steps_per_epoch: steps_per_epoch.max(1),
            total_steps: (steps_per_epoch * epochs).max(1),
            step: 0,
        }
    }

    /// The LR factor (of the peak) at step `t` (0-based).
    pub fn factor(&self, t: usize) -> f64 {
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Step { step_epochs, gamma } => gamma.powi((t / (step_epochs * self.steps_per_epoch)) as i32),
            ScheduleKind::WarmupCosine { warmup_epochs, min_factor } => {
                let warm = (warmup_epochs * self.steps_per_epoch as f64).round() as usize;
                if t < warm {
                    (t + 1) as f64 / warm as f64
                } else {
                    let span = (self.total_steps - warm.min(self.total_steps)).max(1) as f64;
                    let p = ((t - warm) as f64 / span).min(1.0);
                    min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
                }
            }
        }
    }
}

impl LrScheduler for ScheduledLr {
    fn step(&mut self) -> LearningRate {
        let lr = self.peak * self.factor(self.step);
        self.step += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("step", self.step as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(step) = record.scalar::<u64>("step") {
            self.step = step as usize;
        }
    }
}

/// Builds the per-stage LR scheduler: one group per stage with its own peak LR, all following the
/// same schedule.
pub fn lr_scheduler(stages: &Stages, config: &FineTuneConfig, steps_per_epoch: usize) -> Result<ModuleLrScheduler> {
    let lrs = stage_lrs(stages.stages.len(), &config.lr);
    let make = |peak: f64| ScheduledLr::new(peak, config.schedule, steps_per_epoch, config.epochs);
    // Parameters outside every stage pattern (none in Kindling's models) train as pretrained ones.
    let fallback = config.lr.base_lr * config.lr.pretrained_multiplier;
    let mut sched = ModuleLrScheduler::new(make(fallback));
    for (i, &lr) in lrs.iter().enumerate() {
        sched = sched.with_group(stages.group(&[i])?, make(lr));
    }
    Ok(sched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages() -> Stages {
        Stages { stages: ["stem", "a", "b", "head"].iter().map(|n| (n.to_string(), format!(r"^{n}\."))).collect() }
    }

    #[test]
    fn gradual_unfreezing_thaws_nearest_the_head_first() {
        let p = FreezePolicy { stages: vec![], until: Some("b".into()), unfreeze_after: Some(2) };
        let init = initially_frozen(&stages(), &p).unwrap();
        assert_eq!(frozen_at(&init, &p, 0), vec![0, 1, 2]);
        assert_eq!(frozen_at(&init, &p, 1), vec![0, 1, 2]);
        assert_eq!(frozen_at(&init, &p, 2), vec![0, 1]);
        assert_eq!(frozen_at(&init, &p, 3), vec![0]);
        assert_eq!(frozen_at(&init, &p, 9), Vec::<usize>::new());
    }

    #[test]
    fn unknown_or_head_stage_is_an_error() {
        let p = FreezePolicy { stages: vec!["nope".into()], ..Default::default() };
        assert!(initially_frozen(&stages(), &p).unwrap_err().to_string().contains("stem, a, b, head"));
        let p = FreezePolicy { stages: vec!["head".into()], ..Default::default() };
        assert!(initially_frozen(&stages(), &p).is_err());
    }

    #[test]
    fn warmup_cosine_shape() {
        let s = ScheduledLr::new(1.0, ScheduleKind::WarmupCosine { warmup_epochs: 1.0, min_factor: 0.0 }, 10, 3);
        assert!((s.factor(0) - 0.1).abs() < 1e-12);
        assert!((s.factor(9) - 1.0).abs() < 1e-12);
        assert!((s.factor(10) - 1.0).abs() < 1e-12);
        assert!(s.factor(20) < 0.6 && s.factor(20) > 0.4);
        assert!(s.factor(29) < 0.01);
        assert_eq!(s.factor(100), 0.0, "clamped after the end, never rising again");
        let st = ScheduledLr::new(1.0, ScheduleKind::Step { step_epochs: 1, gamma: 0.5 }, 4, 3);
        assert_eq!((st.factor(3), st.factor(4), st.factor(8)), (1.0, 0.5, 0.25));
    }

    #[test]
    fn scheduler_record_restores_position() {
        let mut a = ScheduledLr::new(2.0, ScheduleKind::default(), 5, 4);
        for _ in 0..7 {
            a.step();
        }
        let mut b = ScheduledLr::new(2.0, ScheduleKind::default(), 5, 4);
        b.load_record(a.to_record());
        assert_eq!(a.step(), b.step());
    }
}
