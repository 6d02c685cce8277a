//! `kindling train`, `kindling finetune` and `kindling eval`: image classifiers on any Kindling dataset.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Bytes, Device};
use clap::Args;
use kindling_data::transform::{Normalize, Pipeline, Transform};
use kindling_data::{DataSource, LoadedDataset, Split};
use kindling_transfer::report::{RunReport, write_json, write_report};
use kindling_transfer::{
    FineTuneConfig, FreezePolicy, LrPolicy, Metrics, OptimizerKind, ProgressMode, RunOptions, ScheduleKind, TrainData,
    evaluate, fit,
};
use kindling_vision::pretrained::PretrainedSpec;
use kindling_vision::{Arch, Family, VisionModel, VisionModelConfig, fetch, weights};
use serde::{Deserialize, Serialize};

use crate::CliResult;

/// Which model to train.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Architecture: resnet18 … resnet152, vgg11 … vgg19_bn, efficientnet_lite0 … efficientnet_lite4.
    #[arg(long, default_value = "resnet18")]
    pub model: String,
    /// ResNet small-input stem (3×3 stride-1 convolution, no max-pool) for 28–32 px images.
    #[arg(long)]
    pub small_input: bool,
    /// ResNet base width (torchvision: 64).
    #[arg(long, default_value_t = 64)]
    pub width: usize,
}

/// Data and preprocessing.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Dataset: fashion-mnist, mnist (embedded), idx:DIR, folder:DIR.
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Use at most this many training images per class (a small training set).
    #[arg(long)]
    pub train_per_class: Option<usize>,
    /// Square input side the images are resized to (default: the pretrained model's crop, else the
    /// dataset's own size).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Training augmentation: random crop with padding and horizontal flip.
    #[arg(long)]
    pub augment: bool,
}

/// Optimisation hyper-parameters.
#[derive(Debug, Clone, Args)]
pub struct HyperArgs {
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate of the new head (and of everything when training from scratch).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimiser: sgd (momentum 0.9) or adamw.
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Schedule: cosine (with warm-up), step, constant.
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// Warm-up epochs of the cosine schedule.
    #[arg(long, default_value_t = 0.5)]
    pub warmup_epochs: f64,
    /// Epochs between decays of the step schedule.
    #[arg(long, default_value_t = 2)]
    pub step_epochs: usize,
    /// Decay factor of the step schedule.
    #[arg(long, default_value_t = 0.1)]
    pub gamma: f64,
    /// Weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Label smoothing.
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Fraction of the training data held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Stop after this many epochs without better validation accuracy.
    #[arg(long)]
    pub early_stopping: Option<usize>,
    /// Clip gradient norms to this value.
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Output, resumption and device.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Report folder (config.json, metrics.json, curves.png, confusion.png, model, checkpoint/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the checkpoint in `--out`.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Progress output: auto (bar on a terminal), plain, quiet.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Arguments of `kindling train` (from scratch).
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    hyper: HyperArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Arguments of `kindling finetune` (from pretrained weights).
#[derive(Debug, Clone, Args)]
pub struct FinetuneArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Weights to start from (torchvision `.pth` / safetensors); default: the architecture's
    /// ImageNet weights (shipped for efficientnet_lite0, else `kindling weights fetch` first).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Stages to freeze, comma-separated (`stem,layer1`).
    #[arg(long, value_delimiter = ',')]
    freeze: Vec<String>,
    /// Freeze every stage up to and including this one.
    #[arg(long)]
    freeze_until: Option<String>,
    /// Gradual unfreezing: thaw one frozen stage per epoch from this epoch on (nearest the head first).
    #[arg(long)]
    unfreeze_after: Option<usize>,
    /// LR multiplier of the pretrained stages relative to the head.
    #[arg(long, default_value_t = 0.1)]
    pretrained_lr_mult: f64,
    /// Extra LR factor per stage away from the head (discriminative fine-tuning; 1 = none).
    #[arg(long, default_value_t = 1.0)]
    stage_decay: f64,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    hyper: HyperArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Arguments of `kindling eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// A run folder written by `kindling train`/`finetune`.
    #[arg(long)]
    run: PathBuf,
    /// Dataset (default: the run's).
    #[arg(long)]
    data: Option<String>,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    split: String,
    /// Device.
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// What `model.json` records so that `eval` can rebuild the trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedModel {
    /// Architecture.
    pub arch: Arch,
    /// Number of classes.
    pub num_classes: usize,
    /// ResNet small-input stem.
    pub small_input: bool,
    /// ResNet base width.
    pub base_width: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Evaluation preprocessing.
    pub pipeline: Pipeline,
    /// Dataset it was trained on.
    pub data: String,
}

impl SavedModel {
    fn config(&self) -> VisionModelConfig {
        VisionModelConfig::new(self.arch)
            .with_num_classes(self.num_classes)
            .with_small_input(self.small_input)
            .with_base_width(self.base_width)
    }

    /// Rebuilds the model saved in `dir` (`model.json` + `model.bpk`).
    pub fn load(dir: &Path, device: &Device) -> CliResult<(Self, VisionModel)> {
        let meta_path = dir.join("model.json");
        let meta: SavedModel =
            serde_json::from_slice(&std::fs::read(&meta_path).map_err(|e| kindling_core::Error::io(&meta_path, e))?)
                .map_err(|e| kindling_core::Error::format(&meta_path, None, e.to_string()))?;
        let weights = dir.join("model.bpk");
        let bytes = std::fs::read(&weights).map_err(|e| kindling_core::Error::io(&weights, e))?;
        let record = burn::store::ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| kindling_core::Error::format(&weights, None, e.to_string()))?;
        let model = meta
            .config()
            .init(device)?
            .try_load_record(record)
            .map_err(|e| kindling_core::Error::format(&weights, None, e.to_string()))?;
        Ok((meta, model))
    }
}

/// Parses the progress mode.
pub fn progress_mode(s: &str) -> CliResult<ProgressMode> {
    Ok(match s {
        "auto" => ProgressMode::Auto,
        "plain" => ProgressMode::Plain,
        "quiet" => ProgressMode::Quiet,
        other => return Err(format!("unknown progress mode `{other}`: auto, plain or quiet").into()),
    })
}

/// Train and evaluation pipelines for a dataset whose images are `native` pixels square-ish.
pub fn pipelines(side: u32, native: u32, normalize: Normalize, augment: bool) -> (Pipeline, Pipeline) {
    let mut eval = Vec::new();
    if side != native {
        eval.push(Transform::ResizeExact { height: side, width: side });
    }
    eval.push(Transform::GrayToRgb);
    let mut train = eval.clone();
    if augment {
        train.push(Transform::RandomCrop { size: side, padding: (side / 8).max(1) });
        train.push(Transform::RandomHorizontalFlip(0.5));
    }
    (Pipeline::new(train).with_normalize(normalize), Pipeline::new(eval).with_normalize(normalize))
}

/// Loads the training split (optionally cut per class) and the test split.
pub fn load_data(args: &DataArgs) -> CliResult<(LoadedDataset, LoadedDataset, u32)> {
    let source: DataSource = args.data.parse()?;
    let mut train = source.load(Split::Train)?;
    if let Some(k) = args.train_per_class {
        train = train.subset(&kindling_data::split::first_per_class(&train.labels(), k));
    }
    let test = source.load(Split::Test)?;
    let first = burn::data::dataset::Dataset::get(&train, 0)?;
    let native = first.image.width().min(first.image.height());
    Ok((train, test, native))
}

pub fn config_from(h: &HyperArgs, num_classes: usize, lr: LrPolicy, freeze: FreezePolicy) -> CliResult<FineTuneConfig> {
    let optimizer = match h.optimizer.as_str() {
        "sgd" => OptimizerKind::Sgd { momentum: h.momentum, nesterov: false },
        "adamw" => OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999 },
        other => return Err(format!("unknown optimizer `{other}`: sgd or adamw").into()),
    };
    let schedule = match h.schedule.as_str() {
        "cosine" => ScheduleKind::WarmupCosine { warmup_epochs: h.warmup_epochs, min_factor: 0.01 },
        "step" => ScheduleKind::Step { step_epochs: h.step_epochs, gamma: h.gamma },
        "constant" => ScheduleKind::Constant,
        other => return Err(format!("unknown schedule `{other}`: cosine, step or constant").into()),
    };
    let config = FineTuneConfig::new(num_classes)
        .with_epochs(h.epochs)
        .with_batch_size(h.batch_size)
        .with_optimizer(optimizer)
        .with_lr(lr)
        .with_schedule(schedule)
        .with_weight_decay(h.weight_decay)
        .with_label_smoothing(h.label_smoothing)
        .with_freeze(freeze)
        .with_val_fraction(h.val_fraction)
        .with_early_stopping_patience(h.early_stopping)
        .with_max_grad_norm(h.max_grad_norm)
        .with_seed(h.seed);
    config.check()?;
    Ok(config)
}

/// Everything a training command needs once its model is built.
pub struct Job<'a> {
    /// Label for progress lines and plots.
    pub label: String,
    /// The model, head already replaced.
    pub model: VisionModel,
    /// Architecture options to save with it.
    pub saved: SavedModel,
    /// Training configuration.
    pub config: FineTuneConfig,
    /// Training data (before the validation split).
    pub train: LoadedDataset,
    /// Test data.
    pub test: LoadedDataset,
    /// Train pipeline.
    pub train_pipeline: Pipeline,
    /// Output options.
    pub run: &'a RunArgs,
    /// Extra fields for `metrics.json`'s `run` object.
    pub info: serde_json::Value,
}

/// The result of [`run_job`].
pub struct JobResult {
    /// Test metrics.
    pub test: Metrics,
    /// Seconds spent training (this invocation).
    pub fit_seconds: f64,
}

/// Trains, evaluates on the test split and writes the report folder.
pub fn run_job(job: Job<'_>, device: &Device) -> CliResult<JobResult> {
    let config = &job.config;
    let labels = job.train.labels();
    let (train_idx, val_idx) = kindling_data::split::stratified_split(&labels, config.val_fraction, config.seed);
    let data = TrainData {
        classes: job.saved.classes.clone(),
        train: job.train.subset(&train_idx),
        val: (!val_idx.is_empty()).then(|| job.train.subset(&val_idx)),
        train_pipeline: job.train_pipeline.clone(),
        eval_pipeline: job.saved.pipeline.clone(),
    };
    if let Some(out) = &job.run.out {
        std::fs::create_dir_all(out).map_err(|e| kindling_core::Error::io(out, e))?;
        write_json(&out.join("config.json"), &serde_json::json!({ "fine_tune": config, "model": &job.saved }))?;
    }
    let options = RunOptions {
        run_dir: job.run.out.clone(),
        resume: job.run.resume,
        progress: progress_mode(&job.run.progress)?,
        label: job.label.clone(),
        stop_after: None,
    };
    let outcome = fit(job.model, &data, config, &options, device)?;
    let test = evaluate(&outcome.model, &job.test, &job.saved.pipeline, &job.saved.classes, config.batch_size, device)?;
    if let Some(out) = &job.run.out {
        let bytes = outcome.model.clone().into_record().into_bytes().map_err(|e| e.to_string())?;
        kindling_transfer::checkpoint::write_atomic(&out.join("model.bpk"), &bytes[..])?;
        write_json(&out.join("model.json"), &job.saved)?;
        let mut info = job.info.clone();
        info["train_images"] = data.train.labels().len().into();
        info["val_images"] = val_idx.len().into();
        info["test_images"] = job.test.labels().len().into();
        let report =
            RunReport { run: info, epochs: &outcome.state.history, test: Some(&test), seconds: outcome.seconds };
        write_report(out, &job.label, &report)?;
        eprintln!("{}: report written to {}", job.label, out.display());
    }
    Ok(JobResult { test, fit_seconds: outcome.seconds })
}

fn print_summary(label: &str, r: &JobResult) {
    println!(
        "{}",
        serde_json::json!({
            "run": label,
            "test_accuracy": r.test.accuracy,
            "test_top5": r.test.top5,
            "test_macro_f1": r.test.macro_f1,
            "fit_seconds": r.fit_seconds,
        })
    );
}

/// Runs `kindling train`.
pub fn run_train(args: TrainArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.run.device)?;
    let arch: Arch = args.model.model.parse()?;
    let (train, test, native) = load_data(&args.data)?;
    let classes = train.classes();
    let side = args.data.image_size.unwrap_or(native);
    let (train_pipeline, pipeline) = pipelines(side, native, Normalize::half(), args.data.augment);
    let saved = SavedModel {
        arch,
        num_classes: classes.len(),
        small_input: args.model.small_input,
        base_width: args.model.width,
        classes: classes.clone(),
        pipeline,
        data: args.data.data.clone(),
    };
    device.seed(args.hyper.seed);
    let model = saved.config().init(&device)?;
    let lr = LrPolicy { base_lr: args.hyper.lr.unwrap_or(0.05), pretrained_multiplier: 1.0, stage_decay: 1.0 };
    let config = config_from(&args.hyper, classes.len(), lr, FreezePolicy::default())?;
    let label = format!("train {arch}");
    let info = serde_json::json!({ "mode": "train", "model": arch.name(), "data": args.data.data });
    let job = Job { label: label.clone(), model, saved, config, train, test, train_pipeline, run: &args.run, info };
    print_summary(&label, &run_job(job, &device)?);
    Ok(())
}

/// Loads the ImageNet weights of `arch` (or `weights`) into a 1000-class model.
pub fn pretrained_model(arch: Arch, weights_file: Option<&Path>, device: &Device) -> CliResult<VisionModel> {
    let path = match weights_file {
        Some(p) => p.to_path_buf(),
        None if arch.family() == Family::EfficientNet => PretrainedSpec::get(arch.name())?.resolve()?,
        None => fetch::cached(fetch::weights_for(arch, None)?, &fetch::cache_dir()).ok_or_else(|| {
            format!("no ImageNet weights for {arch}: run `kindling weights fetch {arch}` or pass --weights")
        })?,
    };
    Ok(weights::load_weights(arch.init(1000, device), &path)?)
}

/// Runs `kindling finetune`.
pub fn run_finetune(args: FinetuneArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.run.device)?;
    let arch: Arch = args.model.model.parse()?;
    let (train, test, native) = load_data(&args.data)?;
    let classes = train.classes();
    let (_, crop, normalize) = arch.preprocessing();
    let side = args.data.image_size.unwrap_or(crop);
    let (train_pipeline, pipeline) = pipelines(side, native, normalize, args.data.augment);
    device.seed(args.hyper.seed);
    let model = pretrained_model(arch, args.weights.as_deref(), &device)?.with_num_classes(classes.len());
    let saved = SavedModel {
        arch,
        num_classes: classes.len(),
        small_input: false,
        base_width: 64,
        classes: classes.clone(),
        pipeline,
        data: args.data.data.clone(),
    };
    let freeze = FreezePolicy {
        stages: args.freeze.clone(),
        until: args.freeze_until.clone(),
        unfreeze_after: args.unfreeze_after,
    };
    let lr = LrPolicy {
        base_lr: args.hyper.lr.unwrap_or(0.01),
        pretrained_multiplier: args.pretrained_lr_mult,
        stage_decay: args.stage_decay,
    };
    let config = config_from(&args.hyper, classes.len(), lr, freeze)?;
    let label = format!("finetune {arch}");
    let info = serde_json::json!({ "mode": "finetune", "model": arch.name(), "data": args.data.data, "stages": model.stage_names() });
    let job = Job { label: label.clone(), model, saved, config, train, test, train_pipeline, run: &args.run, info };
    print_summary(&label, &run_job(job, &device)?);
    Ok(())
}

/// Runs `kindling eval`: test metrics of a saved run as one JSON object.
pub fn run_eval(args: EvalArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (saved, model) = SavedModel::load(&args.run, &device)?;
    let source: DataSource = args.data.as_deref().unwrap_or(&saved.data).parse()?;
    let data = source.load(args.split.parse()?)?;
    if data.classes() != saved.classes {
        return Err(
            format!("the data's classes {:?} differ from the model's {:?}", data.classes(), saved.classes).into()
        );
    }
    let metrics = evaluate(&model, &data, &saved.pipeline, &saved.classes, 64, &device)?;
    println!("{}", serde_json::to_string(&metrics)?);
    Ok(())
}
