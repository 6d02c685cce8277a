//! End-to-end tests of `kindling predict` and `kindling weights` (the JSON-lines contract).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use kindling_vision::predict::{self, PredictInput, PredictOptions};
use kindling_vision::{Arch, weights};

fn kindling(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args(args)
        .env("KINDLING_CACHE", "/nonexistent-kindling-cache")
        .output()
        .unwrap()
}

/// A safetensors file holding `input` f32 [n, 3, side, side], written by hand.
fn write_input(path: &Path, n: usize, side: usize) {
    let values: Vec<f32> = (0..n * 3 * side * side).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let header = format!(
        r#"{{"input":{{"dtype":"F32","shape":[{n},3,{side},{side}],"data_offsets":[0,{}]}}}}"#,
        values.len() * 4
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn predict_on_input_tensor_prints_one_json_line_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let device = kindling_core::default_device();
    // A 4-class ResNet-18 exported with torchvision keys; the CLI reads the class count from it.
    let model = Arch::Resnet18.init(4, &device);
    let weights_path = dir.path().join("r18.safetensors");
    weights::save_safetensors(&model, &weights_path).unwrap();
    let input = dir.path().join("x.safetensors");
    write_input(&input, 3, 32);
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "ant\nbee\ncat\ndog\n").unwrap();

    let out = kindling(&[
        "predict",
        "--model",
        "resnet18",
        "--weights",
        weights_path.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--topk",
        "2",
        "--logits",
        "--input-tensor",
        input.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3);

    let reloaded = weights::load_weights(Arch::Resnet18.init(4, &device), &weights_path).unwrap();
    let options = PredictOptions {
        topk: 2,
        logits: true,
        labels: Some(vec!["ant".into(), "bee".into(), "cat".into(), "dog".into()]),
        ..PredictOptions::default()
    };
    let expected = predict::predict(&reloaded, &PredictInput::TensorFile(input.clone()), &options, &device).unwrap();
    for (i, line) in lines.iter().enumerate() {
        let record: predict::Prediction = serde_json::from_str(line).unwrap();
        assert_eq!(record.input, i.to_string());
        assert_eq!(record.top.len(), 2);
        assert_eq!(record.logits.as_ref().unwrap().len(), 4);
        assert_eq!(record, expected[i], "CLI and library agree");
        assert!(["ant", "bee", "cat", "dog"].contains(&record.top[0].label.as_str()));
    }
}

#[test]
fn predict_on_images_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kindling-vision/assets/samples/dog.jpg");
    let out = kindling(&[
        "predict",
        "--model",
        "vgg11",
        "--num-classes",
        "3",
        "--resize",
        "40",
        "--crop",
        "32",
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let record: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(record["input"], image.to_str().unwrap());
    assert_eq!(record["top"].as_array().unwrap().len(), 3);
    assert!(record.get("logits").is_none());
    assert!(String::from_utf8_lossy(&out.stderr).contains("randomly initialised"));

    let out = kindling(&["predict", "--model", "resnet19", image.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model `resnet19`"));

    let bad = dir.path().join("bad.pth");
    std::fs::write(&bad, b"PK not a zip").unwrap();
    let out =
        kindling(&["predict", "--model", "resnet18", "--weights", bad.to_str().unwrap(), image.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.pth") && stderr.contains("cannot read weights"), "{stderr}");
}

#[test]
fn weights_list_and_fetch_errors() {
    let out = kindling(&["weights", "list"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().any(
            |l| l.starts_with("vgg19_bn\tIMAGENET1K_V1\thttps://download.pytorch.org/models/vgg19_bn-c79401a0.pth")
        )
    );
    let expected = kindling_vision::fetch::TORCHVISION_WEIGHTS.len() + kindling_vision::pretrained::PRETRAINED.len();
    assert_eq!(stdout.lines().count(), expected);
    assert!(stdout.lines().any(|l| l.starts_with("efficientnet_lite0\tshipped\t")));
    let out = kindling(&["weights", "fetch", "vgg11", "--tag", "IMAGENET1K_V2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no torchvision weights `IMAGENET1K_V2` for vgg11"));
}

#[test]
fn weights_fetch_of_shipped_weights_prints_their_path() {
    let out = kindling(&["weights", "fetch", "efficientnet_lite0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8(out.stdout).unwrap();
    assert!(Path::new(path.trim()).is_file(), "{path}");
}

#[test]
fn pretrained_efficientnet_lite0_sees_a_dog_breed_in_the_dog_photo() {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kindling-vision/assets/samples/dog.jpg");
    let out = kindling(&["predict", "--model", "efficientnet_lite0", "--pretrained", photo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top: Vec<(u64, String)> = record["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["index"].as_u64().unwrap(), t["label"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(top.len(), 5);
    // ImageNet classes 151..=268 are the dog breeds.
    let dogs: Vec<&String> = top.iter().filter(|(i, _)| (151..=268).contains(i)).map(|(_, l)| l).collect();
    assert!(dogs.len() >= 3, "dog breeds in the top-5: {dogs:?} (top-5: {top:?})");
    assert!((151..=268).contains(&top[0].0), "top-1 is {:?}", top[0]);
}

#[test]
fn pretrained_without_cached_torchvision_weights_is_an_error() {
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kindling-vision/assets/samples/dog.jpg");
    let out = kindling(&["predict", "--model", "resnet18", "--pretrained", photo.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kindling weights fetch resnet18"), "{err}");
}
