//! EfficientNet-Lite against the reference PyTorch implementation (fixtures from
//! `scripts/fixtures/efficientnet_lite_parity.py`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use burn::tensor::{Tensor, TensorData};
use kindling_core::tensor::{max_abs_diff, to_vec_f32, topk};
use kindling_vision::efficientnet::EfficientNetLiteConfig;
use kindling_vision::pretrained::{PretrainedSpec, efficientnet_lite0};
use kindling_vision::weights;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/efficientnet").join(name)
}

fn read_tensor(st: &safetensors::SafeTensors<'_>, name: &str) -> (Vec<f32>, Vec<usize>) {
    let t = st.tensor(name).unwrap();
    let v = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (v, t.shape().to_vec())
}

fn reference_top5() -> Vec<Vec<usize>> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("lite0_photos.json")).unwrap()).unwrap();
    json["tf_scaling"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["top5"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect())
        .collect()
}

#[test]
fn lite0_logits_match_pytorch_on_the_sample_photos() {
    let device = kindling_core::default_device();
    let model = efficientnet_lite0(&device).unwrap();
    let bytes = std::fs::read(fixture("lite0_photos.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (input, shape) = read_tensor(&st, "input");
    let (expected, _) = read_tensor(&st, "logits");
    let x = Tensor::<4>::from_data(TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]), &device);
    let logits = to_vec_f32(model.forward(x)).unwrap();
    let diff = max_abs_diff(&logits, &expected);
    let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("EfficientNet-Lite0 parity: max |diff| = {diff:e} (logit scale {scale})");
    assert!(diff <= 1e-3, "max abs diff {diff}");
    for (i, top) in reference_top5().iter().enumerate() {
        assert_eq!(&topk(&logits[i * 1000..(i + 1) * 1000], 5), top, "photo {i}");
    }
}

#[test]
fn lite0_with_kindling_preprocessing_gives_pytorch_top5() {
    let device = kindling_core::default_device();
    let model = efficientnet_lite0(&device).unwrap();
    let pipeline = PretrainedSpec::get("efficientnet_lite0").unwrap().preprocessing();
    let photos = ["dog", "eagle", "giraffe", "person"];
    let mut data = Vec::new();
    for p in photos {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/samples/{p}.jpg"));
        let img = kindling_data::transform::open_image(&path).unwrap();
        data.extend(pipeline.apply(img, &mut kindling_core::seeded_rng(0)).data);
    }
    let x = Tensor::<4>::from_data(TensorData::new(data, [4, 3, 224, 224]), &device);
    let logits = to_vec_f32(model.forward(x)).unwrap();
    for (i, top) in reference_top5().iter().enumerate() {
        let ours = topk(&logits[i * 1000..(i + 1) * 1000], 5);
        assert_eq!(ours[0], top[0], "{}: top-1 differs", photos[i]);
        let mut a = ours.clone();
        let mut b = top.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{}: top-5 sets differ ({ours:?} vs {top:?})", photos[i]);
    }
}

#[test]
fn lite0_to_lite4_have_the_reference_structure() {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("lite_shapes.json")).unwrap()).unwrap();
    let device = kindling_core::default_device();
    for n in 0..5 {
        let model = EfficientNetLiteConfig::lite(n).init(&device);
        let layout = weights::torchvision_layout(&model).unwrap();
        let reference = json[format!("lite{n}")].as_object().unwrap();
        assert_eq!(layout.len(), reference.len(), "lite{n}: number of tensors");
        for p in &layout {
            let want: Vec<usize> =
                reference[&p.key].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(p.shape, want, "lite{n}: {} -> {}", p.key, p.path);
        }
    }
}
