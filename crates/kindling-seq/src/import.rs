//! Loading PyTorch `nn.RNN` / `nn.LSTM` / `nn.GRU` weights.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::store::{ModuleStore, PytorchStore};
use burn::tensor::{DType, Tensor, TensorData};

use crate::stack::Recurrent;
use crate::{Result, SeqError};

/// Named tensors read from a PyTorch `.pt`/`.pth` checkpoint or a safetensors file.
///
/// Keys are kept exactly as written (`rnn.weight_ih_l0`, `lstm.bias_hh_l1_reverse`, ...).
///
/// ```
/// use kindling_seq::StateDict;
/// let mut dict = StateDict::new("<memory>");
/// dict.insert("w", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
/// assert_eq!(dict.shape("w"), Some(&[2usize, 2][..]));
/// assert!(dict.insert("bad", vec![3], vec![1.0]).is_err());
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StateDict {
    file: String,
    tensors: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Data(TensorData),
    /// A dtype burn cannot hold (e.g. 8-bit floats), kept to report it by name.
    Unsupported {
        dtype: String,
        shape: Vec<usize>,
    },
}

impl StateDict {
    /// An empty state dict; `file` names it in error messages.
    pub fn new(file: impl Into<String>) -> Self {
        Self { file: file.into(), tensors: BTreeMap::new() }
    }

    /// Reads a file by its extension: `.safetensors`, or a PyTorch checkpoint (`.pt`, `.pth`, `.bin`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Self::from_safetensors(path),
            _ => Self::from_pytorch(path),
        }
    }

    /// Reads a safetensors file (as written by `safetensors.torch.save_file(model.state_dict(), ..)`).
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| kindling_core::Error::io(path, e))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| SeqError::Read { file: file.clone(), message: format!("not a safetensors file: {e}") })?;
        let mut dict = Self::new(file);
        for (name, view) in st.iter() {
            let shape = view.shape().to_vec();
            let entry = match safetensors_dtype(view.dtype()) {
                Some(dtype) => Entry::Data(TensorData::from_bytes_vec(view.data().to_vec(), shape, dtype)),
                None => Entry::Unsupported { dtype: format!("{:?}", view.dtype()), shape },
            };
            dict.tensors.insert(name.to_string(), entry);
        }
        Ok(dict)
    }

    /// Reads a PyTorch checkpoint (`torch.save(model.state_dict(), path)`) through burn-store.
    pub fn from_pytorch(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        if !path.is_file() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(kindling_core::Error::io(path, e).into());
        }
        let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
        let read_err = |e: &dyn std::fmt::Display| SeqError::Read {
            file: file.clone(),
            message: format!("cannot read as a PyTorch checkpoint: {e}"),
        };
        let tensors = store.get_all_tensors().map_err(|e| read_err(&e))?.clone();
        let mut dict = Self::new(file.clone());
        for (name, t) in tensors {
            let (_, dtype, shape, _, bytes) = t.into_parts().map_err(|e| read_err(&e))?;
            dict.tensors.insert(name, Entry::Data(TensorData::from_bytes(bytes, shape, dtype)));
        }
        Ok(dict)
    }

    /// Adds (or replaces) an `f32` tensor; its length must match `shape`.
    pub fn insert(&mut self, key: impl Into<String>, shape: Vec<usize>, values: Vec<f32>) -> Result<()> {
        let key = key.into();
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(SeqError::Input(format!("`{key}`: {} values for shape {shape:?}", values.len())));
        }
        self.tensors.insert(key, Entry::Data(TensorData::new(values, shape)));
        Ok(())
    }

    /// Removes a tensor, returning whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        self.tensors.remove(key).is_some()
    }

    /// The file the tensors came from (or the name given to [`StateDict::new`]).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Shape of a tensor.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        self.tensors.get(key).map(|e| match e {
            Entry::Data(d) => d.shape().as_slice(),
            Entry::Unsupported { shape, .. } => shape.as_slice(),
        })
    }

    /// A tensor's values as `f32` (any float or integer dtype is converted), with its shape.
    pub fn get_f32(&self, key: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let entry = self.tensors.get(key).ok_or_else(|| SeqError::MissingKey {
            file: self.file.clone(),
            key: key.to_string(),
            expected: Vec::new(),
        })?;
        let dtype_err = |dtype: String| SeqError::DType { file: self.file.clone(), key: key.to_string(), dtype };
        match entry {
            Entry::Unsupported { dtype, .. } => Err(dtype_err(dtype.clone())),
            Entry::Data(d) if matches!(d.dtype(), DType::Bool(_)) => Err(dtype_err("bool".into())),
            Entry::Data(d) => {
                let values = d.clone().try_into_vec_as::<f32>().map_err(|e| dtype_err(format!("{e:?}")))?;
                Ok((d.shape().as_slice().to_vec(), values))
            }
        }
    }

    /// A float tensor with an exact expected shape, as a burn tensor on `device`.
    fn tensor<const D: usize>(
        &self,
        key: &str,
        expected: [usize; D],
        device: &burn::tensor::Device,
    ) -> Result<Tensor<D>> {
        let Some(shape) = self.shape(key) else {
            return Err(SeqError::MissingKey {
                file: self.file.clone(),
                key: key.to_string(),
                expected: expected.to_vec(),
            });
        };
        if shape != expected {
            return Err(SeqError::ShapeMismatch {
                file: self.file.clone(),
                key: key.to_string(),
                expected: expected.to_vec(),
                found: shape.to_vec(),
            });
        }
        let (_, values) = self.get_f32(key)?;
        Ok(Tensor::from_data(TensorData::new(values, expected), device))
    }
}

fn safetensors_dtype(d: safetensors::Dtype) -> Option<DType> {
    use safetensors::Dtype as S;
    Some(match d {
        S::F64 => DType::F64,
        S::F32 => DType::F32,
        S::F16 => DType::F16,
        S::BF16 => DType::BF16,
        S::I64 => DType::I64,
        S::I32 => DType::I32,
        S::I16 => DType::I16,
        S::I8 => DType::I8,
        S::U64 => DType::U64,
        S::U32 => DType::U32,
        S::U16 => DType::U16,
        S::U8 => DType::U8,
        S::BOOL => DType::Bool(burn::tensor::BoolStore::Native),
        _ => return None,
    })
}

impl Recurrent {
    /// Loads the weights of a PyTorch `nn.RNN` / `nn.LSTM` / `nn.GRU` with the same configuration.
    ///
    /// Reads `{prefix}weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` and their
    /// `_reverse` twins; `prefix` is the module's path in the state dict (`""` for a bare RNN
    /// module, `"encoder.lstm"` or `"encoder.lstm."` inside a model). Loading is strict: a missing
    /// tensor, a wrong shape, or a recurrent tensor under `prefix` that the configuration does
    /// not use (an extra layer, a reverse direction, biases, LSTM projections) is a typed error
    /// naming the key. Other keys (the rest of a model) are ignored.
    ///
    /// ```
    /// use kindling_seq::{CellKind, RecurrentConfig, SeqError, StateDict};
    /// let device = kindling_core::default_device();
    /// let rnn = RecurrentConfig::new(CellKind::Rnn, 2, 3).with_bias(false).init(&device)?;
    /// let mut dict = StateDict::new("<memory>");
    /// dict.insert("rnn.weight_ih_l0", vec![3, 2], vec![0.1; 6])?;
    /// let err = rnn.load_state_dict(&dict, "rnn").unwrap_err();
    /// assert!(matches!(err, SeqError::MissingKey { ref key, .. } if key == "rnn.weight_hh_l0"));
    /// # Ok::<(), kindling_seq::SeqError>(())
    /// ```
    pub fn load_state_dict(mut self, dict: &StateDict, prefix: &str) -> Result<Self> {
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('.') => p.to_string(),
            p => format!("{p}."),
        };
        // Keys the configuration does not use are reported first: they explain a mismatch
        // (e.g. bidirectional weights for a unidirectional config) better than the shape
        // error it would cause further down.
        self.check_unused(dict, &prefix, &self.expected_keys(&prefix))?;
        let gates = self.kind.num_gates() * self.hidden_size;
        let h = self.hidden_size;
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let cells =
                std::iter::once((&mut layer.forward, "")).chain(layer.reverse.as_mut().map(|c| (c, "_reverse")));
            for (cell, suffix) in cells {
                let key = |name: &str| format!("{prefix}{name}_l{l}{suffix}");
                let device = cell.weight_ih.val().device();
                let input = cell.input_size();
                cell.weight_ih = Param::from_tensor(dict.tensor(&key("weight_ih"), [gates, input], &device)?);
                cell.weight_hh = Param::from_tensor(dict.tensor(&key("weight_hh"), [gates, h], &device)?);
                if cell.bias_ih.is_some() || cell.bias_hh.is_some() {
                    cell.bias_ih = Some(Param::from_tensor(dict.tensor(&key("bias_ih"), [gates], &device)?));
                    cell.bias_hh = Some(Param::from_tensor(dict.tensor(&key("bias_hh"), [gates], &device)?));
                }
            }
        }
        Ok(self)
    }

    /// The state-dict keys this configuration reads.
    fn expected_keys(&self, prefix: &str) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let cells = std::iter::once((&layer.forward, "")).chain(layer.reverse.as_ref().map(|c| (c, "_reverse")));
            for (cell, suffix) in cells {
                let bias = cell.bias_ih.is_some() || cell.bias_hh.is_some();
                let names: &[&str] =
                    if bias { &["weight_ih", "weight_hh", "bias_ih", "bias_hh"] } else { &["weight_ih", "weight_hh"] };
                keys.extend(names.iter().map(|n| format!("{prefix}{n}_l{l}{suffix}")));
            }
        }
        keys
    }

    fn check_unused(&self, dict: &StateDict, prefix: &str, used: &BTreeSet<String>) -> Result<()> {
        let has_bias = self.layers[0].forward.bias_ih.is_some();
        for key in dict.keys() {
            let Some(name) = key.strip_prefix(prefix) else { continue };
            let Some(parsed) = parse_rnn_key(name) else { continue };
            if used.contains(key) {
                continue;
            }
            let reason = if parsed.kind == "hr" {
                "LSTM projections (proj_size > 0) are not supported".to_string()
            } else if parsed.layer >= self.layers.len() {
                format!("layer {} does not exist (num_layers = {})", parsed.layer, self.layers.len())
            } else if parsed.reverse && !self.bidirectional {
                "the configuration is not bidirectional".to_string()
            } else if parsed.is_bias && !has_bias {
                "the configuration has bias = false".to_string()
            } else {
                "not used by the configuration".to_string()
            };
            return Err(SeqError::UnexpectedKey { file: dict.file().to_string(), key: key.to_string(), reason });
        }
        Ok(())
    }
}

struct RnnKey {
    kind: &'static str,
    is_bias: bool,
    layer: usize,
    reverse: bool,
}

/// Parses `weight_ih_l3`, `bias_hh_l0_reverse`, `weight_hr_l1`, ...
fn parse_rnn_key(name: &str) -> Option<RnnKey> {
    let (is_bias, rest) =
        if let Some(r) = name.strip_prefix("weight_") { (false, r) } else { (true, name.strip_prefix("bias_")?) };
    let kinds: HashMap<&str, &'static str> = [("ih", "ih"), ("hh", "hh"), ("hr", "hr")].into();
    let (kind, rest) = rest.split_once("_l")?;
    let kind = *kinds.get(kind)?;
    let (num, reverse) = match rest.strip_suffix("_reverse") {
        Some(n) => (n, true),
        None => (rest, false),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(RnnKey { kind, is_bias, layer: num.parse().ok()?, reverse })
}

#[cfg(test)]
mod tests {
    use super::parse_rnn_key;

    #[test]
    fn parses_pytorch_rnn_keys() {
        let k = parse_rnn_key("bias_hh_l12_reverse").expect("test value");
        assert!(k.is_bias && k.reverse && k.layer == 12 && k.kind == "hh");
        let k = parse_rnn_key("weight_hr_l0").expect("test value");
        assert!(!k.is_bias && !k.reverse && k.layer == 0 && k.kind == "hr");
        for bad in ["weight", "weight_ih", "weight_ih_l", "weight_xx_l0", "bias_ih_lx", "fc.weight"] {
            assert!(parse_rnn_key(bad).is_none(), "{bad}");
        }
    }
}
