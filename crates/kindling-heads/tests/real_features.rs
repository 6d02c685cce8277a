//! Heads on real CNN features: ImageNet EfficientNet-Lite0 features of the embedded Fashion-MNIST sample
//! (50 training and 20 test images per class, 64x64), extracted once per test binary.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::OnceLock;

use kindling_data::Embedded;
use kindling_data::split::first_per_class;
use kindling_data::transform::{Normalize, Pipeline, Transform};
use kindling_heads::{
    Classifier, ExtractConfig, FeatureSet, GbdtParams, HeadKind, HeadParams, LogRegParams, Multiclass, SavedHead,
    SvmParams, SvmSolver, default_grid, extract_features, fit_and_evaluate, predict_images,
};

const SIZE: u32 = 64;

fn config() -> ExtractConfig {
    ExtractConfig::new(
        Pipeline::new(vec![Transform::GrayToRgb, Transform::ResizeExact { height: SIZE, width: SIZE }])
            .with_normalize(Normalize::tensorflow_lite()),
    )
}

/// `(train, test)` features, extracted once.
fn features() -> &'static (FeatureSet, FeatureSet) {
    static CELL: OnceLock<(FeatureSet, FeatureSet)> = OnceLock::new();
    CELL.get_or_init(|| {
        let device = kindling_core::default_device();
        let net = kindling_vision::pretrained::efficientnet_lite0(&device).unwrap();
        let cut = |data: kindling_data::ImageDataset, per: usize| data.subset(&first_per_class(data.labels(), per));
        let train = cut(Embedded::FashionMnist.train().unwrap(), 50);
        let test = cut(Embedded::FashionMnist.test().unwrap(), 20);
        let classes = train.classes().to_vec();
        let mut calls = Vec::new();
        let tr =
            extract_features(&net, &train, classes.clone(), &config(), &device, |d, n| calls.push((d, n))).unwrap();
        assert_eq!(calls.first(), Some(&(64, 500)), "progress after the first batch of 64");
        assert_eq!(calls.last(), Some(&(500, 500)));
        let te = extract_features(&net, &test, classes, &config(), &device, |_, _| {}).unwrap();
        (tr, te)
    })
}

#[test]
fn extraction_gives_the_documented_file() {
    let (train, test) = features();
    assert_eq!((train.len(), train.dim(), test.len()), (500, 1280, 200));
    assert_eq!(train.model, "efficientnet_lite0");
    assert_eq!(train.classes[9], "Ankle boot");
    // pooled ReLU6 activations: in [0, 6] and not all zero
    assert!(train.features.iter().all(|&v| (0.0..=6.0).contains(&v)));
    assert!(train.features.iter().filter(|&&v| v > 0.0).count() > train.features.len() / 10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.safetensors");
    train.clone().with_metadata("split", "train").save(&path).unwrap();
    let back = FeatureSet::load(&path).unwrap();
    assert_eq!(back.features, train.features);
    assert_eq!(back.labels, train.labels);
    assert_eq!(back.metadata["split"], "train");
}

/// Fits, checks accuracy far above chance (10%), saves, loads, checks identical outputs.
fn fit_check_roundtrip(params: HeadParams, min_accuracy: f64) {
    let (train, test) = features();
    let (saved, report) = fit_and_evaluate(std::slice::from_ref(&params), None, train, test).unwrap();
    eprintln!("{}", serde_json::to_string(&report).unwrap());
    assert!(report.test_accuracy > min_accuracy, "{:?}: test accuracy {}", params.kind(), report.test_accuracy);
    assert!(report.train_accuracy >= report.test_accuracy - 0.05);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.safetensors");
    saved.save(&path).unwrap();
    let back = SavedHead::load(&path).unwrap();
    assert_eq!(back.head.kind(), params.kind());
    assert_eq!((back.classes.clone(), back.model.clone()), (train.classes.clone(), train.model.clone()));
    assert_eq!(back.preprocessing.as_ref(), Some(&config().pipeline), "the head remembers the preprocessing");
    let x = test.view();
    assert_eq!(back.head.decision_function(x).unwrap(), saved.head.decision_function(x).unwrap());
    assert_eq!(back.head.predict(x).unwrap(), saved.head.predict(x).unwrap());
    assert_eq!(back.head.predict_proba(x).unwrap(), saved.head.predict_proba(x).unwrap());
    assert_eq!(back.head.params_json(), saved.head.params_json());
}

#[test]
fn svm_linear_beats_chance_and_round_trips() {
    fit_check_roundtrip(HeadParams::Svm(SvmParams::linear()), 0.6);
}

#[test]
fn svm_rbf_beats_chance_and_round_trips() {
    fit_check_roundtrip(HeadParams::Svm(SvmParams::rbf().c(10.0)), 0.6);
}

#[test]
fn svm_one_vs_rest_beats_chance_and_round_trips() {
    fit_check_roundtrip(HeadParams::Svm(SvmParams::rbf().c(10.0).multiclass(Multiclass::OneVsRest)), 0.6);
}

#[test]
fn gbdt_beats_chance_and_round_trips() {
    fit_check_roundtrip(HeadParams::Gbdt(GbdtParams::new().rounds(30).max_depth(3)), 0.6);
}

#[test]
fn logreg_beats_chance_and_round_trips() {
    fit_check_roundtrip(HeadParams::LogReg(LogRegParams::new()), 0.6);
}

#[test]
fn precomputed_solver_matches_stock_linfa_svm() {
    // Three classes (3 one-vs-one problems of 100 samples), tight tolerance: both solvers reach the same
    // optimum, so decision values agree closely and predictions exactly.
    let (train, test) = features();
    let keep = |fs: &FeatureSet| fs.select(&(0..fs.len()).filter(|&i| fs.labels[i] < 3).collect::<Vec<_>>());
    let (train, test) = (keep(train), keep(test));
    for base in [SvmParams::linear().c(0.1), SvmParams::rbf().c(10.0)] {
        let fit =
            |s: SvmSolver| HeadParams::Svm(base.clone().eps(1e-6).solver(s)).fit(train.view(), &train.labels).unwrap();
        let (ours, linfa) = (fit(SvmSolver::Precomputed), fit(SvmSolver::Linfa));
        let (a, b) = (ours.decision_function(test.view()).unwrap(), linfa.decision_function(test.view()).unwrap());
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-3, "{:?}: max |decision difference| {diff}", ours.kind());
        assert_eq!(ours.predict(test.view()).unwrap(), linfa.predict(test.view()).unwrap());
    }
}

#[test]
fn grid_search_picks_a_grid_point_and_refits() {
    let (train, test) = features();
    let grid = default_grid(HeadKind::SvmLinear, train.dim());
    let (saved, report) = fit_and_evaluate(&grid[1..3], Some(3), train, test).unwrap();
    let cv = report.cv.as_ref().unwrap();
    assert_eq!((cv.folds, cv.scores.len()), (3, 2));
    assert!(cv.best < 2);
    let best = &cv.scores[cv.best];
    assert!(cv.scores.iter().all(|s| s.mean_accuracy <= best.mean_accuracy));
    assert!(best.mean_accuracy > 0.6, "{}", best.mean_accuracy);
    assert_eq!(saved.head.params_json(), best.params, "the returned head uses the winning parameters");
    // a grid without --cv is refused
    assert!(fit_and_evaluate(&grid, None, train, test).is_err());
}

#[test]
fn image_pipeline_equals_features_then_head() {
    let (train, test) = features();
    let head = HeadParams::Svm(SvmParams::linear()).fit(train.view(), &train.labels).unwrap();
    let saved = SavedHead { head, classes: train.classes.clone(), model: train.model.clone(), preprocessing: None };
    let device = kindling_core::default_device();
    let net = kindling_vision::pretrained::efficientnet_lite0(&device).unwrap();
    let data = Embedded::FashionMnist.test().unwrap();
    let idx = first_per_class(data.labels(), 20);
    let images: Vec<_> =
        idx.iter().take(8).map(|&i| burn::data::dataset::Dataset::get(&data, i).unwrap().image).collect();
    let preds = predict_images(&net, &saved, images, &config(), &device, 3).unwrap();
    let direct = saved.head.predict(test.features.slice(ndarray::s![..8, ..])).unwrap();
    for (p, d) in preds.iter().zip(&direct) {
        assert_eq!(p.top.len(), 3);
        assert_eq!(p.top[0].label, *d);
        assert_eq!(p.top[0].class, train.classes[*d]);
        assert!(!p.probabilities);
    }
    // a head fitted on other features is refused
    let other = SavedHead { model: "resnet18".into(), ..saved };
    assert!(predict_images(&net, &other, Vec::new(), &config(), &device, 1).is_err());
}
