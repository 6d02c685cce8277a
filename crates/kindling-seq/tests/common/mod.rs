//! Shared helpers of the integration tests: fixtures written by scripts/fixtures/rnn_parity.py.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use kindling_seq::{CellKind, Recurrent, RecurrentConfig, StateDict};

/// Path of a committed fixture.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A parity case: its tensors and the configuration from its metadata.
pub struct Case {
    pub name: String,
    pub dict: StateDict,
    pub config: RecurrentConfig,
}

impl Case {
    pub fn load(name: &str) -> Case {
        let path = fixture_path(&format!("{name}.safetensors"));
        let bytes = std::fs::read(&path).expect("fixture exists");
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors header");
        let meta: HashMap<String, String> = meta.metadata().clone().expect("metadata");
        let num = |k: &str| meta[k].parse::<usize>().expect("number");
        let config = RecurrentConfig::new(
            meta["kind"].parse::<CellKind>().expect("kind"),
            num("input_size"),
            num("hidden_size"),
        )
        .with_num_layers(num("num_layers"))
        .with_bidirectional(meta["bidirectional"] == "true")
        .with_bias(meta["bias"] == "true");
        let dict = StateDict::from_safetensors(&path).expect("readable fixture");
        Case { name: name.to_string(), dict, config }
    }

    pub fn has(&self, key: &str) -> bool {
        self.dict.shape(key).is_some()
    }

    pub fn values(&self, key: &str) -> Vec<f32> {
        self.dict.get_f32(key).expect(key).1
    }

    pub fn tensor<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        let (shape, values) = self.dict.get_f32(key).expect(key);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    pub fn lengths(&self) -> Option<Vec<usize>> {
        self.has("lengths").then(|| self.values("lengths").into_iter().map(|v| v as usize).collect())
    }

    /// The model with the fixture's PyTorch weights.
    pub fn model(&self, device: &Device) -> Recurrent {
        let rnn = self.config.init(device).expect("valid config");
        rnn.load_state_dict(&self.dict, "rnn").expect("fixture weights load")
    }
}

/// Every parity case of the fixture script.
pub fn all_cases() -> Vec<String> {
    let mut v = Vec::new();
    for kind in ["rnn", "lstm", "gru"] {
        for case in ["uni1", "bi2", "bi2_init", "full_nobias"] {
            v.push(format!("{kind}_{case}"));
        }
    }
    v
}

pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    kindling_core::tensor::to_vec_f32(t).expect("float tensor")
}

pub fn max_diff<const D: usize>(t: Tensor<D>, expected: &[f32]) -> f32 {
    kindling_core::tensor::max_abs_diff(&to_vec(t), expected)
}

/// Serialises the tests of one binary that use burn's device RNG (weight init, dropout): it is
/// global to the device, so concurrent tests would draw each other's numbers.
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
