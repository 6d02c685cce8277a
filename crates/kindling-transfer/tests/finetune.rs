//! Fine-tuning behaviour on a real pretrained network (EfficientNet-Lite0) and real images
//! (embedded MNIST, upscaled to 32 px).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use burn::module::Module;
use burn::store::ModuleSnapshot;
use kindling_data::transform::{Normalize, Pipeline, Transform};
use kindling_data::{Embedded, ImageDataset};
use kindling_transfer::{
    FineTuneConfig, FreezePolicy, LrPolicy, OptimizerKind, ProgressMode, RunOptions, ScheduleKind, TrainData, fit,
};
use kindling_vision::efficientnet::EfficientNetLite;
use kindling_vision::{StagedClassifier, pretrained};
use std::collections::BTreeMap;

fn data(n_per_class: usize) -> TrainData<ImageDataset> {
    let train = Embedded::Mnist.train().unwrap();
    let idx = kindling_data::split::first_per_class(train.labels(), n_per_class);
    let pipeline = Pipeline::new(vec![Transform::ResizeExact { height: 32, width: 32 }, Transform::GrayToRgb])
        .with_normalize(Normalize::tensorflow_lite());
    TrainData {
        classes: train.classes().to_vec(),
        train: train.subset(&idx),
        val: None,
        train_pipeline: pipeline.clone(),
        eval_pipeline: pipeline,
    }
}

/// burn's RNG is global to the process: tests that initialise or train (dropout draws) run one at a
/// time so that their seeds are not interleaved by the test harness's threads.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn model() -> EfficientNetLite {
    let device = kindling_core::default_device();
    device.seed(7);
    pretrained::efficientnet_lite0(&device).unwrap().with_num_classes(10)
}

fn config() -> FineTuneConfig {
    FineTuneConfig::new(10)
        .with_epochs(1)
        .with_batch_size(10)
        .with_schedule(ScheduleKind::Constant)
        .with_optimizer(OptimizerKind::Sgd { momentum: 0.0, nesterov: false })
        .with_weight_decay(0.0)
        .with_val_fraction(0.0)
}

fn quiet() -> RunOptions {
    RunOptions { progress: ProgressMode::Quiet, ..Default::default() }
}

/// Every tensor of the module (parameters and BatchNorm buffers) by path.
fn tensors(m: &EfficientNetLite) -> BTreeMap<String, Vec<f32>> {
    m.collect(None, None, false)
        .into_iter()
        .map(|t| {
            let data = burn::store::bridge::to_data(&t).unwrap();
            (t.name.clone(), data.try_into_vec_as::<f32>().unwrap())
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn head_is_replaced_with_n_outputs() {
    let _guard = serial();
    let m = model();
    assert_eq!(m.num_classes(), 10);
    let x = burn::tensor::Tensor::<4>::zeros([2, 3, 32, 32], &kindling_core::default_device());
    assert_eq!(StagedClassifier::forward(&m, x).dims(), [2, 10]);
}

#[test]
fn frozen_stages_and_their_batchnorm_stats_stay_bit_identical() {
    let _guard = serial();
    let before = model();
    let before_t = tensors(&before);
    let cfg = config().with_freeze(FreezePolicy { until: Some("stage2".into()), ..Default::default() });
    let device = kindling_core::default_device();
    // 50 images, batch 10: five optimiser steps in training mode
    let out = fit(before, &data(5), &cfg, &quiet(), &device).unwrap();
    let after_t = tensors(&out.model);
    let (mut frozen_checked, mut bn_checked, mut changed) = (0, 0, 0);
    for (path, b) in &before_t {
        let a = &after_t[path];
        let frozen = path.starts_with("stem.") || path.starts_with("stage1.") || path.starts_with("stage2.");
        if frozen {
            assert_eq!(a, b, "frozen tensor {path} changed");
            frozen_checked += 1;
            bn_checked += usize::from(path.contains("running_"));
        } else if max_diff(a, b) > 0.0 {
            changed += 1;
        }
    }
    assert!(frozen_checked > 20 && bn_checked >= 8, "{frozen_checked} frozen tensors, {bn_checked} BN stats checked");
    // The unfrozen stages train: their weights and BatchNorm running statistics move.
    assert!(changed > 100, "only {changed} unfrozen tensors changed");
    for path in ["stage3.0.depthwise.conv.weight", "stage3.0.depthwise.bn.running_mean", "head.weight"] {
        assert!(max_diff(&after_t[path], &before_t[path]) > 0.0, "{path} did not change");
    }
}

#[test]
fn per_group_learning_rates_scale_the_updates() {
    let _guard = serial();
    // One SGD step (no momentum, no decay) on identical models and data: the update of a pretrained
    // parameter is lr × grad, so a pretrained multiplier of 0.1 must shrink it exactly tenfold while
    // the head's update is unchanged.
    let device = kindling_core::default_device();
    let d = data(1); // 10 images = one batch of 10
    let run = |mult: f64| {
        let m = model().freeze(); // dropout and BN in inference mode: both runs see the same function
        let m = m.unfreeze_group(burn::module::ParamGroup::from_regex(r"^(stage7|top|head)\.").unwrap());
        let cfg = config().with_freeze(FreezePolicy::default()).with_lr(LrPolicy {
            base_lr: 0.01,
            pretrained_multiplier: mult,
            stage_decay: 1.0,
        });
        let before = tensors(&m);
        let after = tensors(&fit(m, &d, &cfg, &quiet(), &device).unwrap().model);
        move |path: &str| -> f64 {
            before[path].iter().zip(&after[path]).map(|(b, a)| f64::from(a - b).powi(2)).sum::<f64>().sqrt()
        }
    };
    let full = run(1.0);
    let tenth = run(0.1);
    let p = "stage7.0.project.conv.weight";
    let ratio = tenth(p) / full(p);
    assert!((ratio - 0.1).abs() < 2e-3, "pretrained update ratio {ratio}");
    let h = "head.weight";
    let head_ratio = tenth(h) / full(h);
    assert!((head_ratio - 1.0).abs() < 1e-3, "head update ratio {head_ratio}");
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let _guard = serial();
    let device = kindling_core::default_device();
    let d = data(3);
    let cfg = config()
        .with_epochs(3)
        .with_optimizer(OptimizerKind::Sgd { momentum: 0.9, nesterov: false })
        .with_schedule(ScheduleKind::WarmupCosine { warmup_epochs: 0.5, min_factor: 0.1 })
        .with_freeze(FreezePolicy { until: Some("stage3".into()), unfreeze_after: Some(1), ..Default::default() });
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let opts = |dir: &std::path::Path, stop: Option<usize>, resume: bool| RunOptions {
        run_dir: Some(dir.to_path_buf()),
        resume,
        stop_after: stop,
        progress: ProgressMode::Quiet,
        label: String::new(),
    };
    let full = fit(model(), &d, &cfg, &opts(dir_a.path(), None, false), &device).unwrap();
    let first = fit(model(), &d, &cfg, &opts(dir_b.path(), Some(1), false), &device).unwrap();
    assert_eq!(first.state.next_epoch, 1);
    // A fresh process would build the model again; the checkpoint restores weights, optimiser and schedule.
    let resumed = fit(model(), &d, &cfg, &opts(dir_b.path(), None, true), &device).unwrap();
    assert_eq!(resumed.state.next_epoch, 3);
    assert_eq!(resumed.state.history.len(), 3);
    let (a, b) = (tensors(&full.model), tensors(&resumed.model));
    for (path, va) in &a {
        let d = max_diff(va, &b[path]);
        assert!(va == &b[path], "{path} differs between uninterrupted and resumed runs (max |diff| {d:e})");
    }
    assert_eq!(full.state.history.last().unwrap().train_loss, resumed.state.history.last().unwrap().train_loss);
}

#[test]
fn two_uninterrupted_runs_are_identical() {
    let _guard = serial();
    let device = kindling_core::default_device();
    let d = data(3);
    let cfg = config().with_epochs(2).with_optimizer(OptimizerKind::Sgd { momentum: 0.9, nesterov: false });
    let a = tensors(&fit(model(), &d, &cfg, &quiet(), &device).unwrap().model);
    let b = tensors(&fit(model(), &d, &cfg, &quiet(), &device).unwrap().model);
    for (path, va) in &a {
        let d = max_diff(va, &b[path]);
        assert!(va == &b[path], "{path} differs between identical runs (max |diff| {d:e})");
    }
}

#[test]
fn diverging_loss_is_a_typed_error() {
    let _guard = serial();
    let cfg = config().with_lr(LrPolicy { base_lr: 1e30, pretrained_multiplier: 1.0, stage_decay: 1.0 });
    let err = match fit(model(), &data(3), &cfg, &quiet(), &kindling_core::default_device()) {
        Err(e) => e,
        Ok(_) => panic!("training with lr 1e30 must diverge"),
    };
    assert!(matches!(err, kindling_core::Error::NonFinite { epoch: 1, .. }), "{err}");
}
