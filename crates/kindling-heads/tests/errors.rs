//! Bad hyper-parameters, bad data and malformed head files give typed errors, never panics.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::HashMap;

use kindling_heads::{
    Classifier, FeatureSet, GbdtParams, HeadKind, HeadParams, HeadsError, LogRegParams, SavedHead, SvmParams,
};
use linfa::ParamGuard;
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn toy() -> (ndarray::Array2<f32>, Vec<usize>) {
    let x = ndarray::array![[0.0f32, 0.0], [0.1, 0.2], [1.0, 1.0], [0.9, 1.1], [2.0, 0.0], [2.2, 0.1]];
    (x, vec![0, 0, 1, 1, 2, 2])
}

#[test]
fn out_of_range_hyper_parameters_are_refused() {
    let bad = [
        (HeadParams::Svm(SvmParams::linear().c(0.0)), "C must be"),
        (HeadParams::Svm(SvmParams::linear().c(f64::NAN)), "C must be"),
        (HeadParams::Svm(SvmParams::rbf().gamma(-1.0)), "gamma must be"),
        (HeadParams::Svm(SvmParams::rbf().eps(0.0)), "eps must be"),
        (HeadParams::Svm(SvmParams::rbf().cache_mb(0)), "cache_mb"),
        (HeadParams::Gbdt(GbdtParams::new().max_depth(0)), "max_depth"),
        (HeadParams::Gbdt(GbdtParams::new().rounds(0)), "rounds"),
        (HeadParams::Gbdt(GbdtParams::new().learning_rate(0.0)), "learning_rate"),
        (HeadParams::Gbdt(GbdtParams::new().subsample(1.5)), "subsample"),
        (HeadParams::Gbdt(GbdtParams::new().bins(1)), "bins"),
        (HeadParams::LogReg(LogRegParams::new().c(-2.0)), "C must be"),
        (HeadParams::LogReg(LogRegParams::new().max_iter(0)), "max_iter"),
    ];
    let (x, y) = toy();
    for (params, expected) in bad {
        let e = params.fit(x.view(), &y).unwrap_err();
        assert!(matches!(e, HeadsError::InvalidParam(_)), "{e}");
        assert!(e.to_string().contains(expected), "{e}");
    }
    assert!(SvmParams::rbf().gamma(0.5).check().is_ok());
}

#[test]
fn bad_training_data_is_refused() {
    let (x, y) = toy();
    for kind in HeadKind::ALL {
        let p = HeadParams::default_for(kind);
        let one_class = p.fit(x.view(), &[1; 6]).unwrap_err();
        assert!(one_class.to_string().contains("fewer than two classes"), "{one_class}");
        assert!(matches!(p.fit(x.view(), &y[..5]).unwrap_err(), HeadsError::Data(_)));
        let mut nan = x.clone();
        nan[[3, 1]] = f32::NAN;
        assert!(p.fit(nan.view(), &y).unwrap_err().to_string().contains("non-finite feature at row 3"));
        let head = p.fit(x.view(), &y).unwrap();
        let wide = ndarray::Array2::<f32>::zeros((2, 3));
        let e = head.predict(wide.view()).unwrap_err();
        assert!(e.to_string().contains("3 columns but the head was fitted on 2"), "{kind}: {e}");
        let e = head.decision_function(nan.view()).unwrap_err();
        assert!(e.to_string().contains("non-finite feature at row 3"), "{kind}: {e}");
    }
}

#[test]
fn heads_fit_on_the_toy_problem() {
    let (x, y) = toy();
    for kind in HeadKind::ALL {
        let p = match kind {
            HeadKind::Gbdt => HeadParams::Gbdt(GbdtParams::new().rounds(10).min_leaf_weight(0.0)),
            k => HeadParams::default_for(k),
        };
        let head = p.fit(x.view(), &y).unwrap();
        assert_eq!(head.predict(x.view()).unwrap(), y, "{kind}");
        assert_eq!(head.decision_function(x.view()).unwrap().dim(), (6, 3));
        assert_eq!((head.num_classes(), head.num_features()), (3, 2));
    }
}

/// Saves a head, then rewrites its file with `edit` applied to metadata and tensors.
fn corrupted(edit: impl Fn(&mut serde_json::Value, &mut Vec<(String, TensorView<'_>)>)) -> HeadsError {
    let (x, y) = toy();
    let head = HeadParams::Svm(SvmParams::linear()).fit(x.view(), &y).unwrap();
    let saved =
        SavedHead { head, classes: vec!["a".into(), "b".into(), "c".into()], model: "toy".into(), preprocessing: None };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.safetensors");
    saved.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["kindling_head"]).unwrap();
    let mut tensors: Vec<(String, TensorView<'_>)> = st.tensors();
    edit(&mut meta, &mut tensors);
    let info = HashMap::from([("kindling_head".to_string(), meta.to_string())]);
    let out = path.with_file_name("broken.safetensors");
    std::fs::write(&out, safetensors::serialize(tensors, Some(info)).unwrap()).unwrap();
    let e = SavedHead::load(&out).unwrap_err();
    assert!(matches!(e, HeadsError::Format { .. }), "{e}");
    assert!(e.to_string().contains("broken.safetensors"), "{e}");
    e
}

#[test]
fn malformed_head_files_give_typed_errors() {
    let e = corrupted(|m, _| m["format_version"] = 99.into());
    assert!(e.to_string().contains("unsupported head format version"), "{e}");
    let e = corrupted(|_, t| t.retain(|(n, _)| n != "svm.rho"));
    assert!(e.to_string().contains("tensor `svm.rho` is missing"), "{e}");
    let e = corrupted(|m, _| m["num_features"] = 5.into());
    assert!(e.to_string().contains("has shape"), "{e}");
    let e = corrupted(|m, _| m["classes"] = serde_json::json!(["a"]));
    assert!(e.to_string().contains("1 class names for 3 classes"), "{e}");
    let e = corrupted(|m, _| m["kind"] = "svm".into());
    assert!(e.to_string().contains("`kind`"), "{e}");
    let e = corrupted(|m, _| m["problems"] = serde_json::json!([[0, 7], [0, 2], [1, 2]]));
    assert!(e.to_string().contains("beyond 3"), "{e}");
}

#[test]
fn a_feature_file_is_not_a_head() {
    let (x, y) = toy();
    let fs = FeatureSet::new(x, y, vec!["a".into(), "b".into(), "c".into()], "toy").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.safetensors");
    fs.save(&path).unwrap();
    let e = SavedHead::load(&path).unwrap_err();
    assert!(e.to_string().contains("not a saved Kindling head"), "{e}");
    let e = FeatureSet::load(dir.path().join("missing.safetensors")).unwrap_err();
    assert!(matches!(e, HeadsError::Io { .. }));
}

#[test]
fn heads_fitted_on_a_class_subset_save_and_load() {
    // labels 0 and 1 only, in a file that names four classes (as `extract --classes 0,1` writes)
    let (x, y) = toy();
    let keep: Vec<usize> = (0..4).collect();
    let x = x.select(ndarray::Axis(0), &keep);
    let fs = FeatureSet::new(x, y[..4].to_vec(), ["a", "b", "c", "d"].map(String::from).to_vec(), "toy").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in HeadKind::ALL {
        let p = match kind {
            HeadKind::Gbdt => HeadParams::Gbdt(GbdtParams::new().rounds(5).min_leaf_weight(0.0)),
            k => HeadParams::default_for(k),
        };
        let (saved, report) = kindling_heads::fit_and_evaluate(&[p], None, &fs, &fs).unwrap();
        assert_eq!(report.test_accuracy, 1.0, "{kind}");
        let path = dir.path().join(format!("{kind}.safetensors"));
        saved.save(&path).unwrap();
        let back = SavedHead::load(&path).unwrap();
        assert_eq!(back.classes.len(), 4);
        let top = kindling_heads::predict_features(&back, fs.view(), 2).unwrap();
        assert_eq!(top[3].top[0].class, "b", "{kind}");
    }
}
