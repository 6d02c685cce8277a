//! Any head behind one type, and saving/loading fitted heads.
//!
//! A saved head is a safetensors file: its arrays as `F64` tensors (GBDT boosters as forust's JSON in `U8`
//! tensors) and one metadata entry `kindling_head` holding JSON with the format version, the head kind,
//! its hyper-parameters, the class names and the feature extractor's name. Loading restores the exact
//! arrays, so a loaded head predicts bit-identically.

use std::collections::HashMap;
use std::path::Path;

use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use ndarray::{Array1, Array2, ArrayView2};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde_json::{Value, json};

use kindling_data::transform::Pipeline;

use crate::error::{HeadsError, Result};
use crate::gbdt::{GbdtHead, GbdtParams, GbdtValidParams};
use crate::head::{Classifier, HeadKind};
use crate::logreg::{LogRegHead, LogRegParams, LogRegValidParams};
use crate::scaler::Standardizer;
use crate::svm::{SvmHead, SvmModel, SvmParams, SvmValidParams};

/// Version written into saved heads; loading refuses other versions.
pub const HEAD_FORMAT_VERSION: u64 = 1;

/// Hyper-parameters of any head.
///
/// ```
/// use kindling_heads::{HeadParams, HeadKind};
/// let p = HeadParams::default_for(HeadKind::Gbdt);
/// assert_eq!(p.kind(), HeadKind::Gbdt);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum HeadParams {
    /// Support vector machine.
    Svm(SvmParams),
    /// Boosted trees.
    Gbdt(GbdtParams),
    /// Logistic regression.
    LogReg(LogRegParams),
}

impl HeadParams {
    /// The default hyper-parameters of `kind`.
    pub fn default_for(kind: HeadKind) -> Self {
        match kind {
            HeadKind::SvmLinear => HeadParams::Svm(SvmParams::linear()),
            HeadKind::SvmRbf => HeadParams::Svm(SvmParams::rbf()),
            HeadKind::Gbdt => HeadParams::Gbdt(GbdtParams::new()),
            HeadKind::LogReg => HeadParams::LogReg(LogRegParams::new()),
        }
    }

    /// Which head these parameters fit.
    pub fn kind(&self) -> HeadKind {
        match self {
            HeadParams::Svm(p) => match p.kernel() {
                crate::SvmKernel::Linear => HeadKind::SvmLinear,
                crate::SvmKernel::Rbf { .. } => HeadKind::SvmRbf,
            },
            HeadParams::Gbdt(_) => HeadKind::Gbdt,
            HeadParams::LogReg(_) => HeadKind::LogReg,
        }
    }

    /// Checks the parameters and fits.
    pub fn fit(&self, x: ArrayView2<'_, f32>, y: &[usize]) -> Result<FittedHead> {
        let data = DatasetBase::new(x.to_owned(), Array1::from(y.to_vec()));
        Ok(match self {
            HeadParams::Svm(p) => FittedHead::Svm(p.fit(&data)?),
            HeadParams::Gbdt(p) => FittedHead::Gbdt(p.fit(&data)?),
            HeadParams::LogReg(p) => FittedHead::LogReg(p.fit(&data)?),
        })
    }
}

/// A fitted head of any kind.
///
/// ```
/// use kindling_heads::{Classifier, FittedHead, HeadKind, HeadParams};
/// let x = ndarray::array![[0.0f32], [0.1], [1.0], [1.1]];
/// let head = HeadParams::default_for(HeadKind::SvmLinear).fit(x.view(), &[0, 0, 1, 1])?;
/// assert!(matches!(head, FittedHead::Svm(_)));
/// assert_eq!(head.kind(), HeadKind::SvmLinear);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug)]
pub enum FittedHead {
    /// Support vector machine.
    Svm(SvmHead),
    /// Boosted trees.
    Gbdt(GbdtHead),
    /// Logistic regression.
    LogReg(LogRegHead),
}

impl FittedHead {
    fn inner(&self) -> &dyn Classifier {
        match self {
            FittedHead::Svm(h) => h,
            FittedHead::Gbdt(h) => h,
            FittedHead::LogReg(h) => h,
        }
    }
}

impl Classifier for FittedHead {
    fn kind(&self) -> HeadKind {
        self.inner().kind()
    }
    fn num_classes(&self) -> usize {
        self.inner().num_classes()
    }
    fn num_features(&self) -> usize {
        self.inner().num_features()
    }
    fn decision_function(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.inner().decision_function(x)
    }
    fn predict_proba(&self, x: ArrayView2<'_, f32>) -> Result<Option<Array2<f32>>> {
        self.inner().predict_proba(x)
    }
    fn params_json(&self) -> Value {
        self.inner().params_json()
    }
}

/// A fitted head with the class names and feature extractor it belongs to: what `fit-head --save` writes
/// and `predict --head` reads.
///
/// ```
/// use kindling_heads::{Classifier, HeadParams, HeadKind, SavedHead};
/// let x = ndarray::array![[0.0f32, 0.0], [0.1, 0.0], [1.0, 1.0], [0.9, 1.1]];
/// let head = HeadParams::default_for(HeadKind::LogReg).fit(x.view(), &[0, 0, 1, 1])?;
/// let saved = SavedHead { head, classes: vec!["no".into(), "yes".into()], model: "toy".into(), preprocessing: None };
/// let dir = tempfile::tempdir().expect("tempdir");
/// saved.save(dir.path().join("head.safetensors"))?;
/// let back = SavedHead::load(dir.path().join("head.safetensors"))?;
/// assert_eq!(back.head.decision_function(x.view())?, saved.head.decision_function(x.view())?);
/// assert_eq!(back.classes, saved.classes);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug)]
pub struct SavedHead {
    /// The fitted head.
    pub head: FittedHead,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Name of the feature extractor the head was fitted on.
    pub model: String,
    /// Image preprocessing of the training features, when their file recorded it (`preprocessing`
    /// metadata): what `predict` must apply to new images.
    pub preprocessing: Option<Pipeline>,
}

/// Tensors of a head being written.
#[derive(Default)]
struct Out {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Out {
    fn f64s(&mut self, name: &str, shape: Vec<usize>, values: impl Iterator<Item = f64>) {
        self.tensors.push((name.into(), Dtype::F64, shape, values.flat_map(f64::to_le_bytes).collect()));
    }
    fn arr1(&mut self, name: &str, a: &Array1<f64>) {
        self.f64s(name, vec![a.len()], a.iter().copied());
    }
    fn arr2(&mut self, name: &str, a: &Array2<f64>) {
        self.f64s(name, vec![a.nrows(), a.ncols()], a.iter().copied());
    }
}

/// Tensors of a head being read, with errors naming the file.
struct In<'a> {
    st: SafeTensors<'a>,
    path: &'a Path,
}

impl In<'_> {
    fn err(&self, m: String) -> HeadsError {
        HeadsError::format(self.path, m)
    }
    fn tensor(&self, name: &str, dtype: Dtype) -> Result<TensorView<'_>> {
        let t = self.st.tensor(name).map_err(|_| self.err(format!("tensor `{name}` is missing")))?;
        if t.dtype() != dtype {
            return Err(self.err(format!("tensor `{name}` must be {dtype:?}, found {:?}", t.dtype())));
        }
        Ok(t)
    }
    fn values(&self, name: &str, shape: &[Option<usize>]) -> Result<(Vec<usize>, Vec<f64>)> {
        let t = self.tensor(name, Dtype::F64)?;
        let ok = t.shape().len() == shape.len() && t.shape().iter().zip(shape).all(|(a, b)| b.is_none_or(|b| *a == b));
        if !ok {
            return Err(self.err(format!("tensor `{name}` has shape {:?}, expected {shape:?}", t.shape())));
        }
        let v = t.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        Ok((t.shape().to_vec(), v))
    }
    fn arr1(&self, name: &str, len: usize) -> Result<Array1<f64>> {
        Ok(Array1::from(self.values(name, &[Some(len)])?.1))
    }
    fn arr2(&self, name: &str, rows: Option<usize>, cols: Option<usize>) -> Result<Array2<f64>> {
        let (s, v) = self.values(name, &[rows, cols])?;
        Array2::from_shape_vec((s[0], s[1]), v).map_err(|e| self.err(e.to_string()))
    }
}

fn field<'v>(meta: &'v Value, key: &str, path: &Path) -> Result<&'v Value> {
    meta.get(key).ok_or_else(|| HeadsError::format(path, format!("head metadata lacks `{key}`")))
}

fn parse<T: serde::de::DeserializeOwned>(meta: &Value, key: &str, path: &Path) -> Result<T> {
    serde_json::from_value(field(meta, key, path)?.clone())
        .map_err(|e| HeadsError::format(path, format!("head metadata `{key}`: {e}")))
}

impl SavedHead {
    /// Writes the head (see the module documentation for the format).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut out = Out::default();
        let mut meta = json!({
            "format": "kindling-head",
            "format_version": HEAD_FORMAT_VERSION,
            "kind": self.head.kind(),
            "classes": self.classes,
            "model": self.model,
            "num_classes": self.head.num_classes(),
            "num_features": self.head.num_features(),
        });
        if let Some(p) = &self.preprocessing {
            meta["preprocessing"] = serde_json::to_value(p).unwrap_or_default();
        }
        let scaler = |out: &mut Out, s: &Standardizer| {
            out.arr1("scaler.mean", &s.mean);
            out.arr1("scaler.std", &s.std);
        };
        match &self.head {
            FittedHead::Svm(h) => {
                meta["params"] = serde_json::to_value(&h.params).unwrap_or_default();
                meta["problems"] = serde_json::to_value(&h.problems).unwrap_or_default();
                scaler(&mut out, &h.scaler);
                out.arr1("svm.rho", &h.rho);
                match &h.model {
                    SvmModel::Linear { weights } => out.arr2("svm.weights", weights),
                    SvmModel::Rbf { gamma, support, coef } => {
                        meta["gamma"] = (*gamma).into();
                        out.arr2("svm.support", support);
                        out.arr2("svm.coef", coef);
                    }
                }
            }
            FittedHead::LogReg(h) => {
                meta["params"] = serde_json::to_value(&h.params).unwrap_or_default();
                scaler(&mut out, &h.scaler);
                out.arr2("logreg.weights", &h.weights);
                out.arr1("logreg.bias", &h.bias);
            }
            FittedHead::Gbdt(h) => {
                meta["params"] = serde_json::to_value(&h.params).unwrap_or_default();
                for (c, b) in h.boosters.iter().enumerate() {
                    if let Some(b) = b {
                        let json = b.json_dump().map_err(|e| HeadsError::Boosting(e.to_string()))?;
                        out.tensors.push((format!("gbdt.booster.{c}"), Dtype::U8, vec![json.len()], json.into_bytes()));
                    }
                }
            }
        }
        let bad = |e: safetensors::SafeTensorError| HeadsError::format(path, format!("cannot encode: {e}"));
        let views = out
            .tensors
            .iter()
            .map(|(n, d, s, b)| Ok((n.clone(), TensorView::new(*d, s.clone(), b).map_err(bad)?)))
            .collect::<Result<Vec<_>>>()?;
        let info = HashMap::from([("kindling_head".to_string(), meta.to_string())]);
        let bytes = safetensors::serialize(views, Some(info)).map_err(bad)?;
        std::fs::write(path, bytes).map_err(|e| HeadsError::io(path, e))
    }

    /// Reads a head written by [`save`](Self::save); malformed files give [`HeadsError::Format`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| HeadsError::io(path, e))?;
        let fmt = |m: String| HeadsError::format(path, m);
        let st = SafeTensors::deserialize(&bytes).map_err(|e| fmt(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| fmt(format!("bad header: {e}")))?;
        let raw = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("kindling_head"))
            .ok_or_else(|| fmt("no `kindling_head` metadata: not a saved Kindling head".into()))?;
        let meta: Value = serde_json::from_str(raw).map_err(|e| fmt(format!("`kindling_head` is not JSON: {e}")))?;
        let version = field(&meta, "format_version", path)?.as_u64();
        if version != Some(HEAD_FORMAT_VERSION) {
            return Err(fmt(format!(
                "unsupported head format version {version:?}; this build reads {HEAD_FORMAT_VERSION}"
            )));
        }
        let kind: HeadKind = parse(&meta, "kind", path)?;
        let classes: Vec<String> = parse(&meta, "classes", path)?;
        let model: String = parse(&meta, "model", path)?;
        let k: usize = parse(&meta, "num_classes", path)?;
        let d: usize = parse(&meta, "num_features", path)?;
        // Labels of the training file may cover only the first classes of its list (e.g. a class subset).
        if classes.len() < k {
            return Err(fmt(format!("{} class names for {k} classes", classes.len())));
        }
        let t = In { st, path };
        let scaler = |t: &In<'_>| -> Result<Standardizer> {
            Ok(Standardizer { mean: t.arr1("scaler.mean", d)?, std: t.arr1("scaler.std", d)? })
        };
        let head = match kind {
            HeadKind::SvmLinear | HeadKind::SvmRbf => {
                let params: SvmValidParams = parse(&meta, "params", path)?;
                let problems: Vec<(usize, Option<usize>)> = parse(&meta, "problems", path)?;
                if problems.iter().any(|&(a, b)| a >= k || b.is_some_and(|b| b >= k)) {
                    return Err(fmt(format!("a binary problem names a class beyond {k}")));
                }
                let p = problems.len();
                let model = if kind == HeadKind::SvmLinear {
                    SvmModel::Linear { weights: t.arr2("svm.weights", Some(d), Some(p))? }
                } else {
                    let support = t.arr2("svm.support", None, Some(d))?;
                    SvmModel::Rbf {
                        gamma: parse(&meta, "gamma", path)?,
                        coef: t.arr2("svm.coef", Some(support.nrows()), Some(p))?,
                        support,
                    }
                };
                FittedHead::Svm(SvmHead {
                    params,
                    num_classes: k,
                    scaler: scaler(&t)?,
                    problems,
                    rho: t.arr1("svm.rho", p)?,
                    model,
                    iterations: Vec::new(),
                    converged: Vec::new(),
                    timings: (0.0, 0.0),
                })
            }
            HeadKind::LogReg => {
                let params: LogRegValidParams = parse(&meta, "params", path)?;
                FittedHead::LogReg(LogRegHead {
                    params,
                    scaler: scaler(&t)?,
                    weights: t.arr2("logreg.weights", Some(d), Some(k))?,
                    bias: t.arr1("logreg.bias", k)?,
                })
            }
            HeadKind::Gbdt => {
                let params: GbdtValidParams = parse(&meta, "params", path)?;
                let mut boosters = Vec::with_capacity(k);
                for c in 0..k {
                    let name = format!("gbdt.booster.{c}");
                    boosters.push(match t.st.tensor(&name) {
                        Err(_) => None,
                        Ok(_) => {
                            let json = std::str::from_utf8(t.tensor(&name, Dtype::U8)?.data())
                                .map_err(|e| fmt(format!("tensor `{name}` is not UTF-8: {e}")))?;
                            Some(
                                forust_ml::GradientBooster::from_json(json)
                                    .map_err(|e| fmt(format!("tensor `{name}`: {e}")))?,
                            )
                        }
                    });
                }
                if boosters.iter().all(Option::is_none) {
                    return Err(fmt("no `gbdt.booster.N` tensor".into()));
                }
                FittedHead::Gbdt(GbdtHead { params, num_features: d, boosters })
            }
        };
        let preprocessing = match meta.get("preprocessing") {
            None | Some(Value::Null) => None,
            Some(_) => Some(parse(&meta, "preprocessing", path)?),
        };
        Ok(SavedHead { head, classes, model, preprocessing })
    }
}
