//! The predict pipeline: tensor and image inputs, labels, record format.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Fixtures, compare, formula_state_dict};
use kindling_vision::predict::{self, PredictInput, PredictOptions};
use kindling_vision::{Arch, VisionModel, weights};

fn device() -> burn::tensor::Device {
    kindling_core::default_device()
}

fn formula_resnet18() -> VisionModel {
    let model = Arch::Resnet18.init(1000, &device());
    let (state, _) = formula_state_dict(&model, false);
    weights::load_state_dict(model, state, Path::new("<formula>")).unwrap()
}

fn write_input(path: &Path, shape: Vec<usize>, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape, &bytes).unwrap();
    safetensors::serialize_to_file([("input", view)], None, path).unwrap();
}

#[test]
fn tensor_input_gives_torchvision_logits_and_imagenet_labels() {
    let fixtures = Fixtures::load("vision_parity.safetensors");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("x.safetensors");
    write_input(&input, vec![2, 3, 64, 64], &fixtures.f32s("input64"));
    let options = PredictOptions { topk: 3, logits: true, batch_size: 1, ..PredictOptions::default() };
    let records = predict::predict(&formula_resnet18(), &PredictInput::TensorFile(input), &options, &device()).unwrap();
    assert_eq!(records.len(), 2);
    let expected = fixtures.f32s("resnet18.logits");
    let classes = predict::imagenet_classes();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.input, i.to_string());
        let row = &expected[i * 1000..(i + 1) * 1000];
        let (diff, tol) = compare(r.logits.as_ref().unwrap(), row);
        assert!(diff <= tol, "{diff}");
        let best = kindling_core::tensor::topk(row, 3);
        assert_eq!(r.top.iter().map(|t| t.index).collect::<Vec<_>>(), best);
        assert_eq!(r.top[0].label, classes[best[0]]);
        assert!(r.top.windows(2).all(|w| w[0].prob >= w[1].prob));
        let p0 = kindling_core::tensor::softmax(row)[best[0]];
        assert!((r.top[0].prob - p0).abs() < 1e-5);
    }
    let line = serde_json::to_string(&records[0]).unwrap();
    assert!(line.starts_with(r#"{"input":"0","top":[{"index":"#), "{line}");
    assert!(line.contains(r#","label":""#) && line.contains(r#"],"logits":["#), "{line}");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["top"].as_array().unwrap().len(), 3);
    assert_eq!(value["logits"].as_array().unwrap().len(), 1000);
}

#[test]
fn bad_input_tensors_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = Arch::Resnet18.init(10, &device());
    let run = |path: &Path| {
        predict::predict(&model, &PredictInput::TensorFile(path.into()), &PredictOptions::default(), &device())
    };
    let gray = dir.path().join("gray.safetensors");
    write_input(&gray, vec![1, 1, 8, 8], &[0.0; 64]);
    let err = run(&gray).unwrap_err();
    assert!(err.to_string().contains("gray.safetensors") && err.to_string().contains("[N, 3, H, W]"), "{err}");
    let other = dir.path().join("other.safetensors");
    let bytes = vec![0u8; 16];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &bytes).unwrap();
    safetensors::serialize_to_file([("images", view)], None, &other).unwrap();
    let err = run(&other).unwrap_err();
    assert!(err.to_string().contains("no tensor `input` (found: images)"), "{err}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"junk").unwrap();
    assert!(matches!(run(&junk).unwrap_err(), kindling_core::Error::Format { .. }));
    assert!(matches!(run(&dir.path().join("none.safetensors")).unwrap_err(), kindling_core::Error::Io { .. }));
}

#[test]
fn images_are_preprocessed_batched_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])).save(&a).unwrap();
    let b = dir.path().join("b.jpg");
    image::GrayImage::from_fn(200, 300, |x, y| image::Luma([((x + y) % 256) as u8])).save(&b).unwrap();
    let labels_path = dir.path().join("labels.txt");
    std::fs::write(&labels_path, "cat\ndog\nbird\n").unwrap();
    let labels = predict::read_labels(&labels_path).unwrap();
    let model = Arch::Resnet18.init(3, &device());
    let options = PredictOptions { topk: 10, labels: Some(labels), ..PredictOptions::default() };
    let images = PredictInput::Images(vec![a.clone(), b.clone(), a.clone()]);
    let records = predict::predict(&model, &images, &options, &device()).unwrap();
    let inputs: Vec<&str> = records.iter().map(|r| r.input.as_str()).collect();
    assert_eq!(inputs, [a.to_str().unwrap(), b.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(records[0], records[2], "same image, same record");
    for r in &records {
        assert_eq!(r.top.len(), 3, "topk is capped at the number of classes");
        assert!(r.logits.is_none());
        let mut names: Vec<&str> = r.top.iter().map(|t| t.label.as_str()).collect();
        names.sort();
        assert_eq!(names, ["bird", "cat", "dog"]);
        assert!((r.top.iter().map(|t| t.prob).sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // Batching does not change the results (the fused engine's products may round differently
    // per batch size: same classes and order, probabilities to 1e-5).
    let one = PredictOptions { batch_size: 1, ..options.clone() };
    let single = predict::predict(&model, &images, &one, &device()).unwrap();
    for (s, r) in single.iter().zip(&records) {
        assert_eq!(s.input, r.input);
        let classes = |p: &predict::Prediction| p.top.iter().map(|t| t.index).collect::<Vec<_>>();
        assert_eq!(classes(s), classes(r));
        for (a, b) in s.top.iter().zip(&r.top) {
            assert!((a.prob - b.prob).abs() < 1e-5, "{} vs {}", a.prob, b.prob);
        }
    }
}

#[test]
fn label_problems_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gap = dir.path().join("gap.txt");
    std::fs::write(&gap, "a\n\nc\n").unwrap();
    let err = predict::read_labels(&gap).unwrap_err();
    assert_eq!(err.to_string(), format!("{}:2: empty class name", gap.display()));
    let err = predict::labels_for(10, Some(&["a".to_string()])).unwrap_err();
    assert!(err.to_string().contains("1 class names given for a model with 10 classes"), "{err}");
    assert_eq!(predict::labels_for(2, None).unwrap(), ["0", "1"]);
    assert_eq!(predict::labels_for(1000, None).unwrap()[1], "goldfish");
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"nope").unwrap();
    let model = Arch::Resnet18.init(2, &device());
    let err = predict::predict(&model, &PredictInput::Images(vec![broken]), &PredictOptions::default(), &device())
        .unwrap_err();
    assert!(err.to_string().contains("broken.png"), "{err}");
}

#[test]
fn sample_photos_go_through_the_default_pipeline() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let photos: Vec<_> = ["dog", "eagle", "giraffe", "person"].iter().map(|p| dir.join(format!("{p}.jpg"))).collect();
    let model = Arch::Resnet18.init(1000, &device());
    let options = PredictOptions { batch_size: 4, ..PredictOptions::default() };
    let records = predict::predict(&model, &PredictInput::Images(photos.clone()), &options, &device()).unwrap();
    assert_eq!(records.len(), 4);
    for (r, p) in records.iter().zip(&photos) {
        assert_eq!(r.input, p.display().to_string());
        assert_eq!(r.top.len(), 5);
        assert!(
            r.top.iter().all(|t| t.index < 1000 && t.prob > 0.0 && t.label == predict::imagenet_classes()[t.index])
        );
    }
    // The default pipeline is torchvision's Resize(256) + CenterCrop(224) + ImageNet normalisation.
    assert_eq!(options.pipeline, kindling_data::transform::Pipeline::imagenet_eval(256, 224));
}
