//! Feature files: CNN features and labels in safetensors.
//!
//! Schema (relied on by other tools, including `bench/reference/heads.py`):
//!
//! | entry | kind | content |
//! |---|---|---|
//! | `features` | tensor, f32, `[N, D]` | one feature vector per image |
//! | `labels` | tensor, i64, `[N]` | class index of each image, in `0..classes.len()` |
//! | `model` | metadata | name of the network that produced the features |
//! | `classes` | metadata | JSON array of class names, indexed by label |
//! | `preprocessing` | metadata | JSON of the [`Pipeline`](kindling_data::transform::Pipeline) applied to the images (written by [`extract_features`](crate::extract_features)) |
//! | any other key | metadata | free-form (`source`, `split`, ...) |

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use linfa::DatasetBase;
use ndarray::{Array1, Array2, ArrayView2};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::error::{HeadsError, Result};

/// Features of `N` images with their labels, class names and provenance.
///
/// ```
/// use kindling_heads::FeatureSet;
/// let fs = FeatureSet::new(
///     ndarray::array![[0.0f32, 1.0], [2.0, 3.0]],
///     vec![1, 0],
///     vec!["cat".into(), "dog".into()],
///     "toy",
/// )?;
/// let dir = tempfile::tempdir().expect("tempdir");
/// let path = dir.path().join("f.safetensors");
/// fs.save(&path)?;
/// let back = FeatureSet::load(&path)?;
/// assert_eq!(back, fs);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    /// `[N, D]` feature matrix.
    pub features: Array2<f32>,
    /// `N` labels in `0..classes.len()`.
    pub labels: Vec<usize>,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// Name of the feature extractor.
    pub model: String,
    /// Further metadata (`source`, `split`, ...), written as-is.
    pub metadata: BTreeMap<String, String>,
}

impl FeatureSet {
    /// Checks that rows, labels and classes agree.
    pub fn new(features: Array2<f32>, labels: Vec<usize>, classes: Vec<String>, model: &str) -> Result<Self> {
        if features.nrows() != labels.len() {
            return Err(HeadsError::Data(format!("{} feature rows but {} labels", features.nrows(), labels.len())));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes.len()) {
            return Err(HeadsError::Data(format!("label {bad} out of range for {} classes", classes.len())));
        }
        Ok(FeatureSet { features, labels, classes, model: model.to_string(), metadata: BTreeMap::new() })
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// Number of rows `N`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Feature width `D`.
    pub fn dim(&self) -> usize {
        self.features.ncols()
    }

    /// The rows `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> FeatureSet {
        FeatureSet {
            features: self.features.select(ndarray::Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
            model: self.model.clone(),
            metadata: self.metadata.clone(),
        }
    }

    /// The features and labels as a linfa dataset (records `[N, D]` f32, targets `[N]` class indices).
    pub fn to_dataset(&self) -> DatasetBase<Array2<f32>, Array1<usize>> {
        DatasetBase::new(self.features.clone(), Array1::from(self.labels.clone()))
    }

    /// A view of the feature matrix.
    pub fn view(&self) -> ArrayView2<'_, f32> {
        self.features.view()
    }

    /// Writes the file (see the module documentation for the schema).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let feat_bytes: Vec<u8> = self.features.iter().flat_map(|v| v.to_le_bytes()).collect();
        let label_bytes: Vec<u8> = self.labels.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect();
        let bad = |e: safetensors::SafeTensorError| HeadsError::format(path, format!("cannot encode: {e}"));
        let tensors = vec![
            ("features", TensorView::new(Dtype::F32, vec![self.len(), self.dim()], &feat_bytes).map_err(bad)?),
            ("labels", TensorView::new(Dtype::I64, vec![self.len()], &label_bytes).map_err(bad)?),
        ];
        let mut meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        meta.insert("model".into(), self.model.clone());
        meta.insert("classes".into(), serde_json::to_string(&self.classes).unwrap_or_default());
        let bytes = safetensors::serialize(tensors, Some(meta)).map_err(bad)?;
        std::fs::write(path, bytes).map_err(|e| HeadsError::io(path, e))
    }

    /// Reads and checks a feature file.
    ///
    /// Every defect is a [`HeadsError::Format`] naming the file: not safetensors, `features` or `labels`
    /// missing, wrong dtype or rank, row counts that disagree, missing or malformed `classes`, labels
    /// out of range, non-finite features.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| HeadsError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses the bytes of a feature file; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        let fmt = |m: String| HeadsError::format(origin, m);
        let st = SafeTensors::deserialize(bytes).map_err(|e| fmt(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| fmt(format!("bad header: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();

        let feats = st.tensor("features").map_err(|_| fmt("tensor `features` is missing".into()))?;
        if feats.dtype() != Dtype::F32 {
            return Err(fmt(format!("tensor `features` must be F32, found {:?}", feats.dtype())));
        }
        let &[n, d] = feats.shape() else {
            return Err(fmt(format!("tensor `features` must be 2-D [N, D], found shape {:?}", feats.shape())));
        };
        let labels = st.tensor("labels").map_err(|_| fmt("tensor `labels` is missing".into()))?;
        if labels.dtype() != Dtype::I64 {
            return Err(fmt(format!("tensor `labels` must be I64, found {:?}", labels.dtype())));
        }
        let &[nl] = labels.shape() else {
            return Err(fmt(format!("tensor `labels` must be 1-D [N], found shape {:?}", labels.shape())));
        };
        if nl != n {
            return Err(fmt(format!("`features` has {n} rows but `labels` has {nl}")));
        }

        let classes_json = meta.get("classes").ok_or_else(|| fmt("metadata `classes` is missing".into()))?;
        let classes: Vec<String> = serde_json::from_str(classes_json)
            .map_err(|e| fmt(format!("metadata `classes` must be a JSON array of strings: {e}")))?;
        let model = meta.get("model").ok_or_else(|| fmt("metadata `model` is missing".into()))?.clone();

        let values: Vec<f32> =
            feats.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(fmt(format!(
                "`features` holds a non-finite value at row {}, column {}",
                i / d.max(1),
                i % d.max(1)
            )));
        }
        let mut out_labels = Vec::with_capacity(n);
        for (row, c) in labels.data().chunks_exact(8).enumerate() {
            let l = i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            if l < 0 || l as usize >= classes.len() {
                return Err(fmt(format!("label {l} at row {row} is out of range for {} classes", classes.len())));
            }
            out_labels.push(l as usize);
        }
        let features = Array2::from_shape_vec((n, d), values).map_err(|e| fmt(e.to_string()))?;
        let metadata =
            meta.into_iter().filter(|(k, _)| k != "model" && k != "classes").collect::<BTreeMap<String, String>>();
        Ok(FeatureSet { features, labels: out_labels, classes, model, metadata })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FeatureSet {
        FeatureSet::new(
            ndarray::array![[0.5f32, -1.0, 2.0], [1.5, 0.0, -3.0]],
            vec![0, 2],
            vec!["a".into(), "b".into(), "c".into()],
            "m",
        )
        .unwrap()
        .with_metadata("split", "train")
    }

    fn write(tensors: Vec<(&str, TensorView<'_>)>, meta: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        std::fs::write(&path, safetensors::serialize(tensors, Some(meta)).unwrap()).unwrap();
        (dir, path)
    }

    #[test]
    fn round_trip_keeps_everything_bit_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.safetensors");
        let fs = tiny();
        fs.save(&path).unwrap();
        let back = FeatureSet::load(&path).unwrap();
        assert_eq!(back, fs);
        assert_eq!(back.metadata["split"], "train");
    }

    #[test]
    fn malformed_files_give_typed_errors_naming_the_file() {
        let f32s: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let i64s: Vec<u8> = [0i64, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let i64s3: Vec<u8> = [0i64, 1, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let good_meta = [("model", "m"), ("classes", r#"["a","b"]"#)];
        let feats = || TensorView::new(Dtype::F32, vec![2, 2], &f32s).unwrap();
        type Case<'a> = (Vec<(&'a str, TensorView<'a>)>, &'a [(&'a str, &'a str)], &'a str);
        let cases: Vec<Case<'_>> = vec![
            (
                vec![("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap())],
                &good_meta,
                "`features` is missing",
            ),
            (vec![("features", feats())], &good_meta, "`labels` is missing"),
            (
                vec![
                    ("features", TensorView::new(Dtype::I32, vec![2, 2], &f32s).unwrap()),
                    ("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap()),
                ],
                &good_meta,
                "must be F32",
            ),
            (
                vec![
                    ("features", TensorView::new(Dtype::F32, vec![4], &f32s).unwrap()),
                    ("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap()),
                ],
                &good_meta,
                "must be 2-D",
            ),
            (
                vec![("features", feats()), ("labels", TensorView::new(Dtype::I64, vec![3], &i64s3).unwrap())],
                &good_meta,
                "2 rows but `labels` has 3",
            ),
            (
                vec![("features", feats()), ("labels", TensorView::new(Dtype::F64, vec![2], &i64s).unwrap())],
                &good_meta,
                "must be I64",
            ),
            (
                vec![("features", feats()), ("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap())],
                &[("model", "m")],
                "`classes` is missing",
            ),
            (
                vec![("features", feats()), ("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap())],
                &[("model", "m"), ("classes", "a,b")],
                "JSON array",
            ),
            (
                vec![("features", feats()), ("labels", TensorView::new(Dtype::I64, vec![2], &i64s).unwrap())],
                &[("model", "m"), ("classes", r#"["a"]"#)],
                "out of range",
            ),
        ];
        for (tensors, meta, expected) in cases {
            let (_dir, path) = write(tensors, meta);
            let e = FeatureSet::load(&path).unwrap_err();
            assert!(matches!(e, HeadsError::Format { .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains("bad.safetensors") && msg.contains(expected), "{msg} (expected `{expected}`)");
        }
    }

    #[test]
    fn not_safetensors_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.safetensors");
        std::fs::write(&path, b"hello").unwrap();
        let e = FeatureSet::load(&path).unwrap_err();
        assert!(matches!(e, HeadsError::Format { .. }) && e.to_string().contains("junk.safetensors"), "{e}");
        let e = FeatureSet::load(dir.path().join("nope.safetensors")).unwrap_err();
        assert!(matches!(e, HeadsError::Io { .. }) && e.to_string().contains("nope.safetensors"), "{e}");
    }

    #[test]
    fn non_finite_features_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.safetensors");
        let mut fs = tiny();
        fs.features[[1, 2]] = f32::NAN;
        fs.save(&path).unwrap();
        let e = FeatureSet::load(&path).unwrap_err();
        assert!(e.to_string().contains("row 1, column 2"), "{e}");
    }
}
