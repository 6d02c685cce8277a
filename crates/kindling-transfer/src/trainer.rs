//! The fine-tuning loop.
//!
//! Kindling runs its own loop on burn's building blocks (autodiff, `ModuleOptimizer`,
//! `ModuleLrScheduler`, `freeze_group`, records) instead of burn-train's `Learner`, because the
//! Learner cannot change which parameters are frozen between epochs (gradual unfreezing), does not
//! make a resumed run bit-identical to an uninterrupted one (its data order and dropout draws are
//! not tied to the epoch), writes checkpoints non-atomically, and has no typed error for a diverging
//! loss. See docs/transfer.md.

use std::path::PathBuf;
use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use kindling_core::optim::{FusedAdamWConfig, FusedSgdConfig};
use kindling_core::{Error, Result, derive_seed, seeded_rng};
use kindling_data::transform::Pipeline;
use kindling_data::{ImageItem, TransformDataset, stack_items};
use kindling_vision::StagedClassifier;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::config::{FineTuneConfig, OptimizerKind};
use crate::metrics::Metrics;
use crate::policy::{ScheduledLr, Stages, frozen_at, initially_frozen, lr_scheduler, stage_lrs};
use crate::progress::{Progress, ProgressMode};

/// Validation summary of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValSummary {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Top-5 accuracy.
    pub top5: f64,
    /// Macro F1.
    pub macro_f1: f64,
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on augmented batches, in training mode).
    pub train_accuracy: f64,
    /// Validation metrics, when a validation set is used.
    pub val: Option<ValSummary>,
    /// Learning rate of the head at the end of the epoch.
    pub head_lr: f64,
    /// Stages frozen during the epoch.
    pub frozen: Vec<String>,
    /// Wall time of the epoch (training and validation).
    pub seconds: f64,
}

/// Trainer state saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainState {
    /// First epoch still to run.
    pub next_epoch: usize,
    /// Per-epoch history.
    pub history: Vec<EpochRecord>,
    /// Best validation accuracy so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Datasets and preprocessing for a run.
pub struct TrainData<D> {
    /// Training images.
    pub train: D,
    /// Validation images (may be absent).
    pub val: Option<D>,
    /// Class names.
    pub classes: Vec<String>,
    /// Training preprocessing, augmentation included.
    pub train_pipeline: Pipeline,
    /// Evaluation preprocessing.
    pub eval_pipeline: Pipeline,
}

/// Where and how a run reports.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Folder for checkpoints (`<dir>/checkpoint`); none means no checkpoints.
    pub run_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `run_dir` if there is one.
    pub resume: bool,
    /// Progress output.
    pub progress: ProgressMode,
    /// Label printed in front of progress lines.
    pub label: String,
    /// Stop (as if interrupted) after this many epochs of this invocation; for tests and time-boxing.
    pub stop_after: Option<usize>,
}

/// The result of [`fit`].
pub struct FitOutcome<M> {
    /// The model after the last epoch (or the best one when early stopping restored it), in
    /// validation mode on the plain device.
    pub model: M,
    /// History and status.
    pub state: TrainState,
    /// Seconds spent in this invocation.
    pub seconds: f64,
}

/// A borrowed dataset, so that pipelines can wrap datasets the caller keeps.
struct Borrowed<'a, D>(&'a D);

impl<D: Dataset<ImageItem>> Dataset<ImageItem> for Borrowed<'_, D> {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, burn::data::dataset::DatasetError> {
        self.0.get(index)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The optimizer [`fit`] uses for `config`: SGD (momentum, Nesterov, weight decay) or AdamW, with
/// gradient clipping when `max_grad_norm` is set. Pair it with
/// [`policy::lr_scheduler`](crate::policy::lr_scheduler) to run the loop's steps yourself.
///
/// ```
/// use kindling_transfer::{FineTuneConfig, build_optimizer};
/// let _optim = build_optimizer(&FineTuneConfig::new(10));
/// ```
pub fn build_optimizer(config: &FineTuneConfig) -> ModuleOptimizer {
    let clip = config.max_grad_norm.map(|n| GradientClippingConfig::Norm(n as f32));
    match config.optimizer {
        OptimizerKind::Sgd { momentum, nesterov } => {
            let mut c = FusedSgdConfig::new().with_gradient_clipping(clip);
            if momentum > 0.0 {
                c = c.with_momentum(Some(
                    MomentumConfig::new().with_momentum(momentum).with_dampening(0.0).with_nesterov(nesterov),
                ));
            }
            if config.weight_decay > 0.0 {
                c = c.with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)));
            }
            c.init()
        }
        OptimizerKind::AdamW { beta1, beta2 } => FusedAdamWConfig::new()
            .with_beta_1(beta1)
            .with_beta_2(beta2)
            .with_weight_decay(config.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
    }
}

/// Trains `model` (already carrying an `num_classes`-way head) on `data`.
///
/// Frozen stages keep their parameters and BatchNorm statistics bit-identical; every epoch ends
/// with validation and an atomic checkpoint; a resumed run continues exactly where it stopped.
pub fn fit<M, D>(
    model: M,
    data: &TrainData<D>,
    config: &FineTuneConfig,
    options: &RunOptions,
    device: &Device,
) -> Result<FitOutcome<M>>
where
    M: StagedClassifier,
    D: Dataset<ImageItem>,
{
    config.check()?;
    if model.num_classes() != config.num_classes || data.classes.len() != config.num_classes {
        return Err(Error::Config(format!(
            "the model has {} classes, the data {}, the config {}",
            model.num_classes(),
            data.classes.len(),
            config.num_classes
        )));
    }
    let started = Instant::now();
    let stages = Stages::of(&model);
    let initial_frozen = initially_frozen(&stages, &config.freeze)?;
    let n = data.train.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let ad = device.clone().autodiff();
    let mut model = model.fork(&ad).train();
    let mut optim = build_optimizer(config);
    let mut sched = lr_scheduler(&stages, config, steps_per_epoch)?;
    let head_peak = stage_lrs(stages.stages.len(), &config.lr)[stages.head()];
    let head_schedule = ScheduledLr::new(head_peak, config.schedule, steps_per_epoch, config.epochs);
    let ckpt_dir = options.run_dir.as_ref().map(|d| d.join("checkpoint"));
    let mut state = TrainState::default();
    let mut best_model: Option<M> = None;
    if let (true, Some(dir)) = (options.resume, &ckpt_dir)
        && let Some(saved) = checkpoint::load_state(dir)?
    {
        (model, optim, sched) = checkpoint::restore(dir, model, optim, sched)?;
        state = saved;
    }
    let train =
        TransformDataset::new(Borrowed(&data.train), data.train_pipeline.clone(), derive_seed(config.seed, "augment"));
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing((config.label_smoothing > 0.0).then_some(config.label_smoothing as f32))
        .init(&ad);
    let mut frozen_now: Vec<usize> = Vec::new();
    let mut progress = Progress::new(options.progress, &options.label);
    let mut ran = 0;
    while state.next_epoch < config.epochs && !state.stopped_early {
        if options.stop_after.is_some_and(|s| ran >= s) {
            break;
        }
        let epoch = state.next_epoch;
        let epoch_start = Instant::now();
        // Freezing for this epoch.
        let frozen = frozen_at(&initial_frozen, &config.freeze, epoch);
        if frozen != frozen_now {
            if !frozen_now.is_empty() {
                model = model.unfreeze_group(stages.group(&frozen_now)?);
            }
            if !frozen.is_empty() {
                model = model.freeze_group(stages.group(&frozen)?);
            }
            frozen_now = frozen.clone();
        }
        let frozen_names: Vec<String> = frozen.iter().map(|&i| stages.stages[i].0.clone()).collect();
        // Everything random in this epoch is derived from (seed, epoch): order, augmentation, dropout.
        ad.seed(derive_seed(config.seed, &format!("dropout/{epoch}")));
        train.set_epoch(epoch as u64);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut seeded_rng(derive_seed(config.seed, &format!("order/{epoch}"))));
        progress.start_epoch(epoch, config.epochs, steps_per_epoch, &frozen_names);
        let (mut loss_sum, mut correct, mut head_lr) = (0.0f64, 0usize, 0.0f64);
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let items = chunk
                .par_iter()
                .map(|&i| train.get(i))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Config(format!("training item: {e}")))?;
            let batch = stack_items(&items, &ad);
            let logits = model.forward(batch.images);
            let loss = loss_fn.forward(logits.clone(), batch.targets);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(Error::NonFinite { epoch: epoch + 1, step: step + 1, value });
            }
            let preds = kindling_core::tensor::argmax_rows(logits.without_autodiff())?;
            correct += preds.iter().zip(&items).filter(|(p, it)| **p == it.label).count();
            loss_sum += value * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            head_lr = head_peak * head_schedule.factor(epoch * steps_per_epoch + step);
            model = optim.step(sched.step(), model, grads);
            progress.step(step + 1, steps_per_epoch, value, head_lr);
        }
        let val = match &data.val {
            Some(v) => Some(evaluate(
                &model.valid(),
                v,
                &data.eval_pipeline,
                &data.classes,
                config.batch_size,
                &ad.clone().inner(),
            )?),
            None => None,
        };
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / n.max(1) as f64,
            train_accuracy: correct as f64 / n.max(1) as f64,
            val: val.as_ref().map(|m| ValSummary {
                loss: m.loss,
                accuracy: m.accuracy,
                top5: m.top5,
                macro_f1: m.macro_f1,
            }),
            head_lr,
            frozen: frozen_names,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        progress.end_epoch(&record);
        if let Some(v) = &val {
            if state.best.is_none_or(|(b, _)| v.accuracy > b) {
                state.best = Some((v.accuracy, epoch));
                best_model = Some(model.valid());
                if let Some(dir) = &ckpt_dir {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    let bytes = model.valid().into_record().into_bytes().map_err(|e| Error::Config(e.to_string()))?;
                    checkpoint::write_atomic(&dir.join("best.bpk"), &bytes[..])?;
                }
            }
            if let (Some(p), Some((_, best_epoch))) = (config.early_stopping_patience, state.best)
                && epoch - best_epoch >= p
            {
                state.stopped_early = true;
            }
        }
        state.history.push(record);
        state.next_epoch = epoch + 1;
        if let Some(dir) = &ckpt_dir {
            checkpoint::save(dir, &model, &optim, &sched, &state)?;
        }
        ran += 1;
    }
    let model = match (state.stopped_early, best_model) {
        (true, Some(best)) => best,
        _ => model.valid(),
    };
    Ok(FitOutcome { model, state, seconds: started.elapsed().as_secs_f64() })
}

/// Evaluates `model` on `data` (no augmentation, plain device).
pub fn evaluate<M, D>(
    model: &M,
    data: &D,
    pipeline: &Pipeline,
    classes: &[String],
    batch_size: usize,
    device: &Device,
) -> Result<Metrics>
where
    M: StagedClassifier,
    D: Dataset<ImageItem>,
{
    let ds = TransformDataset::new(Borrowed(data), pipeline.clone(), 0);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut logits_all, mut labels, mut loss_sum) = (Vec::new(), Vec::new(), 0.0f64);
    let idx: Vec<usize> = (0..ds.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let items = chunk
            .par_iter()
            .map(|&i| ds.get(i))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("evaluation item: {e}")))?;
        let batch = stack_items(&items, device);
        let logits = model.forward(batch.images);
        loss_sum += f64::from(loss_fn.forward(logits.clone(), batch.targets).into_scalar::<f32>()) * chunk.len() as f64;
        logits_all.extend(kindling_core::tensor::to_vec_f32(logits)?);
        labels.extend(items.iter().map(|i| i.label));
    }
    Ok(Metrics::from_logits(&logits_all, &labels, classes, loss_sum / labels.len().max(1) as f64))
}
