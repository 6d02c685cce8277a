//! `kindling extract` and `kindling fit-head` end to end on the embedded Fashion-MNIST sample.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::process::Command;

fn kindling(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kindling")).args(args).output().unwrap()
}

fn extract(split: &str, per_class: &str, out: &Path) {
    let o = kindling(&[
        "extract",
        "--data",
        "fashion-mnist",
        "--split",
        split,
        "--per-class",
        per_class,
        "--image-size",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("{split}: ")), "progress on stderr");
}

#[test]
fn extract_then_fit_head_prints_one_json_line_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test, head) =
        (dir.path().join("tr.safetensors"), dir.path().join("te.safetensors"), dir.path().join("h.safetensors"));
    extract("train", "12", &train);
    extract("test", "4", &test);
    let fs = kindling_heads::FeatureSet::load(&train).unwrap();
    assert_eq!((fs.len(), fs.dim(), fs.model.as_str()), (120, 1280, "efficientnet_lite0"));
    assert_eq!(fs.metadata["split"], "train");

    let (t, e, h) = (train.to_str().unwrap(), test.to_str().unwrap(), head.to_str().unwrap());
    let o = kindling(&[
        "fit-head",
        "--train",
        t,
        "--test",
        e,
        "--head",
        "svm-linear",
        "--c",
        "0.1,1",
        "--cv",
        "2",
        "--save",
        h,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["head"], "svm-linear");
    for key in ["train_accuracy", "test_accuracy", "fit_seconds"] {
        assert!(v[key].is_number(), "{key} in {v}");
    }
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.3, "{v}");
    assert_eq!(v["cv"]["scores"].as_array().unwrap().len(), 2);
    let saved = kindling_heads::SavedHead::load(&head).unwrap();
    assert_eq!(saved.classes[0], "T-shirt/top");

    // images -> EfficientNet-Lite0 features -> the saved head (its 32 px preprocessing is reused)
    let test_set = kindling_data::Embedded::FashionMnist.test().unwrap();
    let image = dir.path().join("boot.png");
    burn::data::dataset::Dataset::get(&test_set, 0).unwrap().image.save(&image).unwrap();
    let img = image.to_str().unwrap();
    let o = kindling(&["predict", "--model", "efficientnet_lite0", "--pretrained", "--head", h, "--topk", "3", img]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(v["file"], img);
    assert_eq!(v["top"].as_array().unwrap().len(), 3);
    assert!(saved.classes.contains(&v["top"][0]["class"].as_str().unwrap().to_string()), "{v}");
    // the same answer as the head on the extracted features of that image
    let one = dir.path().join("one.safetensors");
    let o = kindling(&[
        "extract",
        "--data",
        "fashion-mnist",
        "--split",
        "test",
        "--per-class",
        "1",
        "--image-size",
        "32",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let feats = kindling_heads::FeatureSet::load(&one).unwrap();
    let direct = kindling_heads::predict_features(&saved, feats.select(&[0]).view(), 1).unwrap();
    assert_eq!(v["top"][0]["label"], direct[0].top[0].label);
    // a head fitted on other features is refused
    let o = kindling(&["predict", "--model", "resnet18", "--head", h, img]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("fitted on `efficientnet_lite0` features"));

    // a saved head is not a feature file: typed error naming it, non-zero exit
    let o = kindling(&["fit-head", "--train", t, "--test", h, "--head", "logreg"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("h.safetensors") && err.contains("tensor `features` is missing"), "{err}");
    // a grid needs --cv
    let o = kindling(&["fit-head", "--train", t, "--test", e, "--head", "logreg", "--grid"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("need --cv"));
}
