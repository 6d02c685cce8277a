//! What the `kindling seq` commands share: training flags, run folders and reports.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use kindling_seq::train::{EpochStats, LrSchedule, Monitor, OptimizerKind, ProgressMode, RunOptions, TrainConfig};
use kindling_transfer::report::{Curve, Panel, plot_panels, write_json};
use serde::Serialize;

use crate::CliResult;

/// Training flags of every `kindling seq … train` command (defaults vary by task: `None` takes
/// the task's).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct TrainFlags {
    /// Run folder: config.json, metrics.json, curves.png, checkpoint/ and the trained model/.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Sequences per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer: adam or adamw.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay (L2 for adam, decoupled for adamw).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0: no clipping).
    #[arg(long, default_value_t = 5.0)]
    pub clip: f64,
    /// Learning-rate schedule: constant, or cosine (decay to 1% of --lr at the last step).
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Warm-up of the cosine schedule, as a fraction of all optimiser steps.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Stop after this many epochs without a better validation accuracy (0: never).
    #[arg(long, default_value_t = 0)]
    pub patience: usize,
    /// Seed of weight init, batch order and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Train on at most this many training examples (the first ones): quick runs and tests.
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Validate and test on at most this many examples each (the first ones).
    #[arg(long)]
    pub max_eval: Option<usize>,
    /// Continue from the run folder's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Progress on stderr: auto (a line that updates on a terminal), plain, quiet.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl TrainFlags {
    /// The trainer configuration for `n_train` training items, with the task's defaults for
    /// epochs, batch size and LR.
    pub fn train_config(&self, n_train: usize, epochs: usize, batch_size: usize, lr: f64) -> CliResult<TrainConfig> {
        let (epochs, batch_size) = (self.epochs.unwrap_or(epochs), self.batch_size.unwrap_or(batch_size));
        if !(0.0..=1.0).contains(&self.warmup) {
            return Err(format!("--warmup is a fraction of the steps, in [0, 1]; got {}", self.warmup).into());
        }
        let total = n_train.div_ceil(batch_size.max(1)) * epochs;
        let schedule = match self.schedule.as_str() {
            "constant" => LrSchedule::Constant,
            "cosine" => {
                LrSchedule::Cosine { warmup_steps: (self.warmup * total as f64).round() as usize, min_factor: 0.01 }
            }
            other => return Err(format!("unknown --schedule `{other}`: expected constant or cosine").into()),
        };
        let config = TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(batch_size)
            .with_lr(self.lr.unwrap_or(lr))
            .with_optimizer(self.optimizer.parse::<OptimizerKind>()?)
            .with_weight_decay(self.weight_decay)
            .with_max_grad_norm((self.clip > 0.0).then_some(self.clip))
            .with_schedule(schedule)
            .with_patience((self.patience > 0).then_some(self.patience))
            .with_monitor(Monitor::Accuracy)
            .with_seed(self.seed);
        config.validate()?;
        Ok(config)
    }

    /// The run folder (created) and the trainer's run options.
    pub fn run_options(&self, default_out: &str, label: &str) -> CliResult<(PathBuf, RunOptions)> {
        let out = self.out.clone().unwrap_or_else(|| PathBuf::from(default_out));
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let options = RunOptions {
            run_dir: Some(out.clone()),
            resume: self.resume,
            progress: self.progress.parse::<ProgressMode>()?,
            label: label.to_string(),
            stop_after: None,
        };
        Ok((out, options))
    }
}

/// Keeps the first `max` items.
pub fn cap<T>(mut items: Vec<T>, max: Option<usize>) -> Vec<T> {
    if let Some(m) = max {
        items.truncate(m);
    }
    items
}

/// `curves.png`: loss and accuracy per epoch, training and validation.
pub fn write_curves(path: &Path, title: &str, epochs: &[EpochStats], metric: &str) -> CliResult {
    let curve = |label: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| Curve {
        label: label.into(),
        points: epochs.iter().filter_map(|e| f(e).map(|v| (e.epoch as f64 + 1.0, v))).collect(),
    };
    let panel = |name: &str, curves| Panel {
        title: format!("{title}: {name}"),
        x_label: "epoch".into(),
        y_label: name.into(),
        curves,
    };
    plot_panels(
        path,
        &[
            panel(
                "loss",
                vec![curve("train", &|e| Some(e.train_loss)), curve("validation", &|e| e.val.as_ref().map(|v| v.loss))],
            ),
            panel(
                metric,
                vec![
                    curve("train", &|e| Some(e.train_accuracy)),
                    curve("validation", &|e| e.val.as_ref().map(|v| v.accuracy)),
                ],
            ),
        ],
    )?;
    Ok(())
}

/// Writes `value` as pretty JSON (atomically).
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> CliResult {
    write_json(path, value)?;
    Ok(())
}

/// Reads JSON written by [`save_json`].
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> CliResult<T> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// The model folder of a run folder (`<run>/model`), or the folder itself if it holds `model.json`.
pub fn model_dir(path: &Path) -> PathBuf {
    if path.join("model.json").is_file() { path.to_path_buf() } else { path.join("model") }
}

/// Writes a run's `model/` folder: the weights (`model.bpk`), `model.json` (`meta`) and, when
/// given, `vocab.json`. Returns the folder.
pub fn save_model_dir<M: burn::module::Module, Meta: Serialize, V: Serialize>(
    out: &Path,
    model: &M,
    meta: &Meta,
    vocab: Option<&V>,
) -> CliResult<PathBuf> {
    let dir = out.join("model");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    kindling_seq::train::save_module(model, &dir.join("model.bpk"))?;
    save_json(&dir.join("model.json"), meta)?;
    if let Some(v) = vocab {
        save_json(&dir.join("vocab.json"), v)?;
    }
    Ok(dir)
}

/// Settings added to a task's model configs after models of that task were first saved, with the
/// value that reproduces those older models: `(task, config object in model.json, setting, value)`.
const ADDED_SETTINGS: &[(&str, &str, &str, f64)] = &[
    ("lm", "model", "weight_dropout", 0.0),
    ("translate", "model", "weight_dropout", 0.0),
    ("caption", "decoder", "weight_dropout", 0.0),
];

/// Reads the `model.json` of a run (or model) folder written for `task` (`what` describes that
/// kind of model in the error when the folder holds another); returns the model folder and the
/// metadata. Settings added since an older model was saved get their old behaviour.
pub fn load_meta<Meta: serde::de::DeserializeOwned>(path: &Path, task: &str, what: &str) -> CliResult<(PathBuf, Meta)> {
    let dir = model_dir(path);
    let file = dir.join("model.json");
    let mut value: serde_json::Value = load_json(&file)?;
    let found = value.get("task").and_then(|t| t.as_str()).unwrap_or("unknown");
    if found != task {
        return Err(format!("{} holds a `{found}` model, not {what}", dir.display()).into());
    }
    for &(_, object, setting, old) in ADDED_SETTINGS.iter().filter(|a| a.0 == task) {
        if let Some(config) = value.get_mut(object).and_then(serde_json::Value::as_object_mut) {
            config.entry(setting).or_insert(old.into());
        }
    }
    let meta = serde_json::from_value(value).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((dir, meta))
}

/// The inputs of `predict`: the arguments, or the non-empty lines of stdin when there are none.
pub fn input_lines(args: &[String]) -> CliResult<Vec<String>> {
    if !args.is_empty() {
        return Ok(args.to_vec());
    }
    let mut lines = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if !line.trim().is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// Prints one JSON value per line on stdout.
pub fn print_json_lines<T: Serialize>(values: &[T]) -> CliResult {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for v in values {
        writeln!(out, "{}", serde_json::to_string(v)?)?;
    }
    out.flush()?;
    Ok(())
}
