//! The transfer-learning API: parameter paths, stage groups, freezing, head replacement.
#![allow(clippy::unwrap_used)]

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Int, Tensor};
use kindling_core::tensor::to_vec_f32;
use kindling_vision::{Arch, ResNet, StagedClassifier, Vgg, VisionModel, VisionModelConfig};

/// burn's parameter paths (what `ParamGroup` patterns see), without initialising lazy parameters.
fn paths<M: Module>(model: &M, with_variants: bool) -> Vec<String> {
    struct Paths {
        stack: Vec<Option<String>>,
        with_variants: bool,
        out: Vec<String>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            let keep = self.with_variants || !container_type.starts_with("Enum:");
            self.stack.push(keep.then(|| name.to_string()));
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<D>>) {
            self.out.push(self.stack.iter().flatten().cloned().collect::<Vec<_>>().join("."));
        }
    }
    let mut v = Paths { stack: Vec::new(), with_variants, out: Vec::new() };
    model.visit(&mut v);
    v.out
}

#[test]
fn parameter_paths_start_with_the_stage_name() {
    let device = kindling_core::default_device();
    for arch in [Arch::Resnet18, Arch::Resnet50, Arch::Vgg11, Arch::Vgg16Bn] {
        let model = arch.init(10, &device);
        let stages = model.stage_names();
        let names = paths(&model, false);
        for name in &names {
            assert!(stages.iter().any(|s| name.starts_with(&format!("{s}."))), "{arch}: {name}");
        }
        let wrapped = paths(&model, true);
        let prefix = format!("{}.", model.variant_name());
        assert!(wrapped.iter().all(|p| p.starts_with(&prefix)), "{arch}: {:?}", &wrapped[..3]);
    }
    let resnet = paths(&Arch::Resnet50.init(10, &device), false);
    for p in
        ["stem.conv.weight", "stem.bn.gamma", "layer1.0.conv3.weight", "layer2.0.downsample.conv.weight", "head.weight"]
    {
        assert!(resnet.contains(&p.to_string()), "{p}");
    }
    let vgg = paths(&Arch::Vgg16Bn.init(10, &device), false);
    for p in ["block1.0.conv.weight", "block3.2.bn.running_var", "head.fc1.weight", "head.fc3.bias"] {
        assert!(vgg.contains(&p.to_string()), "{p}");
    }
}

#[test]
fn stage_patterns_select_exactly_their_stage() {
    let device = kindling_core::default_device();
    let model = Arch::Resnet18.init(10, &device);
    let all = paths(&model, true);
    for stage in model.stage_names() {
        let pattern = StagedClassifier::stage_pattern(&model, stage).unwrap();
        let re_matches = all.iter().filter(|p| p.starts_with(&format!("ResNet.{stage}."))).count();
        assert!(re_matches > 0);
        assert_eq!(pattern, format!(r"^ResNet\.{stage}\."));
    }
    assert!(StagedClassifier::stage_pattern(&model, "layer9").is_none());
    if let VisionModel::ResNet(inner) = &model {
        assert_eq!(inner.stage_pattern("layer2").as_deref(), Some(r"^layer2\."));
    }
    assert_eq!(StagedClassifier::head_stage(&model), "head");
    assert!(model.stage_param_group(&["layer9"]).is_err());
    assert!(model.clone().freeze_stages(&[]).is_err());
}

#[test]
fn with_num_classes_keeps_the_backbone() {
    let device = kindling_core::default_device();
    let model = Arch::Vgg11.init(1000, &device);
    let VisionModel::Vgg(vgg) = &model else { panic!() };
    let before = to_vec_f32(vgg.block5[1].conv.weight.val()).unwrap();
    let fc2 = to_vec_f32(vgg.head.fc2.bias.as_ref().unwrap().val()).unwrap();
    let model = model.with_num_classes(7);
    let VisionModel::Vgg(vgg) = &model else { panic!() };
    assert_eq!(to_vec_f32(vgg.block5[1].conv.weight.val()).unwrap(), before);
    assert_eq!(to_vec_f32(vgg.head.fc2.bias.as_ref().unwrap().val()).unwrap(), fc2);
    assert_eq!((model.num_classes(), model.num_features(), model.num_pre_logits()), (7, 25088, 4096));
    let x = Tensor::<4>::zeros([1, 3, 32, 32], &device);
    assert_eq!(model.forward_pre_logits(x).dims(), [1, 4096]);

    let r = VisionModelConfig::new(Arch::Resnet152).init(&device).unwrap().with_num_classes(3);
    assert_eq!((r.num_classes(), r.num_features()), (3, 2048));
}

fn stem_and_head(model: &ResNet) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    (
        to_vec_f32(model.stem.conv.weight.val()).unwrap(),
        to_vec_f32(model.stem.bn.running_mean.value_sync()).unwrap(),
        to_vec_f32(model.layer1[0].conv1.weight.val()).unwrap(),
        to_vec_f32(model.head.weight.val()).unwrap(),
    )
}

#[test]
fn frozen_stages_do_not_train() {
    let device = kindling_core::default_device().autodiff();
    let model =
        VisionModelConfig::new(Arch::Resnet18).with_num_classes(3).with_small_input(true).init(&device).unwrap();
    let model = model.freeze_stages(&["stem", "layer1"]).unwrap();
    let VisionModel::ResNet(resnet) = &model else { panic!() };
    assert!(!resnet.stem.conv.weight.is_require_grad());
    assert!(!resnet.layer1[1].bn2.gamma.is_require_grad());
    assert!(resnet.layer2[0].conv1.weight.is_require_grad());
    assert!(resnet.head.weight.is_require_grad());
    let before = stem_and_head(resnet);

    let x = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<1, Int>::from_ints([0, 1, 2, 0], &device);
    let loss = CrossEntropyLossConfig::new().init(&device).forward(model.forward(x), y);
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = SgdConfig::new().init();
    let model = optim.step(0.1, model, grads);
    let VisionModel::ResNet(resnet) = &model else { panic!() };
    let after = stem_and_head(resnet);
    assert_eq!(before.0, after.0, "frozen stem weights unchanged");
    assert_eq!(before.1, after.1, "frozen stem BatchNorm statistics unchanged");
    assert_eq!(before.2, after.2, "frozen layer1 weights unchanged");
    assert_ne!(before.3, after.3, "the head trains");
}

#[test]
fn wrapper_param_group_matches_wrapper_paths() {
    let device = kindling_core::default_device().autodiff();
    let model = Arch::Vgg11.init(5, &device);
    let group: ParamGroup = model.stage_param_group(&["block1", "head"]).unwrap();
    let model = model.freeze_group(group);
    let VisionModel::Vgg(vgg) = &model else { panic!() };
    let vgg: &Vgg = vgg;
    assert!(!vgg.block1[0].conv.weight.is_require_grad());
    assert!(!vgg.head.fc3.weight.is_require_grad());
    assert!(vgg.block2[0].conv.weight.is_require_grad());
}
