//! The training loop: determinism, bit-identical resume, NaN guard, early stopping,
//! checkpoint files.
#![allow(clippy::unwrap_used)]

mod common;

use kindling_data::series::{TsItem, samples};
use kindling_seq::classifier::{InputKind, SequenceClassifier, SequenceClassifierConfig, collate_series};
use kindling_seq::train::{
    EvalStats, FitOutcome, LrSchedule, Monitor, OptimizerKind, ProgressMode, RunOptions, TrainConfig, Trainer, evaluate,
};
use kindling_seq::{CellKind, SeqError};

fn items() -> Vec<TsItem> {
    samples::japanese_vowels_train().unwrap().items()[..48].to_vec()
}

fn model(seed: u64) -> SequenceClassifier {
    let device = kindling_core::default_device();
    kindling_core::seed_everything(seed, &device);
    SequenceClassifierConfig::new(InputKind::Features { size: 12 }, 9)
        .with_cell(CellKind::Lstm)
        .with_hidden_size(8)
        .with_dropout(0.3)
        .init(&device)
        .unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::new()
        .with_epochs(3)
        .with_batch_size(8)
        .with_lr(1e-2)
        .with_optimizer(OptimizerKind::AdamW)
        .with_weight_decay(0.01)
        .with_schedule(LrSchedule::Cosine { warmup_steps: 3, min_factor: 0.1 })
        .with_max_grad_norm(Some(1.0))
}

fn options(dir: Option<&std::path::Path>) -> RunOptions {
    RunOptions { run_dir: dir.map(Into::into), progress: ProgressMode::Quiet, ..Default::default() }
}

fn weights(m: &SequenceClassifier) -> Vec<f32> {
    let mut v = kindling_core::tensor::to_vec_f32(m.head.weight.val()).unwrap();
    v.extend(kindling_core::tensor::to_vec_f32(m.rnn.layers[0].forward.weight_hh.val()).unwrap());
    v
}

fn run(trainer: &Trainer<'_, TsItem>, model: SequenceClassifier, data: &[TsItem]) -> FitOutcome<SequenceClassifier> {
    let device = kindling_core::default_device();
    let eval = |m: &SequenceClassifier| {
        evaluate(m, data, 16, collate_series, |m: &SequenceClassifier, b| m.step(b), &device).map(Some)
    };
    trainer.fit(model, data, collate_series, |m: &SequenceClassifier, b| m.step(b), eval, &device).unwrap()
}

fn strip_times(o: &FitOutcome<SequenceClassifier>) -> Vec<(f64, f64, Option<EvalStats>, f64, f64)> {
    o.history.epochs.iter().map(|e| (e.train_loss, e.train_accuracy, e.val.clone(), e.lr, e.max_grad_norm)).collect()
}

#[test]
fn same_seed_same_run_and_resume_is_bit_identical() {
    let _rng = common::rng_lock();
    let data = items();
    let a = run(&Trainer::new(config()).with_options(options(None)), model(1), &data);
    let b = run(&Trainer::new(config()).with_options(options(None)), model(1), &data);
    assert_eq!(weights(&a.model), weights(&b.model));
    assert_eq!(strip_times(&a), strip_times(&b));
    assert!(a.history.epochs.iter().all(|e| e.max_grad_norm > 0.0));

    // Interrupted after one epoch, resumed in a "new process" (a freshly initialised model).
    let dir = tempfile::tempdir().unwrap();
    let first = Trainer::new(config()).with_options(RunOptions { stop_after: Some(1), ..options(Some(dir.path())) });
    let partial = run(&first, model(1), &data);
    assert_eq!(partial.history.epochs.len(), 1);
    for f in ["model.bpk", "optimizer.bpk", "best.bpk", "state.json"] {
        assert!(dir.path().join("checkpoint").join(f).is_file(), "{f}");
    }
    let second = Trainer::new(config()).with_options(RunOptions { resume: true, ..options(Some(dir.path())) });
    let resumed = run(&second, model(77), &data);
    assert_eq!(resumed.history.epochs.len(), 3);
    assert_eq!(strip_times(&resumed), strip_times(&a));
    assert_eq!(weights(&resumed.model), weights(&a.model), "resume is bit-identical");

    // Another seed gives another run.
    let c = run(&Trainer::new(config().with_seed(5)).with_options(options(None)), model(1), &data);
    assert_ne!(strip_times(&c), strip_times(&a));
}

#[test]
fn non_finite_loss_is_a_typed_error() {
    let _rng = common::rng_lock();
    let device = kindling_core::default_device();
    let data = items();
    let calls = std::cell::Cell::new(0);
    let loss = |m: &SequenceClassifier, b| {
        calls.set(calls.get() + 1);
        let mut out = m.step(b)?;
        if calls.get() == 4 {
            out.loss = out.loss * f32::NAN;
        }
        Ok(out)
    };
    let err = Trainer::new(config().with_batch_size(16))
        .with_options(options(None))
        .fit(model(2), &data, collate_series, loss, |_| Ok(None), &device)
        .unwrap_err();
    match err {
        SeqError::Core(kindling_core::Error::NonFinite { epoch, step, value }) => {
            assert_eq!((epoch, step), (2, 1), "3 steps per epoch: the 4th is epoch 2, step 1");
            assert!(value.is_nan());
        }
        other => panic!("expected NonFinite, got {other}"),
    }
}

#[test]
fn early_stopping_returns_the_best_model() {
    let _rng = common::rng_lock();
    let device = kindling_core::default_device();
    let data = items();
    // A validation metric that peaks at epoch 1 and then falls.
    let scores = [0.5, 0.8, 0.7, 0.6, 0.9];
    let epoch = std::cell::Cell::new(0);
    let snapshots = std::cell::RefCell::new(Vec::new());
    let eval = |m: &SequenceClassifier| {
        snapshots.borrow_mut().push(weights(m));
        let s = scores[epoch.get()];
        epoch.set(epoch.get() + 1);
        Ok(Some(EvalStats { loss: 1.0 - s, accuracy: s, count: 1, extra: Default::default() }))
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Trainer::new(config().with_epochs(5).with_patience(Some(2)).with_monitor(Monitor::Accuracy))
        .with_options(options(Some(dir.path())))
        .fit(model(3), &data, collate_series, |m: &SequenceClassifier, b| m.step(b), eval, &device)
        .unwrap();
    assert!(out.history.stopped_early);
    assert_eq!(out.history.epochs.len(), 4, "stops two epochs after the best");
    assert_eq!(out.history.best, Some((0.8, 1)));
    assert_eq!(out.history.best_epoch().map(|e| e.epoch), Some(1));
    assert_eq!(weights(&out.model), snapshots.borrow()[1], "the best epoch's model is returned");
    let best = kindling_seq::train::load_module(model(3), &dir.path().join("checkpoint/best.bpk")).unwrap();
    assert_eq!(weights(&best), snapshots.borrow()[1]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checkpoint/state.json")).unwrap()).unwrap();
    assert_eq!(state["next_epoch"], 4);
    assert_eq!(state["stopped_early"], true);
}

#[test]
fn bad_configurations_and_data_are_typed_errors() {
    let _rng = common::rng_lock();
    let device = kindling_core::default_device();
    let data = items();
    let step = |m: &SequenceClassifier, b| m.step(b);
    for bad in [
        config().with_lr(0.0),
        config().with_epochs(0),
        config().with_max_grad_norm(Some(-1.0)),
        config().with_schedule(LrSchedule::Cosine { warmup_steps: 0, min_factor: 2.0 }),
    ] {
        let e = Trainer::new(bad).fit(model(4), &data, collate_series, step, |_| Ok(None), &device).unwrap_err();
        assert!(matches!(e, SeqError::Config(_)), "{e}");
    }
    let e = Trainer::new(config()).fit(model(4), &data[..0], collate_series, step, |_| Ok(None), &device).unwrap_err();
    assert!(matches!(e, SeqError::Config(_)), "{e}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("checkpoint")).unwrap();
    std::fs::write(dir.path().join("checkpoint/state.json"), "{ not json").unwrap();
    let e = Trainer::new(config())
        .with_options(RunOptions { resume: true, ..options(Some(dir.path())) })
        .fit(model(4), &data, collate_series, step, |_| Ok(None), &device)
        .unwrap_err();
    assert!(e.to_string().contains("state.json"), "{e}");
}
