//! Logit parity with torchvision for every VGG and ResNet variant.
//!
//! Parameters come from the deterministic formula shared with scripts/fixtures/vision_parity.py,
//! built as a torchvision-keyed state dict and loaded through the same import path as real files;
//! the references are torchvision's outputs (computed in float64) committed in
//! tests/fixtures/vision_parity.safetensors.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Fixtures, compare, formula_input, formula_state_dict};
use kindling_core::tensor::to_vec_f32;
use kindling_vision::{Arch, VisionModel, VisionModelConfig, weights};

fn fixtures() -> &'static Fixtures {
    static F: std::sync::OnceLock<Fixtures> = std::sync::OnceLock::new();
    F.get_or_init(|| Fixtures::load("vision_parity.safetensors"))
}

fn formula_model(arch: Arch, small: bool, name: &str) -> VisionModel {
    let device = kindling_core::default_device();
    let model = VisionModelConfig::new(arch).with_small_input(small).init(&device).unwrap();
    let bottleneck = matches!(arch, Arch::Resnet50 | Arch::Resnet101 | Arch::Resnet152);
    let (state, sum) = formula_state_dict(&model, bottleneck);
    let expected_sum = fixtures().get(&format!("{name}.param_sum")).1[0];
    assert!(
        (sum - expected_sum).abs() <= 1e-9 * expected_sum.abs().max(1.0),
        "{name}: formula parameters differ from Python's (sum {sum} vs {expected_sum})"
    );
    weights::load_state_dict(model, state, Path::new("<formula>")).unwrap()
}

fn check(arch: Arch, small: bool) {
    let name = if small { format!("{arch}_small") } else { arch.to_string() };
    let model = formula_model(arch, small, &name);
    let device = kindling_core::default_device();
    let (input_key, side) = if small { ("input32", 32) } else { ("input64", 64) };
    let x = formula_input(input_key, [2, 3, side, side], &device);
    assert_eq!(to_vec_f32(x.clone()).unwrap(), fixtures().f32s(input_key), "formula input matches the fixture");

    let logits = to_vec_f32(model.forward(x.clone())).unwrap();
    let (diff, tol) = compare(&logits, &fixtures().f32s(&format!("{name}.logits")));
    println!("parity {name:>16}: logits max|diff| {diff:.3e} (tolerance {tol:.3e})");
    assert!(diff <= tol, "{name}: logits differ from torchvision by {diff} > {tol}");

    let key = format!("{name}.features");
    if fixtures().tensors.contains_key(&key) {
        let features = to_vec_f32(model.forward_features(x)).unwrap();
        let (diff, tol) = compare(&features, &fixtures().f32s(&key));
        println!("parity {name:>16}: features max|diff| {diff:.3e} (tolerance {tol:.3e})");
        assert!(diff <= tol, "{name}: pooled features differ by {diff} > {tol}");
    }
}

#[test]
fn resnet18() {
    check(Arch::Resnet18, false);
}
#[test]
fn resnet34() {
    check(Arch::Resnet34, false);
}
#[test]
fn resnet50() {
    check(Arch::Resnet50, false);
}
#[test]
fn resnet101() {
    check(Arch::Resnet101, false);
}
#[test]
fn resnet152() {
    check(Arch::Resnet152, false);
}
#[test]
fn resnet18_small_input() {
    check(Arch::Resnet18, true);
}
#[test]
fn resnet50_small_input() {
    check(Arch::Resnet50, true);
}
#[test]
fn vgg11() {
    check(Arch::Vgg11, false);
}
#[test]
fn vgg11_bn() {
    check(Arch::Vgg11Bn, false);
}
#[test]
fn vgg13() {
    check(Arch::Vgg13, false);
}
#[test]
fn vgg13_bn() {
    check(Arch::Vgg13Bn, false);
}
#[test]
fn vgg16() {
    check(Arch::Vgg16, false);
}
#[test]
fn vgg16_bn() {
    check(Arch::Vgg16Bn, false);
}
#[test]
fn vgg19() {
    check(Arch::Vgg19, false);
}
#[test]
fn vgg19_bn() {
    check(Arch::Vgg19Bn, false);
}

#[test]
fn resnet18_stage_feature_maps() {
    let model = formula_model(Arch::Resnet18, false, "resnet18");
    let x = formula_input("input64", [2, 3, 64, 64], &kindling_core::default_device());
    let maps = model.feature_maps(x);
    let names: Vec<&str> = maps.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["stem", "layer1", "layer2", "layer3", "layer4"]);
    for (stage, t) in maps {
        let (shape, _) = fixtures().get(&format!("resnet18.{stage}"));
        assert_eq!(&t.dims().to_vec(), shape, "{stage} shape");
        let (diff, tol) = compare(&to_vec_f32(t).unwrap(), &fixtures().f32s(&format!("resnet18.{stage}")));
        println!("parity resnet18.{stage}: max|diff| {diff:.3e}");
        assert!(diff <= tol, "{stage}: {diff} > {tol}");
    }
}

/// A real `torch.save` zip checkpoint: float16 tensors that are views into shared storages.
#[test]
fn real_torchvision_pth_file() {
    let path = common::fixture_path("resnet18_fp16_shared.pth");
    let device = kindling_core::default_device();
    let model = weights::load_weights(Arch::Resnet18.init(1000, &device), &path).unwrap();
    let x = formula_input("input64", [2, 3, 64, 64], &device);
    let logits = to_vec_f32(model.forward(x)).unwrap();
    let (diff, tol) = compare(&logits, &fixtures().f32s("pth_resnet18.logits"));
    println!("parity pth_resnet18: logits max|diff| {diff:.3e} (tolerance {tol:.3e})");
    assert!(diff <= tol, "{diff} > {tol}");
}
