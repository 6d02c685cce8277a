//! Shared test support: the deterministic parameter formula of scripts/fixtures/vision_parity.py
//! and access to the committed fixtures.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use kindling_vision::weights::{self, LayerKind, StateDict, TorchvisionNames};

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn fnv1a(key: &str) -> u32 {
    key.bytes().fold(0x811C_9DC5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The formula's `u` for flat indices `0..n` of `key`: exact f32 in [-0.5, 0.5).
pub fn uniform(key: &str, n: usize) -> Vec<f32> {
    let h = fnv1a(key);
    (0..n as u32)
        .map(|i| {
            let mut x = i.wrapping_mul(0x9E37_79B1).wrapping_add(h);
            x ^= x >> 16;
            x = x.wrapping_mul(0x85EB_CA6B);
            x ^= x >> 13;
            x = x.wrapping_mul(0xC2B2_AE35);
            x ^= x >> 16;
            (x >> 8) as f32 * (1.0 / 16_777_216.0) - 0.5
        })
        .collect()
}

/// Values of one tensor, as the Python script computes them.
pub fn formula_values(key: &str, shape: &[usize], kind: LayerKind, residual_last: bool) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let u = uniform(key, n);
    let leaf = key.rsplit('.').next().unwrap();
    match (kind, leaf) {
        (LayerKind::Conv | LayerKind::Linear, "weight") => {
            let fan_in: usize = shape[1..].iter().product();
            let s = (24.0f64 / fan_in as f64).sqrt() as f32;
            u.into_iter().map(|v| v * s).collect()
        }
        (LayerKind::Conv | LayerKind::Linear, "bias") => u.into_iter().map(|v| 0.1f32 * v).collect(),
        (LayerKind::BatchNorm, "weight") => {
            let b = if residual_last { 0.25f32 } else { 1.0f32 };
            u.into_iter().map(|v| 0.25f32 * v + b).collect()
        }
        (LayerKind::BatchNorm, "bias" | "running_mean") => u.into_iter().map(|v| 0.1f32 * v).collect(),
        (LayerKind::BatchNorm, "running_var") => u.into_iter().map(|v| 0.5f32 * v + 1.0).collect(),
        other => panic!("no formula for {key} ({other:?})"),
    }
}

/// Whether `key` belongs to the last BatchNorm of a residual branch (`layerX.Y.bn2` of a basic
/// block, `layerX.Y.bn3` of a bottleneck).
pub fn is_residual_last(key: &str, bottleneck: bool) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    parts.len() == 4
        && parts[0].starts_with("layer")
        && parts[1].parse::<usize>().is_ok()
        && parts[2] == if bottleneck { "bn3" } else { "bn2" }
}

/// A torchvision-keyed state dict filled with the formula, for any model.
pub fn formula_state_dict<M: TorchvisionNames>(model: &M, bottleneck: bool) -> (StateDict, f64) {
    let layout = weights::torchvision_layout(model).unwrap();
    let mut sum = 0.0f64;
    let entries: Vec<_> = layout
        .into_iter()
        .map(|p| {
            let values = formula_values(&p.key, &p.shape, p.kind, is_residual_last(&p.key, bottleneck));
            sum += values.iter().map(|&v| f64::from(v)).sum::<f64>();
            (p.key, p.shape, values)
        })
        .collect();
    (weights::state_dict_from_f32(entries), sum)
}

pub fn formula_input(key: &str, shape: [usize; 4], device: &Device) -> Tensor<4> {
    let s = 12.0f64.sqrt() as f32;
    let values: Vec<f32> = uniform(key, shape.iter().product()).into_iter().map(|v| v * s).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The tensors of a safetensors fixture as f32/f64 vectors with shapes.
pub struct Fixtures {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Fixtures {
    pub fn load(name: &str) -> Self {
        let bytes = std::fs::read(fixture_path(name)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(k, v)| {
                let data = v.data();
                let values: Vec<f64> = match v.dtype() {
                    safetensors::Dtype::F32 => {
                        data.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap()))).collect()
                    }
                    safetensors::Dtype::F64 => {
                        data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
                    }
                    other => panic!("{k}: unexpected dtype {other:?}"),
                };
                (k, (v.shape().to_vec(), values))
            })
            .collect();
        Fixtures { tensors }
    }

    pub fn get(&self, key: &str) -> &(Vec<usize>, Vec<f64>) {
        self.tensors.get(key).unwrap_or_else(|| panic!("fixture has no `{key}`"))
    }

    pub fn f32s(&self, key: &str) -> Vec<f32> {
        self.get(key).1.iter().map(|&v| v as f32).collect()
    }
}

/// Max |a - b| and the tolerance 1e-4 × max(1, max |expected|).
pub fn compare(actual: &[f32], expected: &[f32]) -> (f32, f32) {
    assert_eq!(actual.len(), expected.len(), "length");
    assert!(actual.iter().all(|v| v.is_finite()), "non-finite output");
    let scale = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    (kindling_core::tensor::max_abs_diff(actual, expected), 1e-4 * scale)
}
