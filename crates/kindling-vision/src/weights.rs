//! Weight import and export: torchvision `state_dict` files (`.pth`, zip or legacy format) and
//! safetensors, keyed by torchvision's names and remapped onto Kindling's module tree.
//!
//! Every import goes through [`load_state_dict`]: the file's keys are compared with the keys the
//! model expects (from [`torchvision_layout`]) *before* anything is applied, so a wrong file gives
//! a [`WeightError`] naming the file, the first missing / unexpected key or the first shape
//! mismatch, and never a half-loaded model. `num_batches_tracked` buffers are ignored.
//! Linear weights are `[out, in]` in the file and transposed by burn-store's
//! `PyTorchToBurnAdapter`; half/double precision tensors are cast to `f32`.
//!
//! ```no_run
//! use kindling_vision::{weights, ResNetConfig};
//! let device = kindling_core::default_device();
//! let model = weights::load_weights(ResNetConfig::resnet18().init(&device), "resnet18-f37072fd.pth")?;
//! weights::save_safetensors(&model, "resnet18.safetensors")?;
//! # Ok::<(), kindling_vision::WeightError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    BurnToPyTorchAdapter, FloatCastAdapter, ModuleAdapter, ModuleContext, ModuleSnapshot, ModuleStore,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore, bridge,
};
use burn::tensor::{DType, Shape, Tensor, TensorData};

/// Tensors keyed by their torchvision name (`layer1.0.conv1.weight`, `features.0.bias`, …),
/// in PyTorch layout. Data is read lazily.
pub type StateDict = BTreeMap<String, PackTensor>;

/// Errors of weight import/export. Every variant names the file (or the source given).
///
/// ```
/// use kindling_vision::{Arch, WeightError, weights};
/// let model = Arch::Resnet18.init(10, &kindling_core::default_device());
/// let err = weights::load_weights(model, "no/such/file.pth").unwrap_err();
/// assert!(matches!(err, WeightError::Read { .. }));
/// assert!(err.to_string().starts_with("no/such/file.pth: cannot read weights"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightError {
    /// The file could not be opened or parsed.
    #[error("{}: cannot read weights: {message}", file.display())]
    Read {
        /// File concerned.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor the model needs is not in the file.
    #[error("{}: missing key `{key}` (expected shape {expected:?}){}", file.display(), and_more(*more))]
    MissingKey {
        /// File concerned.
        file: PathBuf,
        /// First missing torchvision key (sorted order).
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
        /// How many other keys are missing.
        more: usize,
    },
    /// The file holds a tensor the model has no place for.
    #[error("{}: unexpected key `{key}` (shape {found:?}){}", file.display(), and_more(*more))]
    UnexpectedKey {
        /// File concerned.
        file: PathBuf,
        /// First unexpected key (sorted order).
        key: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// How many other keys are unexpected.
        more: usize,
    },
    /// A tensor has the wrong shape.
    #[error("{}: shape mismatch for `{key}`: expected {expected:?}, found {found:?}{}", file.display(), and_more(*more))]
    ShapeMismatch {
        /// File concerned.
        file: PathBuf,
        /// First mismatching key (sorted order).
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
        /// How many other tensors mismatch.
        more: usize,
    },
    /// A tensor is not floating point.
    #[error("{}: tensor `{key}` has dtype {dtype}, expected a float tensor", file.display())]
    DType {
        /// File concerned.
        file: PathBuf,
        /// Key concerned.
        key: String,
        /// The dtype found.
        dtype: String,
    },
    /// burn-store reported a problem while applying the tensors (e.g. unreadable tensor data).
    #[error("{}: {message}", file.display())]
    Apply {
        /// File concerned.
        file: PathBuf,
        /// The first problem reported.
        message: String,
    },
    /// Writing the file failed.
    #[error("{}: cannot write weights: {message}", file.display())]
    Write {
        /// File concerned.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model parameter has no torchvision name (a bug in the model's name map).
    #[error("parameter `{param}` has no torchvision name")]
    Unmapped {
        /// Module path of the parameter.
        param: String,
    },
}

fn and_more(more: usize) -> String {
    if more == 0 { String::new() } else { format!(" (and {more} more)") }
}

/// Models whose parameters have torchvision names.
///
/// `torchvision_names` lists, for every leaf layer (convolution, BatchNorm, linear), its module
/// path in Kindling's tree and the torchvision module prefix it corresponds to, e.g.
/// `("stem.conv", "conv1")` or `("block2.0.conv", "features.3")`.
///
/// ```
/// use kindling_vision::{TorchvisionNames, VggConfig};
/// let vgg = VggConfig::vgg11().with_batch_norm(true).init(&kindling_core::default_device());
/// let names = vgg.torchvision_names();
/// assert!(names.contains(&("block2.0.conv".to_string(), "features.4".to_string())));
/// assert!(names.contains(&("head.fc3".to_string(), "classifier.6".to_string())));
/// ```
pub trait TorchvisionNames: Module {
    /// `(module path, torchvision prefix)` of every leaf layer.
    fn torchvision_names(&self) -> Vec<(String, String)>;
}

/// Kind of layer a parameter belongs to.
///
/// ```
/// use kindling_vision::{Arch, weights::{self, LayerKind}};
/// let layout = weights::torchvision_layout(&Arch::Resnet18.init(10, &kindling_core::default_device()))?;
/// assert_eq!(layout[1].kind, LayerKind::BatchNorm); // bn1.weight
/// # Ok::<(), kindling_vision::WeightError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// `Conv2d`.
    Conv,
    /// `Linear`.
    Linear,
    /// `BatchNorm`.
    BatchNorm,
    /// Anything else.
    Other,
}

/// One tensor of a model as torchvision names and shapes it.
///
/// ```
/// use kindling_vision::{Arch, weights};
/// let layout = weights::torchvision_layout(&Arch::Resnet18.init(10, &kindling_core::default_device()))?;
/// let fc = layout.iter().find(|p| p.key == "fc.weight").expect("fc");
/// assert_eq!((fc.path.as_str(), fc.shape.as_slice()), ("head.weight", &[10, 512][..]));
/// # Ok::<(), kindling_vision::WeightError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TorchParam {
    /// torchvision key, e.g. `layer1.0.bn1.weight`.
    pub key: String,
    /// Kindling module path with PyTorch's leaf name, e.g. `layer1.0.bn1.weight` (burn: `gamma`).
    pub path: String,
    /// Shape in PyTorch layout (linear weights `[out, in]`).
    pub shape: Vec<usize>,
    /// Layer kind.
    pub kind: LayerKind,
}

/// The torchvision keys, shapes and layer kinds a model expects, in module order, without
/// initialising any lazy parameter.
///
/// ```
/// use kindling_vision::{weights, ResNetConfig};
/// let model = ResNetConfig::resnet18().init(&kindling_core::default_device());
/// let layout = weights::torchvision_layout(&model)?;
/// assert_eq!(layout[0].key, "conv1.weight");
/// assert_eq!(layout.last().map(|p| (p.key.as_str(), p.shape.clone())), Some(("fc.bias", vec![1000])));
/// assert_eq!(layout.len(), 102); // torchvision's state_dict minus 20 num_batches_tracked
/// # Ok::<(), kindling_vision::WeightError>(())
/// ```
pub fn torchvision_layout<M: TorchvisionNames>(model: &M) -> Result<Vec<TorchParam>, WeightError> {
    let names: HashMap<String, String> = model.torchvision_names().into_iter().collect();
    let mut visitor = LayoutVisitor::default();
    model.visit(&mut visitor);
    visitor
        .params
        .into_iter()
        .map(|(path, shape, container)| {
            let (module, leaf) = path.rsplit_once('.').unwrap_or(("", path.as_str()));
            let kind = match container.as_str() {
                "Struct:Conv2d" => LayerKind::Conv,
                "Struct:Linear" => LayerKind::Linear,
                "Struct:BatchNorm" => LayerKind::BatchNorm,
                _ => LayerKind::Other,
            };
            let leaf = match (kind, leaf) {
                (LayerKind::BatchNorm, "gamma") => "weight",
                (LayerKind::BatchNorm, "beta") => "bias",
                (_, leaf) => leaf,
            };
            let shape = if kind == LayerKind::Linear && leaf == "weight" { vec![shape[1], shape[0]] } else { shape };
            let prefix = names.get(module).ok_or_else(|| WeightError::Unmapped { param: path.clone() })?;
            Ok(TorchParam { key: format!("{prefix}.{leaf}"), path: format!("{module}.{leaf}"), shape, kind })
        })
        .collect()
}

#[derive(Default)]
struct LayoutVisitor {
    path: Vec<String>,
    containers: Vec<String>,
    params: Vec<(String, Vec<usize>, String)>,
}

impl ModuleVisitor for LayoutVisitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.containers.push(container_type.to_string());
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.containers.pop();
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let container = self.containers.iter().rev().find(|c| c.starts_with("Struct:")).cloned().unwrap_or_default();
        self.params.push((self.path.join("."), param.lazy_shape().to_vec(), container));
    }
}

/// Reads a PyTorch checkpoint (`torch.save` zip format or the legacy pickle format).
pub fn read_pth(path: impl AsRef<Path>) -> Result<StateDict, WeightError> {
    let path = path.as_ref();
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    let tensors = store.get_all_tensors().map_err(|e| read_error(path, e))?;
    Ok(tensors.clone())
}

/// Reads a safetensors file (as written by `safetensors.torch.save_file` or [`save_safetensors`]).
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<StateDict, WeightError> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(WeightError::Read { file: path.into(), message: "no such file".into() });
    }
    let mut store = SafetensorsStore::from_file(path);
    let tensors = store.get_all_tensors().map_err(|e| read_error(path, e))?;
    Ok(tensors.clone())
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> WeightError {
    WeightError::Read { file: path.into(), message: e.to_string() }
}

/// Reads a weight file, telling the format from its content: a safetensors header (8-byte
/// length, then `{`), else a zip archive or pickle (PyTorch checkpoint), else by extension.
pub fn read_state_dict(path: impl AsRef<Path>) -> Result<StateDict, WeightError> {
    let path = path.as_ref();
    let read_error = |e: std::io::Error| WeightError::Read { file: path.into(), message: e.to_string() };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    let mut head = [0u8; 9];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(read_error)? {
            0 => break,
            k => n += k,
        }
    }
    let header_len = u64::from_le_bytes([head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7]]);
    if n == 9 && head[8] == b'{' && header_len.saturating_add(8) <= len {
        return read_safetensors(path);
    }
    match &head[..n.min(2)] {
        [b'P', b'K'] | [0x80, _] => read_pth(path),
        _ if path.extension().is_some_and(|e| e == "safetensors") => read_safetensors(path),
        _ => read_pth(path),
    }
}

/// A state dict from `(key, shape, values)` triples in PyTorch layout (for tests and converters).
///
/// ```
/// let sd = kindling_vision::weights::state_dict_from_f32([("fc.bias".to_string(), vec![2], vec![0.5, -0.5])]);
/// assert_eq!(sd["fc.bias"].shape.to_vec(), vec![2]);
/// ```
pub fn state_dict_from_f32(entries: impl IntoIterator<Item = (String, Vec<usize>, Vec<f32>)>) -> StateDict {
    entries
        .into_iter()
        .map(|(key, shape, values)| {
            let tensor = bridge::from_data(TensorData::new(values, shape), key.clone(), None);
            (key, tensor)
        })
        .collect()
}

/// Loads a weight file into `model` (format detected by [`read_state_dict`]; wrapper prefixes
/// removed by [`strip_wrapper_prefixes`]).
pub fn load_weights<M: TorchvisionNames>(model: M, path: impl AsRef<Path>) -> Result<M, WeightError> {
    let path = path.as_ref();
    load_state_dict(model, strip_wrapper_prefixes(read_state_dict(path)?), path)
}

/// Removes a prefix shared by *every* key that training scripts commonly add: `module.`
/// (`DataParallel`), `state_dict.`, `model_state_dict.`, `model.` (checkpoints that nest the
/// state dict), repeatedly.
///
/// ```
/// use kindling_vision::weights::{state_dict_from_f32, strip_wrapper_prefixes};
/// let sd = state_dict_from_f32([("state_dict.module.fc.bias".to_string(), vec![1], vec![0.0])]);
/// assert_eq!(strip_wrapper_prefixes(sd).keys().collect::<Vec<_>>(), ["fc.bias"]);
/// ```
pub fn strip_wrapper_prefixes(mut state: StateDict) -> StateDict {
    const PREFIXES: [&str; 4] = ["module.", "state_dict.", "model_state_dict.", "model."];
    while let Some(prefix) =
        PREFIXES.iter().find(|p| !state.is_empty() && state.keys().all(|k| k.len() > p.len() && k.starts_with(*p)))
    {
        state = state
            .into_iter()
            .map(|(k, mut t)| {
                let key = k[prefix.len()..].to_string();
                t.name = key.clone();
                (key, t)
            })
            .collect();
    }
    state
}

/// Applies a torchvision-keyed state dict to `model` after checking that every expected key is
/// present with the right shape and that no other key (but `num_batches_tracked`) is there.
/// `source` names the origin in errors.
pub fn load_state_dict<M: TorchvisionNames>(mut model: M, state: StateDict, source: &Path) -> Result<M, WeightError> {
    let file = || source.to_path_buf();
    let layout = torchvision_layout(&model)?;
    let expected: BTreeMap<&str, &TorchParam> = layout.iter().map(|p| (p.key.as_str(), p)).collect();

    let missing: Vec<&&TorchParam> =
        expected.iter().filter(|(k, _)| !state.contains_key(**k)).map(|(_, p)| p).collect();
    if let Some(p) = missing.first() {
        return Err(WeightError::MissingKey {
            file: file(),
            key: p.key.clone(),
            expected: p.shape.clone(),
            more: missing.len() - 1,
        });
    }
    let unexpected: Vec<(&String, &PackTensor)> = state
        .iter()
        .filter(|(k, _)| !expected.contains_key(k.as_str()) && !k.ends_with("num_batches_tracked"))
        .collect();
    if let Some((key, t)) = unexpected.first() {
        return Err(WeightError::UnexpectedKey {
            file: file(),
            key: (*key).clone(),
            found: t.shape.to_vec(),
            more: unexpected.len() - 1,
        });
    }
    let mismatched: Vec<(&TorchParam, Vec<usize>)> = expected
        .values()
        .filter_map(|p| {
            let found = state[p.key.as_str()].shape.to_vec();
            (found != p.shape).then_some((*p, found))
        })
        .collect();
    if let Some((p, found)) = mismatched.first() {
        return Err(WeightError::ShapeMismatch {
            file: file(),
            key: p.key.clone(),
            expected: p.shape.clone(),
            found: found.clone(),
            more: mismatched.len() - 1,
        });
    }
    let mut tensors = Vec::with_capacity(layout.len());
    for p in &layout {
        let Some(mut t) = state.get(p.key.as_str()).cloned() else { continue };
        if !t.dtype.is_float() {
            return Err(WeightError::DType { file: file(), key: p.key.clone(), dtype: format!("{:?}", t.dtype) });
        }
        t.name = p.path.clone();
        tensors.push(t);
    }
    drop(state);
    let adapter: Box<dyn ModuleAdapter> = Box::new(TorchImport.chain(FloatCastAdapter::to(DType::F32)));
    let result = model.apply(tensors, None, Some(adapter), true);
    let problem = if let Some(e) = result.errors.first() {
        Some(e.to_string())
    } else if let Some((path, _)) = result.missing.first() {
        Some(format!("parameter `{path}` was not loaded"))
    } else {
        result.unused.first().map(|path| format!("tensor `{path}` matched no parameter"))
    };
    match problem {
        Some(message) => Err(WeightError::Apply { file: file(), message }),
        None => Ok(model),
    }
}

/// Writes the model's tensors to a safetensors file with torchvision keys and PyTorch layouts
/// (f32, plus zero `num_batches_tracked` buffers), so `torchvision.models.X().load_state_dict(
/// safetensors.torch.load_file(path))` accepts it and [`load_weights`] reads it back. The file is
/// written beside the target and renamed into place.
pub fn save_safetensors<M: TorchvisionNames>(model: &M, path: impl AsRef<Path>) -> Result<(), WeightError> {
    let path = path.as_ref();
    let write_error = |message: String| WeightError::Write { file: path.into(), message };
    let layout = torchvision_layout(model)?;
    let keys: HashMap<&str, &str> = layout.iter().map(|p| (p.path.as_str(), p.key.as_str())).collect();
    let collected = model.collect(None, Some(Box::new(TorchExport)), true);
    let mut entries: Vec<(String, DTypedBytes)> = Vec::with_capacity(collected.len() + 64);
    for t in collected {
        let key = keys.get(t.name.as_str()).ok_or_else(|| WeightError::Unmapped { param: t.name.clone() })?;
        let key = (*key).to_string();
        let data = bridge::into_data(t).map_err(|e| write_error(format!("{key}: {e:?}")))?;
        let shape = data.shape().to_vec();
        let data = data.convert::<f32>();
        let bytes = if cfg!(target_endian = "little") {
            data.into_bytes().to_vec()
        } else {
            let values = data.try_to_vec::<f32>().map_err(|e| write_error(format!("{key}: {e:?}")))?;
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        entries.push((key, DTypedBytes { dtype: safetensors::Dtype::F32, shape, bytes }));
    }
    let bn_prefixes: Vec<String> = layout
        .iter()
        .filter(|p| p.kind == LayerKind::BatchNorm && p.key.ends_with(".running_mean"))
        .map(|p| p.key.trim_end_matches("running_mean").to_string())
        .collect();
    for prefix in bn_prefixes {
        let bytes = 0i64.to_le_bytes().to_vec();
        entries.push((
            format!("{prefix}num_batches_tracked"),
            DTypedBytes { dtype: safetensors::Dtype::I64, shape: vec![], bytes },
        ));
    }
    let views = entries
        .iter()
        .map(|(k, t)| safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.bytes).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| write_error(e.to_string()))?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let tmp = tmp_path(path);
    let written = safetensors::serialize_to_file(views, Some(metadata), &tmp)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(message) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(message));
    }
    Ok(())
}

/// Whether `tensor` is the `f32` weight of a `Linear`: the one [`transpose_linear_weight`] handles.
fn is_f32_linear_weight(tensor: &PackTensor, ctx: &ModuleContext<'_>) -> bool {
    ctx.module_type() == Some("Struct:Linear")
        && tensor.name.rsplit('.').next() == Some("weight")
        && tensor.shape.len() == 2
        && tensor.dtype == DType::F32
}

/// A linear weight transposed with the cache-blocked [`transpose_f32`] (both directions:
/// PyTorch `[out, in]` ↔ burn `[in, out]`).
fn transpose_linear_weight(tensor: PackTensor) -> PackTensor {
    let (name, shape) = (tensor.name.clone(), Shape::new([tensor.shape[1], tensor.shape[0]]));
    bridge::map_data(tensor, name, DType::F32, shape, transpose_f32)
}

/// burn-store's `PyTorchToBurnAdapter` (BatchNorm renames, linear transposes) with a
/// cache-blocked transpose for `f32` linear weights: the byte-by-byte one takes seconds on
/// VGG's 25088×4096 `classifier.0`.
#[derive(Debug, Clone)]
struct TorchImport;

impl ModuleAdapter for TorchImport {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if is_f32_linear_weight(&tensor, &ctx) {
            return transpose_linear_weight(tensor);
        }
        PyTorchToBurnAdapter.adapt(tensor, ctx)
    }

    fn get_alternative_param_name(&self, param_name: &str, module_type: &str) -> Option<String> {
        PyTorchToBurnAdapter.get_alternative_param_name(param_name, module_type)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// burn-store's `BurnToPyTorchAdapter` with the blocked transpose of [`TorchImport`].
#[derive(Debug, Clone)]
struct TorchExport;

impl ModuleAdapter for TorchExport {
    fn adapt(&self, tensor: PackTensor, ctx: ModuleContext<'_>) -> PackTensor {
        if is_f32_linear_weight(&tensor, &ctx) {
            return transpose_linear_weight(tensor);
        }
        BurnToPyTorchAdapter.adapt(tensor, ctx)
    }

    fn get_alternative_param_name(&self, param_name: &str, module_type: &str) -> Option<String> {
        BurnToPyTorchAdapter.get_alternative_param_name(param_name, module_type)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// `[r, c]` → `[c, r]` ([`kindling_core::cpu::transpose`]). The caller guarantees a 2-D `f32` tensor.
fn transpose_f32(data: TensorData) -> TensorData {
    let (r, c) = (data.shape()[0], data.shape()[1]);
    let src: Vec<f32> = data.try_into_vec().unwrap_or_default();
    if src.len() != r * c {
        return TensorData::new(src, [r, c]); // not reachable; the shape check downstream reports it
    }
    TensorData::new(kindling_core::cpu::transpose(&src, r, c), [c, r])
}

struct DTypedBytes {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// `dir/.name.partial-<pid>` beside `path`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
