//! `kindling demo`: the main job. On the embedded Fashion-MNIST subset, with no flags and no network,
//! compares in one run: (a) a small ResNet trained from scratch, (b) the ImageNet-pretrained
//! EfficientNet-Lite0 fine-tuned with its first stages frozen, (c) a linear probe (logistic
//! regression) on the frozen Lite0 features, and (d) SVM and gradient-boosted-tree heads on the same
//! features. Prints one table and writes a report folder.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use kindling_data::transform::Normalize;
use kindling_heads::{ExtractConfig, HeadKind, HeadParams, VisionExtractor, extract_features, fit_and_evaluate};
use kindling_transfer::report::write_json;
use kindling_transfer::{FreezePolicy, LrPolicy};
use kindling_vision::{Arch, VisionModelConfig};
use serde::Serialize;

use crate::CliResult;
use crate::fit::{DataArgs, HyperArgs, Job, RunArgs, SavedModel, config_from, load_data, pipelines, pretrained_model};

/// Arguments of `kindling demo` (every one has a default: `kindling demo` alone is the main job).
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Dataset (embedded by default).
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Training images per class: a small training set, where transfer learning matters.
    #[arg(long, default_value_t = 200)]
    pub train_per_class: usize,
    /// Epochs of the from-scratch ResNet.
    #[arg(long, default_value_t = 8)]
    pub scratch_epochs: usize,
    /// Epochs of the fine-tuned EfficientNet-Lite0.
    #[arg(long, default_value_t = 4)]
    pub finetune_epochs: usize,
    /// Input side of EfficientNet-Lite0 (the 28 px images are upscaled).
    #[arg(long, default_value_t = 64)]
    pub image_size: u32,
    /// Report folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Progress: auto, plain, quiet.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// One line of the summary table.
#[derive(Debug, Clone, Serialize)]
struct Row {
    method: String,
    test_accuracy: f64,
    fit_seconds: f64,
    detail: String,
}

fn hyper(epochs: usize, lr: f64, seed: u64) -> HyperArgs {
    HyperArgs {
        epochs,
        batch_size: 32,
        lr: Some(lr),
        optimizer: "sgd".into(),
        momentum: 0.9,
        schedule: "cosine".into(),
        warmup_epochs: 0.5,
        step_epochs: 2,
        gamma: 0.1,
        weight_decay: 1e-4,
        label_smoothing: 0.0,
        val_fraction: 0.1,
        early_stopping: None,
        max_grad_norm: None,
        seed,
    }
}

/// Runs `kindling demo`.
pub fn run(args: DemoArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.device)?;
    let data_args = DataArgs {
        data: args.data.clone(),
        train_per_class: Some(args.train_per_class),
        image_size: None,
        augment: false,
    };
    let (train, test, native) = load_data(&data_args)?;
    let classes = train.classes();
    let n = classes.len();
    eprintln!(
        "kindling demo: {} training images ({} per class), {} test images, {} classes",
        train.labels().len(),
        args.train_per_class,
        test.labels().len(),
        n
    );
    let mut rows = Vec::new();
    let run_args = |name: &str| RunArgs {
        out: Some(args.out.join(name)),
        resume: false,
        progress: args.progress.clone(),
        device: args.device.clone(),
    };

    // (a) A small ResNet (ResNet-18 layout, small-input stem, base width 16) from scratch at 32 px.
    let scratch_run = run_args("a-scratch-resnet");
    let (train_pipeline, pipeline) = pipelines(32, native, Normalize::half(), true);
    let saved = SavedModel {
        arch: Arch::Resnet18,
        num_classes: n,
        small_input: true,
        base_width: 16,
        classes: classes.clone(),
        pipeline,
        data: args.data.clone(),
    };
    device.seed(args.seed);
    let model = VisionModelConfig::new(Arch::Resnet18)
        .with_num_classes(n)
        .with_small_input(true)
        .with_base_width(16)
        .init(&device)?;
    let config = config_from(
        &hyper(args.scratch_epochs, 0.05, args.seed),
        n,
        LrPolicy { base_lr: 0.05, pretrained_multiplier: 1.0, stage_decay: 1.0 },
        FreezePolicy::default(),
    )?;
    let job = Job {
        label: "(a) scratch resnet18-w16".into(),
        model,
        saved,
        config,
        train: train.clone(),
        test: test.clone(),
        train_pipeline,
        run: &scratch_run,
        info: serde_json::json!({"mode": "train", "model": "resnet18 (small stem, width 16)", "data": args.data}),
    };
    let r = crate::fit::run_job(job, &device)?;
    rows.push(Row {
        method: "(a) small ResNet-18 (width 16) from scratch".into(),
        test_accuracy: r.test.accuracy,
        fit_seconds: r.fit_seconds,
        detail: format!("{} epochs, 32 px, augmentation, SGD lr 0.05", args.scratch_epochs),
    });

    // (b) EfficientNet-Lite0 pretrained on ImageNet, new head, stem..stage2 frozen, pretrained LR ×0.1.
    let arch = Arch::EfficientnetLite0;
    let (_, _, normalize) = arch.preprocessing();
    let (train_pipeline, pipeline) = pipelines(args.image_size, native, normalize, false);
    let ft_run = run_args("b-finetune-efficientnet-lite0");
    device.seed(args.seed);
    let pretrained = pretrained_model(arch, None, &device)?;
    let model = pretrained.clone().with_num_classes(n);
    let stages = model.stage_names();
    let saved = SavedModel {
        arch,
        num_classes: n,
        small_input: false,
        base_width: 64,
        classes: classes.clone(),
        pipeline: pipeline.clone(),
        data: args.data.clone(),
    };
    let freeze = FreezePolicy { until: Some("stage2".into()), ..Default::default() };
    let config = config_from(
        &hyper(args.finetune_epochs, 0.03, args.seed),
        n,
        LrPolicy { base_lr: 0.03, pretrained_multiplier: 0.1, stage_decay: 1.0 },
        freeze,
    )?;
    let job = Job {
        label: "(b) finetune efficientnet_lite0".into(),
        model,
        saved,
        config,
        train: train.clone(),
        test: test.clone(),
        train_pipeline,
        run: &ft_run,
        info: serde_json::json!({"mode": "finetune", "model": arch.name(), "data": args.data, "stages": stages}),
    };
    let r = crate::fit::run_job(job, &device)?;
    rows.push(Row {
        method: "(b) EfficientNet-Lite0 (ImageNet) fine-tuned".into(),
        test_accuracy: r.test.accuracy,
        fit_seconds: r.fit_seconds,
        detail: format!(
            "{} epochs, {} px, stem..stage2 frozen, head lr 0.03, pretrained ×0.1",
            args.finetune_epochs, args.image_size
        ),
    });

    // (c, d) Heads on frozen Lite0 features (the pretrained network minus its classifier).
    let t = Instant::now();
    let extract = ExtractConfig::new(pipeline).with_batch_size(64);
    let extractor = VisionExtractor::new(arch, pretrained, &device)?;
    let train_features = extract_features(&extractor, &train, classes.clone(), &extract, &device, |_, _| {})?;
    let test_features = extract_features(&extractor, &test, classes.clone(), &extract, &device, |_, _| {})?;
    eprintln!(
        "features: {} + {} images in {:.1} s",
        train_features.len(),
        test_features.len(),
        t.elapsed().as_secs_f64()
    );
    let extract_seconds = t.elapsed().as_secs_f64();
    let heads_dir = args.out.join("c-d-heads");
    std::fs::create_dir_all(&heads_dir).map_err(|e| kindling_core::Error::io(&heads_dir, e))?;
    for (kind, name) in [
        (HeadKind::LogReg, "(c) linear probe (logistic regression)"),
        (HeadKind::SvmLinear, "(d) linear SVM"),
        (HeadKind::SvmRbf, "(d) RBF SVM"),
        (HeadKind::Gbdt, "(d) gradient-boosted trees"),
    ] {
        let params = HeadParams::default_for(kind);
        let (_, fitted) = fit_and_evaluate(std::slice::from_ref(&params), None, &train_features, &test_features)?;
        eprintln!("{name}: test accuracy {:.4}, fit {:.1} s", fitted.test_accuracy, fitted.fit_seconds);
        write_json(&heads_dir.join(format!("{}.json", kind.name())), &fitted)?;
        rows.push(Row {
            method: name.into(),
            test_accuracy: fitted.test_accuracy,
            fit_seconds: fitted.fit_seconds,
            detail: format!(
                "{} features of {} images ({extract_seconds:.1} s to extract both sets)",
                fitted.num_features, fitted.n_train
            ),
        });
    }

    let total = started.elapsed().as_secs_f64();
    println!("\n{:<48} {:>13} {:>10}", "method", "test accuracy", "fit (s)");
    for r in &rows {
        println!("{:<48} {:>12.1}% {:>10.1}", r.method, 100.0 * r.test_accuracy, r.fit_seconds);
    }
    println!("\ntotal wall time {total:.0} s; report in {}", args.out.display());
    write_json(
        &args.out.join("summary.json"),
        &serde_json::json!({ "rows": rows, "total_seconds": total, "train_per_class": args.train_per_class, "data": args.data }),
    )?;
    Ok(())
}
