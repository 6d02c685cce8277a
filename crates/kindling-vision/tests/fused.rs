//! The fused inference engine against burn's modules and against the PyTorch references: same
//! parity fixtures as tests/parity.rs and tests/efficientnet_parity.rs (BatchNorm statistics that
//! are not the identity, so folding is exercised).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use common::{Fixtures, compare, formula_input, formula_state_dict};
use kindling_core::tensor::{max_abs_diff, to_vec_f32, topk};
use kindling_vision::{Arch, VisionModel, VisionModelConfig, weights};

fn fixtures() -> &'static Fixtures {
    static F: std::sync::OnceLock<Fixtures> = std::sync::OnceLock::new();
    F.get_or_init(|| Fixtures::load("vision_parity.safetensors"))
}

fn formula_model(arch: Arch, small: bool) -> VisionModel {
    let device = kindling_core::default_device();
    let model = VisionModelConfig::new(arch).with_small_input(small).init(&device).unwrap();
    let bottleneck = matches!(arch, Arch::Resnet50 | Arch::Resnet101 | Arch::Resnet152);
    let (state, _) = formula_state_dict(&model, bottleneck);
    weights::load_state_dict(model, state, Path::new("<formula>")).unwrap()
}

/// Fused logits and features match torchvision (fixture) and the unfused model.
fn check(arch: Arch, small: bool) {
    let name = if small { format!("{arch}_small") } else { arch.to_string() };
    let model = formula_model(arch, small);
    let fused = model.fuse().unwrap();
    let device = kindling_core::default_device();
    let (key, side) = if small { ("input32", 32) } else { ("input64", 64) };
    let x = formula_input(key, [2, 3, side, side], &device);

    let logits = to_vec_f32(fused.forward(x.clone()).unwrap()).unwrap();
    let (diff, tol) = compare(&logits, &fixtures().f32s(&format!("{name}.logits")));
    let unfused = to_vec_f32(model.forward(x.clone())).unwrap();
    let vs_burn = max_abs_diff(&logits, &unfused);
    println!(
        "fused {name:>16}: logits max|diff| vs torchvision {diff:.3e}, vs burn {vs_burn:.3e} (tolerance {tol:.3e})"
    );
    assert!(diff <= tol, "{name}: fused logits differ from torchvision by {diff} > {tol}");
    assert!(vs_burn <= tol, "{name}: fused logits differ from burn's by {vs_burn} > {tol}");

    let features = to_vec_f32(fused.forward_features(x.clone()).unwrap()).unwrap();
    let reference = to_vec_f32(model.forward_features(x)).unwrap();
    let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let d = max_abs_diff(&features, &reference);
    assert!(d <= 1e-4 * scale, "{name}: features differ by {d}");
    assert_eq!((fused.num_classes(), fused.num_features()), (model.num_classes(), model.num_features()));
}

#[test]
fn resnet18() {
    check(Arch::Resnet18, false);
}

#[test]
fn resnet18_small_input() {
    check(Arch::Resnet18, true);
}

#[test]
fn resnet50_bottlenecks() {
    check(Arch::Resnet50, false);
}

#[test]
fn vgg11_with_and_without_batchnorm() {
    check(Arch::Vgg11, false);
    check(Arch::Vgg11Bn, false);
}

#[test]
fn batch_of_one_and_odd_sizes_match_burn() {
    // Batch 1 takes the "one product over all pixels" path; 45×37 exercises uneven tiles and
    // asymmetric SAME padding.
    let device = kindling_core::default_device();
    for arch in [Arch::Resnet18, Arch::EfficientnetLite0] {
        let model = if arch == Arch::Resnet18 { formula_model(arch, false) } else { arch.init(7, &device) };
        let fused = model.fuse().unwrap();
        for shape in [[1, 3, 64, 64], [3, 3, 45, 37]] {
            let x = formula_input("input64", shape, &device);
            let a = to_vec_f32(fused.forward(x.clone()).unwrap()).unwrap();
            let b = to_vec_f32(model.forward(x)).unwrap();
            let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let d = max_abs_diff(&a, &b);
            assert!(d <= 1e-4 * scale, "{arch} {shape:?}: {d}");
        }
    }
}

#[test]
fn efficientnet_lite0_matches_pytorch_on_the_sample_photos() {
    let device = kindling_core::default_device();
    let model = kindling_vision::pretrained::efficientnet_lite0(&device).unwrap();
    let model = VisionModel::from(model);
    let fused = model.fuse().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/efficientnet");
    let bytes = std::fs::read(dir.join("lite0_photos.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str| {
        let t = st.tensor(name).unwrap();
        let v: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        (v, t.shape().to_vec())
    };
    let (input, shape) = read("input");
    let (expected, _) = read("logits");
    let x = Tensor::<4>::from_data(TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]), &device);
    let logits = to_vec_f32(fused.forward(x.clone()).unwrap()).unwrap();
    let diff = max_abs_diff(&logits, &expected);
    let vs_burn = max_abs_diff(&logits, &to_vec_f32(model.forward(x)).unwrap());
    println!("fused EfficientNet-Lite0: max |diff| vs PyTorch {diff:e}, vs burn {vs_burn:e}");
    assert!(diff <= 1e-3, "max abs diff {diff}");
    assert!(vs_burn <= 1e-3, "max abs diff vs burn {vs_burn}");
    for i in 0..shape[0] {
        let ours = topk(&logits[i * 1000..(i + 1) * 1000], 5);
        let theirs = topk(&expected[i * 1000..(i + 1) * 1000], 5);
        assert_eq!(ours, theirs, "photo {i}");
    }
}

#[test]
fn bad_inputs_are_shape_errors() {
    let device = kindling_core::default_device();
    let fused = Arch::Resnet18.init(4, &device).fuse().unwrap();
    for shape in [[1, 1, 32, 32], [0, 3, 32, 32]] {
        let err = fused.forward(Tensor::zeros(shape, &device)).unwrap_err();
        assert!(matches!(err, kindling_core::Error::Shape(_)), "{shape:?}: {err}");
    }
    let err = fused.logits_nchw(&[0.0; 10], [1, 3, 32, 32]).unwrap_err();
    assert!(err.to_string().contains("[N, 3, H, W]"), "{err}");
}
