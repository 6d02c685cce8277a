//! Weight import/export: key map against torchvision's real names, typed errors for malformed
//! or mismatched files, and export → reload round trips.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use burn::tensor::TensorData;
use common::{fixture_path, formula_input, formula_state_dict};
use kindling_core::tensor::to_vec_f32;
use kindling_vision::weights::{self, StateDict};
use kindling_vision::{Arch, VisionModel, VisionModelConfig, WeightError};

fn device() -> burn::tensor::Device {
    kindling_core::default_device()
}

fn resnet18(num_classes: usize) -> VisionModel {
    Arch::Resnet18.init(num_classes, &device())
}

fn resnet18_state(num_classes: usize) -> StateDict {
    formula_state_dict(&resnet18(num_classes), false).0
}

#[test]
fn key_map_matches_torchvision_for_every_arch() {
    let text = std::fs::read_to_string(fixture_path("torchvision_keys.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    for arch in Arch::TORCHVISION {
        let layout = weights::torchvision_layout(&arch.init(1000, &device())).unwrap();
        let ours: Vec<(String, Vec<usize>)> = layout.into_iter().map(|p| (p.key, p.shape)).collect();
        let theirs: Vec<(String, Vec<usize>)> = serde_json::from_value(reference[arch.name()].clone()).unwrap();
        assert_eq!(ours, theirs, "{arch}: keys/shapes/order differ from torchvision's state_dict");
    }
}

#[test]
fn missing_key_is_named() {
    let mut state = resnet18_state(10);
    state.remove("layer3.1.bn2.running_var").unwrap();
    state.remove("fc.bias").unwrap();
    let err = weights::load_state_dict(resnet18(10), state, Path::new("my.pth")).unwrap_err();
    match &err {
        WeightError::MissingKey { file, key, expected, more } => {
            assert_eq!(
                (file.to_str(), key.as_str(), expected.as_slice(), *more),
                (Some("my.pth"), "fc.bias", &[10][..], 1)
            );
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    assert_eq!(err.to_string(), "my.pth: missing key `fc.bias` (expected shape [10]) (and 1 more)");
}

#[test]
fn unexpected_key_is_named() {
    let mut state = resnet18_state(10);
    state.extend(weights::state_dict_from_f32([("fc2.weight".to_string(), vec![3, 2], vec![0.0; 6])]));
    // num_batches_tracked buffers are accepted and ignored.
    let nbt = burn::store::bridge::from_data(
        TensorData::new(vec![5i64], [0usize; 0]),
        "bn1.num_batches_tracked".into(),
        None,
    );
    state.insert("bn1.num_batches_tracked".into(), nbt);
    let err = weights::load_state_dict(resnet18(10), state, Path::new("extra.safetensors")).unwrap_err();
    assert!(
        matches!(&err, WeightError::UnexpectedKey { key, found, more: 0, .. } if key == "fc2.weight" && found == &[3, 2]),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("extra.safetensors: unexpected key `fc2.weight`"), "{err}");
}

#[test]
fn shape_mismatch_names_key_and_both_shapes() {
    let err = weights::load_state_dict(resnet18(10), resnet18_state(1000), Path::new("imagenet.pth")).unwrap_err();
    match &err {
        WeightError::ShapeMismatch { key, expected, found, more, .. } => {
            assert_eq!(
                (key.as_str(), expected.as_slice(), found.as_slice(), *more),
                ("fc.bias", &[10][..], &[1000][..], 1)
            );
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert_eq!(err.to_string(), "imagenet.pth: shape mismatch for `fc.bias`: expected [10], found [1000] (and 1 more)");
}

#[test]
fn integer_tensor_is_a_dtype_error() {
    let mut state = resnet18_state(10);
    let ints = burn::store::bridge::from_data(TensorData::new(vec![1i64; 10], [10]), "fc.bias".into(), None);
    state.insert("fc.bias".into(), ints);
    let err = weights::load_state_dict(resnet18(10), state, Path::new("ints.pth")).unwrap_err();
    assert!(matches!(&err, WeightError::DType { key, .. } if key == "fc.bias"), "{err:?}");
}

#[test]
fn a_real_pth_for_another_architecture_is_rejected() {
    let path = fixture_path("resnet18_fp16_shared.pth");
    let err = weights::load_weights(Arch::Resnet34.init(1000, &device()), &path).unwrap_err();
    match &err {
        WeightError::MissingKey { file, key, more, .. } => {
            assert_eq!(file, &path);
            assert!(key.starts_with("layer1.2."), "{key}");
            assert!(*more > 10);
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
    let err = weights::load_weights(Arch::Vgg11.init(1000, &device()), &path).unwrap_err();
    assert!(matches!(err, WeightError::MissingKey { ref key, .. } if key == "classifier.0.bias"), "{err:?}");
    let small = VisionModelConfig::new(Arch::Resnet18).with_small_input(true).init(&device()).unwrap();
    let err = weights::load_weights(small, &path).unwrap_err();
    assert!(
        matches!(&err, WeightError::ShapeMismatch { key, expected, found, .. }
            if key == "conv1.weight" && expected == &[64, 3, 3, 3] && found == &[64, 3, 7, 7]),
        "{err:?}"
    );
}

#[test]
fn corrupt_and_absent_files_are_read_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pth");
    std::fs::write(&garbage, b"this is not a checkpoint at all").unwrap();
    let truncated_pth = dir.path().join("truncated.pth");
    let bytes = std::fs::read(fixture_path("resnet18_fp16_shared.pth")).unwrap();
    std::fs::write(&truncated_pth, &bytes[..bytes.len() / 2]).unwrap();
    let exported = dir.path().join("model.safetensors");
    weights::save_safetensors(&resnet18(10), &exported).unwrap();
    let truncated_st = dir.path().join("truncated.safetensors");
    let bytes = std::fs::read(&exported).unwrap();
    std::fs::write(&truncated_st, &bytes[..bytes.len() - 100]).unwrap();
    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    let absent = dir.path().join("absent.pth");
    for path in [&garbage, &truncated_pth, &truncated_st, &empty, &absent] {
        let err = weights::load_weights(resnet18(10), path).unwrap_err();
        assert!(matches!(&err, WeightError::Read { file, .. } if file == path), "{}: {err:?}", path.display());
        assert!(err.to_string().contains(path.file_name().unwrap().to_str().unwrap()), "{err}");
    }
}

#[test]
fn safetensors_file_lacking_a_tensor_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.safetensors");
    weights::save_safetensors(&resnet18(10), &full).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> =
        st.tensors().into_iter().filter(|(k, _)| k != "layer2.0.downsample.0.weight").collect();
    let partial = dir.path().join("partial.safetensors");
    safetensors::serialize_to_file(kept, None, &partial).unwrap();
    let err = weights::load_weights(resnet18(10), &partial).unwrap_err();
    assert!(
        matches!(&err, WeightError::MissingKey { file, key, expected, more: 0 }
            if file == &partial && key == "layer2.0.downsample.0.weight" && expected == &[128, 64, 1, 1]),
        "{err:?}"
    );
}

#[test]
fn export_then_reload_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    for small in [false, true] {
        let model =
            VisionModelConfig::new(Arch::Resnet18).with_num_classes(7).with_small_input(small).init(&device()).unwrap();
        let (state, _) = formula_state_dict(&model, false);
        let model = weights::load_state_dict(model, state, Path::new("<formula>")).unwrap();
        let x = formula_input("input64", [2, 3, 64, 64], &device());
        let before = to_vec_f32(model.forward(x.clone())).unwrap();

        let path = dir.path().join(format!("resnet18-{small}.safetensors"));
        weights::save_safetensors(&model, &path).unwrap();
        let keys: Vec<String> = weights::read_safetensors(&path).unwrap().into_keys().collect();
        assert_eq!(keys.len(), 102 + 20, "torchvision's 122 keys, num_batches_tracked included");
        assert!(keys.contains(&"layer4.0.downsample.1.num_batches_tracked".to_string()));

        let fresh =
            VisionModelConfig::new(Arch::Resnet18).with_num_classes(7).with_small_input(small).init(&device()).unwrap();
        let reloaded = weights::load_weights(fresh, &path).unwrap();
        let after = to_vec_f32(reloaded.forward(x)).unwrap();
        assert_eq!(before, after, "reloaded model must give identical logits");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn export_of_vgg_bn_uses_interleaved_feature_indices() {
    // VGG-11-BN: conv units are features.0, 4, 8, 11, 15, 18, 22, 25 (conv, bn, relu [, pool]).
    let layout = weights::torchvision_layout(&Arch::Vgg11Bn.init(1000, &device())).unwrap();
    let convs: Vec<&str> =
        layout.iter().filter(|p| p.key.ends_with(".weight") && p.shape.len() == 4).map(|p| p.key.as_str()).collect();
    let expected: Vec<String> = [0, 4, 8, 11, 15, 18, 22, 25].iter().map(|i| format!("features.{i}.weight")).collect();
    assert_eq!(convs, expected);
    let bn = layout.iter().find(|p| p.path == "block3.1.bn.weight").unwrap();
    assert_eq!(bn.key, "features.12.weight");
}

#[test]
fn format_is_detected_from_content_not_extension() {
    let dir = tempfile::tempdir().unwrap();
    // A safetensors file whose header length is 128: its first byte is 0x80, like a pickle's.
    let json = r#"{"fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let header = format!("{json:<128}");
    let mut bytes = 128u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(1.5f32.to_le_bytes().into_iter().chain(2.5f32.to_le_bytes()));
    let st = dir.path().join("weights.bin");
    std::fs::write(&st, &bytes).unwrap();
    let state = weights::read_state_dict(&st).unwrap();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["fc.bias"]);
    // A torch zip checkpoint with a misleading extension.
    let pth = dir.path().join("resnet.safetensors");
    std::fs::copy(fixture_path("resnet18_fp16_shared.pth"), &pth).unwrap();
    assert_eq!(weights::read_state_dict(&pth).unwrap().len(), 122);
}
