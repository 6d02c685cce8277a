//! A small, reusable training loop for sequence models.
//!
//! [`Trainer::fit`] trains any burn [`Module`] on a slice of items of any type, given three
//! closures: `collate` turns a batch of items into tensors, `loss` runs the model on a batch and
//! returns a [`StepOutput`] (mean loss, number of correct predictions, count), and `eval` scores
//! the model after every epoch (usually with [`evaluate`] on a validation set).
//!
//! - Adam or AdamW, global gradient-norm clipping (computed on the device: no host round trip),
//!   constant or warm-up + cosine learning rate, bounded at its floor after the last step.
//! - Deterministic: the batch order and burn's dropout draws of epoch `e` are derived from
//!   `(seed, e)` alone, so a resumed run is bit-identical to an uninterrupted one. burn's RNG is
//!   global to the device: runs that must be reproducible must not train concurrently.
//! - Optional length bucketing ([`Trainer::with_length`]): batches gather sequences of similar
//!   length, so padding (and compute) stays small.
//! - Early stopping on the validation metric ([`Monitor`]); the best model is returned.
//! - Atomic checkpoints after every epoch (`checkpoint/{model,optimizer}.bpk`, `best.bpk`, then
//!   `state.json` as the commit point) and resume; a NaN or infinite loss is
//!   [`kindling_core::Error::NonFinite`].
//! - A serialisable per-epoch [`TrainHistory`] for reports.
//!
//! One host read per step: loss, correct count and gradient norm come back together.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig, loss::CrossEntropyLossConfig};
//! use burn::tensor::{Device, Int, Tensor, TensorData};
//! use kindling_seq::train::{ProgressMode, RunOptions, StepOutput, TrainConfig, Trainer, evaluate};
//!
//! // Items: (x, label) with label = x > 0.
//! let items: Vec<(f32, usize)> = (0..64).map(|i| (i as f32 / 32.0 - 1.0, usize::from(i >= 32))).collect();
//! let collate = |b: &[&(f32, usize)], d: &Device| {
//!     let x: Vec<f32> = b.iter().map(|i| i.0).collect();
//!     let y: Vec<i64> = b.iter().map(|i| i.1 as i64).collect();
//!     Ok((Tensor::<2>::from_data(TensorData::new(x, [b.len(), 1]), d),
//!         Tensor::<1, Int>::from_data(TensorData::new(y, [b.len()]), d)))
//! };
//! let loss = |m: &Linear, (x, y): (Tensor<2>, Tensor<1, Int>)| {
//!     let logits = m.forward(x);
//!     let n = y.dims()[0];
//!     let correct = logits.clone().argmax(1).reshape([n]).equal(y.clone()).float().sum();
//!     let loss = CrossEntropyLossConfig::new().init(&y.device()).forward(logits, y);
//!     Ok(StepOutput::new(loss, n).with_correct(correct))
//! };
//! let device = kindling_core::default_device();
//! let model = LinearConfig::new(1, 2).init(&device);
//! let config = TrainConfig::new().with_epochs(30).with_batch_size(16).with_lr(0.1);
//! let eval = |m: &Linear| evaluate(m, &items, 32, &collate, &loss, &device).map(Some);
//! let quiet = RunOptions { progress: ProgressMode::Quiet, ..Default::default() };
//! let out = Trainer::new(config).with_options(quiet).fit(model, &items, collate, loss, eval, &device)?;
//! assert_eq!(out.history.epochs.len(), 30);
//! assert!(out.history.epochs[29].val.as_ref().unwrap().accuracy > 0.9);
//! # Ok::<(), kindling_seq::SeqError>(())
//! ```

mod checkpoint;
mod config;
mod progress;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use kindling_core::{Error, derive_seed, seeded_rng};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

pub use config::{LrSchedule, Monitor, OptimizerKind, TrainConfig};
pub use progress::ProgressMode;

use crate::{Result, SeqError};

/// What a `loss` closure returns for one batch.
///
/// `loss` is the mean loss over `count` items (sequences, or tokens for a tagger), shape `[1]`;
/// `correct` is the number of correct predictions among them, kept on the device (`[1]`, float)
/// so that the trainer reads everything back in one go.
///
/// ```
/// use burn::tensor::Tensor;
/// use kindling_seq::train::StepOutput;
/// let d = kindling_core::default_device();
/// let out = StepOutput::new(Tensor::from_floats([0.7], &d), 8).with_correct(Tensor::from_floats([5.0], &d));
/// assert_eq!(out.count, 8);
/// ```
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Mean loss, `[1]`.
    pub loss: Tensor<1>,
    /// Correct predictions, `[1]` (float); `None` when accuracy means nothing for the task.
    pub correct: Option<Tensor<1>>,
    /// Number of items the loss averages over.
    pub count: usize,
}

impl StepOutput {
    /// A step output without a correct count.
    pub fn new(loss: Tensor<1>, count: usize) -> Self {
        Self { loss, correct: None, count }
    }

    /// Adds the number of correct predictions.
    pub fn with_correct(mut self, correct: Tensor<1>) -> Self {
        self.correct = Some(correct);
        self
    }
}

/// Validation (or test) results.
///
/// ```
/// use kindling_seq::train::EvalStats;
/// let s = EvalStats { loss: 0.4, accuracy: 0.9, count: 100, extra: Default::default() };
/// assert_eq!(serde_json::to_value(&s).unwrap()["accuracy"], 0.9);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalStats {
    /// Mean loss per item.
    pub loss: f64,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Number of items (sequences, or tokens).
    pub count: usize,
    /// Further task metrics (e.g. `bleu`, `per`), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// One epoch of a run (an entry of [`TrainHistory::epochs`]).
///
/// ```
/// use kindling_seq::train::EpochStats;
/// let e: EpochStats = serde_json::from_str(
///     r#"{"epoch":0,"train_loss":0.7,"train_accuracy":0.5,"val":null,"lr":0.001,"max_grad_norm":1.2,"steps":10,"seconds":2.0}"#,
/// )?;
/// assert_eq!(e.steps, 10);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss per item (in training mode: with dropout).
    pub train_loss: f64,
    /// Training accuracy (in training mode).
    pub train_accuracy: f64,
    /// Validation results, when the `eval` closure gave any.
    pub val: Option<EvalStats>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Largest global gradient norm seen in the epoch (before clipping).
    pub max_grad_norm: f64,
    /// Optimiser steps in the epoch.
    pub steps: usize,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// The state of a run, saved with every checkpoint (`checkpoint/state.json`).
///
/// ```
/// use kindling_seq::train::TrainHistory;
/// let h = TrainHistory::default();
/// assert_eq!((h.next_epoch, h.best_epoch()), (0, None));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainHistory {
    /// Every epoch so far.
    pub epochs: Vec<EpochStats>,
    /// First epoch still to run.
    pub next_epoch: usize,
    /// Best monitored validation value (signed: higher is better) and its epoch.
    pub best: Option<(f64, usize)>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

impl TrainHistory {
    /// The epoch with the best validation value, if any.
    pub fn best_epoch(&self) -> Option<&EpochStats> {
        self.best.and_then(|(_, e)| self.epochs.iter().find(|s| s.epoch == e))
    }
}

/// Where and how a run reports (not part of the reproducible configuration).
///
/// ```
/// use kindling_seq::train::{ProgressMode, RunOptions};
/// let options = RunOptions { run_dir: Some("runs/x".into()), resume: true, progress: ProgressMode::Plain, ..Default::default() };
/// assert!(options.stop_after.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Folder of the run: checkpoints go to `<dir>/checkpoint`. `None`: no checkpoints.
    pub run_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `run_dir`, if there is one.
    pub resume: bool,
    /// Progress output.
    pub progress: ProgressMode,
    /// Label in front of progress lines.
    pub label: String,
    /// Stop (as if interrupted) after this many epochs of this invocation.
    pub stop_after: Option<usize>,
}

/// The result of [`Trainer::fit`] (see the [module example](self)).
#[derive(Debug)]
pub struct FitOutcome<M> {
    /// The trained model on the plain device in validation mode: the best one by the
    /// validation value when there was validation, else the last one.
    pub model: M,
    /// Per-epoch history.
    pub history: TrainHistory,
    /// Seconds spent in this invocation.
    pub seconds: f64,
}

/// A boxed item-length function (see [`Trainer::with_length`]).
type LengthFn<'a, I> = Box<dyn Fn(&I) -> usize + 'a>;

/// A boxed batch plan (see [`Trainer::with_batch_plan`]).
type PlanFn<'a> = Box<dyn Fn(usize, usize) -> Vec<Vec<usize>> + 'a>;

/// A boxed epoch hook (see [`Trainer::with_epoch_start`]).
type EpochFn<'a> = Box<dyn Fn(usize) + 'a>;

/// The training loop (see the [module documentation](self) for a complete example).
///
/// ```
/// use kindling_seq::train::{TrainConfig, Trainer};
/// let trainer = Trainer::<Vec<usize>>::new(TrainConfig::new().with_batch_size(2)).with_length(|s| s.len());
/// let items = vec![vec![1; 5], vec![1; 1], vec![1; 4], vec![1; 2]];
/// // Bucketing puts sequences of similar length together.
/// let mut lens: Vec<Vec<usize>> = trainer.batches(4, 0, &items).iter().map(|b| b.iter().map(|&i| items[i].len()).collect()).collect();
/// lens.iter_mut().for_each(|b| b.sort());
/// lens.sort();
/// assert_eq!(lens, vec![vec![1, 2], vec![4, 5]]);
/// ```
pub struct Trainer<'a, I> {
    config: TrainConfig,
    options: RunOptions,
    length: Option<LengthFn<'a, I>>,
    plan: Option<PlanFn<'a>>,
    epoch_start: Option<EpochFn<'a>>,
}

impl<'a, I> Trainer<'a, I> {
    /// A trainer with default [`RunOptions`] (no checkpoints, automatic progress).
    pub fn new(config: TrainConfig) -> Self {
        Self { config, options: RunOptions::default(), length: None, plan: None, epoch_start: None }
    }

    /// Sets where and how the run reports.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Buckets batches by item length: the shuffled items are cut into pools of 50 batches,
    /// each pool is sorted by `length` and cut into batches, and the batches are shuffled.
    pub fn with_length(mut self, length: impl Fn(&I) -> usize + 'a) -> Self {
        self.length = Some(Box::new(length));
        self
    }

    /// Replaces the shuffled batches by a plan: `plan(epoch, n_items)` returns the batches of
    /// the epoch as item indices, run in the given order. For training that needs an order, such
    /// as truncated back-propagation through time over contiguous streams (batch `j + 1` continues
    /// the streams of batch `j`). Takes precedence over [`Trainer::with_length`].
    ///
    /// ```
    /// use kindling_seq::train::{TrainConfig, Trainer};
    /// let t = Trainer::<u8>::new(TrainConfig::new()).with_batch_plan(|_, n| (0..n).map(|i| vec![i]).collect());
    /// assert_eq!(t.batches(3, 0, &[]), vec![vec![0], vec![1], vec![2]]);
    /// ```
    pub fn with_batch_plan(mut self, plan: impl Fn(usize, usize) -> Vec<Vec<usize>> + 'a) -> Self {
        self.plan = Some(Box::new(plan));
        self
    }

    /// Calls `hook(epoch)` (0-based) before the first batch of every epoch, a resumed one
    /// included: the place for schedules that live outside the optimiser, such as a
    /// teacher-forcing ratio.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use kindling_seq::train::{TrainConfig, Trainer};
    /// let epoch = Cell::new(0);
    /// let _t = Trainer::<u8>::new(TrainConfig::new()).with_epoch_start(|e| epoch.set(e));
    /// ```
    pub fn with_epoch_start(mut self, hook: impl Fn(usize) + 'a) -> Self {
        self.epoch_start = Some(Box::new(hook));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Batches of epoch `epoch` over `n` items, as item indices: a function of `(seed, epoch)`.
    ///
    /// ```
    /// use kindling_seq::train::{TrainConfig, Trainer};
    /// let t = Trainer::<u8>::new(TrainConfig::new().with_batch_size(4));
    /// let a = t.batches(10, 3, &[]);
    /// assert_eq!(a, t.batches(10, 3, &[]));
    /// assert_ne!(a, t.batches(10, 4, &[]));
    /// assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
    /// ```
    pub fn batches(&self, n: usize, epoch: usize, items: &[I]) -> Vec<Vec<usize>> {
        if let Some(plan) = &self.plan {
            return plan(epoch, n);
        }
        let bs = self.config.batch_size.max(1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut seeded_rng(derive_seed(self.config.seed, &format!("order/{epoch}"))));
        let Some(length) = self.length.as_ref().filter(|_| items.len() == n) else {
            return order.chunks(bs).map(<[usize]>::to_vec).collect();
        };
        let mut batches: Vec<Vec<usize>> = Vec::with_capacity(n.div_ceil(bs));
        for pool in order.chunks(bs * 50) {
            let mut pool = pool.to_vec();
            pool.sort_by_key(|&i| length(&items[i]));
            batches.extend(pool.chunks(bs).map(<[usize]>::to_vec));
        }
        batches.shuffle(&mut seeded_rng(derive_seed(self.config.seed, &format!("batches/{epoch}"))));
        batches
    }

    /// Trains `model` on `train`.
    ///
    /// - `collate(items, device)` builds a batch on `device` (the autodiff device in training);
    /// - `loss(model, batch)` returns the batch's [`StepOutput`];
    /// - `eval(model)` is called after every epoch with the model in validation mode on the
    ///   plain device; `Ok(None)` means no validation (no early stopping, the last model is kept).
    pub fn fit<M, B, C, L, E>(
        &self,
        model: M,
        train: &[I],
        collate: C,
        loss: L,
        mut eval: E,
        device: &Device,
    ) -> Result<FitOutcome<M>>
    where
        M: Module,
        C: Fn(&[&I], &Device) -> Result<B>,
        L: Fn(&M, B) -> Result<StepOutput>,
        E: FnMut(&M) -> Result<Option<EvalStats>>,
    {
        let config = &self.config;
        config.validate()?;
        if train.is_empty() {
            return Err(SeqError::Config("no training items".into()));
        }
        let started = Instant::now();
        let ad = device.clone().autodiff();
        let mut model = model.fork(&ad).train();
        let mut optim = config.optimizer();
        let steps_per_epoch = match &self.plan {
            Some(plan) => plan(0, train.len()).len().max(1),
            None => train.len().div_ceil(config.batch_size),
        };
        let total_steps = steps_per_epoch * config.epochs;
        let ckpt = self.options.run_dir.as_ref().map(|d| d.join("checkpoint"));
        let mut history = TrainHistory::default();
        let mut best_model: Option<M> = None;
        if let (true, Some(dir)) = (self.options.resume, &ckpt)
            && let Some(saved) = checkpoint::load_history(dir)?
        {
            (model, optim, best_model) = checkpoint::restore(dir, model, optim, saved.best.is_some())?;
            history = saved;
        }
        let mut progress = progress::Progress::new(self.options.progress, &self.options.label);
        let mut ran = 0;
        while history.next_epoch < config.epochs && !history.stopped_early {
            if self.options.stop_after.is_some_and(|s| ran >= s) {
                break;
            }
            let epoch = history.next_epoch;
            let epoch_start = Instant::now();
            ad.seed(derive_seed(config.seed, &format!("dropout/{epoch}")));
            if let Some(hook) = &self.epoch_start {
                hook(epoch);
            }
            let batches = self.batches(train.len(), epoch, train);
            progress.start_epoch(epoch, config.epochs, batches.len());
            let (mut loss_sum, mut correct_sum, mut count, mut lr, mut max_norm) =
                (0.0, 0.0, 0usize, config.lr, 0.0f64);
            for (step, idx) in batches.iter().enumerate() {
                let items: Vec<&I> = idx.iter().map(|&i| &train[i]).collect();
                let out = loss(&model, collate(&items, &ad)?)?;
                let grads = GradientsParams::from_grads(out.loss.backward(), &model);
                let (grads, norm) = clip_global_norm(&model, grads, config.max_grad_norm);
                // The one host read of the step.
                let mut read = vec![out.loss.clone().detach().inner(), norm];
                read.extend(out.correct.map(|c| c.detach().inner()));
                let values = kindling_core::tensor::to_vec_f32(Tensor::cat(read, 0))?;
                let (value, norm) = (f64::from(values[0]), f64::from(values[1]));
                if !value.is_finite() {
                    return Err(Error::NonFinite { epoch: epoch + 1, step: step + 1, value }.into());
                }
                max_norm = max_norm.max(norm);
                loss_sum += value * out.count as f64;
                correct_sum += values.get(2).map_or(0.0, |&c| f64::from(c));
                count += out.count;
                lr = config.lr * config.schedule.factor(epoch * steps_per_epoch + step, total_steps);
                model = optim.step(lr, model, grads);
                progress.step(step + 1, batches.len(), value, lr);
            }
            let valid = model.valid();
            let val = eval(&valid)?;
            let stats = EpochStats {
                epoch,
                train_loss: loss_sum / count.max(1) as f64,
                train_accuracy: correct_sum / count.max(1) as f64,
                val,
                lr,
                max_grad_norm: max_norm,
                steps: batches.len(),
                seconds: epoch_start.elapsed().as_secs_f64(),
            };
            progress.end_epoch(&stats);
            let mut improved = false;
            if let Some(v) = &stats.val {
                let score = config.monitor.score(v);
                if history.best.is_none_or(|(b, _)| score > b) {
                    history.best = Some((score, epoch));
                    improved = true;
                }
                if let (Some(p), Some((_, b))) = (config.patience, history.best)
                    && epoch - b >= p
                {
                    history.stopped_early = true;
                }
            }
            history.epochs.push(stats);
            history.next_epoch = epoch + 1;
            if let Some(dir) = &ckpt {
                checkpoint::save(dir, &valid, &optim, &history, improved)?;
            }
            if improved {
                best_model = Some(valid);
            }
            ran += 1;
        }
        let model = match best_model {
            Some(best) if history.best.is_some() => best,
            _ => model.valid(),
        };
        Ok(FitOutcome { model, history, seconds: started.elapsed().as_secs_f64() })
    }
}

/// Writes a module's weights (burn record, burnpack bytes) to `path` atomically.
///
/// ```
/// use burn::nn::LinearConfig;
/// let d = kindling_core::default_device();
/// let dir = std::env::temp_dir().join(format!("kindling-save-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let a = LinearConfig::new(2, 3).init(&d);
/// kindling_seq::train::save_module(&a, &dir.join("m.bpk"))?;
/// let b = kindling_seq::train::load_module(LinearConfig::new(2, 3).init(&d), &dir.join("m.bpk"))?;
/// assert_eq!(a.weight.val().into_data(), b.weight.val().into_data());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_module<M: Module>(model: &M, path: &std::path::Path) -> Result<()> {
    let bytes = checkpoint::module_bytes(model, path)?;
    Ok(kindling_core::fs::write_atomic(path, &bytes[..])?)
}

/// Loads weights written by [`save_module`] into `model` (built from the same configuration);
/// a missing or corrupt file, or one of another architecture, is a typed error naming it.
pub fn load_module<M: Module>(model: M, path: &std::path::Path) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    checkpoint::load_module_bytes(model, bytes, path)
}

/// Scales every gradient by `min(1, max_norm / ‖g‖)`, `‖g‖` the norm of all gradients together,
/// on the device. Returns the gradients and `‖g‖` (`[1]`, before clipping).
fn clip_global_norm<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    max_norm: Option<f64>,
) -> (GradientsParams, Tensor<1>) {
    struct SquaredNorm<'g> {
        grads: &'g GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let s = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        }
    }
    struct Scale<'g> {
        grads: &'g mut GradientsParams,
        factor: Tensor<1>,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g * self.factor.clone().unsqueeze::<D>());
            }
        }
    }
    let mut sq = SquaredNorm { grads: &grads, total: None };
    model.visit(&mut sq);
    let Some(total) = sq.total else {
        let device = model.devices().first().cloned().unwrap_or_default().inner();
        return (grads, Tensor::zeros([1], &device));
    };
    let norm = total.sqrt();
    if let Some(max) = max_norm {
        let factor = (norm.clone().add_scalar(1e-6).recip() * max).clamp_max(1.0);
        model.visit(&mut Scale { grads: &mut grads, factor });
    }
    (grads, norm)
}

/// Mean loss and accuracy of `model` over `items` (in order, `batch_size` at a time), with the
/// same `collate` and `loss` closures as training: the usual body of an `eval` closure.
///
/// Items are batched in the given order; sorting them by length first makes batches tighter
/// without changing the result (up to float rounding).
pub fn evaluate<M, I, B>(
    model: &M,
    items: &[I],
    batch_size: usize,
    collate: impl Fn(&[&I], &Device) -> Result<B>,
    loss: impl Fn(&M, B) -> Result<StepOutput>,
    device: &Device,
) -> Result<EvalStats> {
    let (mut loss_sum, mut correct, mut count) = (0.0f64, 0.0f64, 0usize);
    for chunk in items.chunks(batch_size.max(1)) {
        let refs: Vec<&I> = chunk.iter().collect();
        let out = loss(model, collate(&refs, device)?)?;
        let mut read = vec![out.loss];
        read.extend(out.correct);
        let values = kindling_core::tensor::to_vec_f32(Tensor::cat(read, 0))?;
        loss_sum += f64::from(values[0]) * out.count as f64;
        correct += values.get(1).map_or(0.0, |&c| f64::from(c));
        count += out.count;
    }
    let div = count.max(1) as f64;
    Ok(EvalStats { loss: loss_sum / div, accuracy: correct / div, count, extra: BTreeMap::new() })
}
