//! The trait every fitted head implements, and the head kinds.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{HeadsError, Result};

/// The classical heads Kindling fits on features.
///
/// ```
/// use kindling_heads::HeadKind;
/// let k: HeadKind = "svm-rbf".parse()?;
/// assert_eq!(k, HeadKind::SvmRbf);
/// assert_eq!(k.to_string(), "svm-rbf");
/// assert!("svm".parse::<HeadKind>().is_err());
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HeadKind {
    /// Support vector machine, linear kernel.
    #[serde(rename = "svm-linear")]
    SvmLinear,
    /// Support vector machine, RBF kernel.
    #[serde(rename = "svm-rbf")]
    SvmRbf,
    /// Gradient-boosted trees.
    #[serde(rename = "gbdt")]
    Gbdt,
    /// Multinomial logistic regression.
    #[serde(rename = "logreg")]
    LogReg,
}

impl HeadKind {
    /// Every kind, in CLI order.
    pub const ALL: [HeadKind; 4] = [HeadKind::SvmLinear, HeadKind::SvmRbf, HeadKind::Gbdt, HeadKind::LogReg];

    /// Name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::SvmLinear => "svm-linear",
            HeadKind::SvmRbf => "svm-rbf",
            HeadKind::Gbdt => "gbdt",
            HeadKind::LogReg => "logreg",
        }
    }
}

impl fmt::Display for HeadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HeadKind {
    type Err = HeadsError;
    fn from_str(s: &str) -> Result<Self> {
        HeadKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            HeadsError::InvalidParam(format!("unknown head `{s}`: expected svm-linear, svm-rbf, gbdt or logreg"))
        })
    }
}

/// A fitted classifier on feature vectors: what every head's `fit` returns.
///
/// Scores and probabilities are `[N, K]` with one column per class (label order). Inputs whose width
/// differs from the training features give [`HeadsError::Data`].
///
/// ```
/// use kindling_heads::{Classifier, LogRegParams};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32, 0.1], [0.2, 0.0], [3.0, 3.1], [3.2, 2.9]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1]);
/// let head = LogRegParams::new().fit(&data)?;
/// assert_eq!(head.predict(x.view())?, vec![0, 0, 1, 1]);
/// let p = head.predict_proba(x.view())?.expect("logistic regression has probabilities");
/// assert!((p.row(0).sum() - 1.0).abs() < 1e-5);
/// assert!(head.predict(ndarray::Array2::zeros((1, 3)).view()).is_err());
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
pub trait Classifier {
    /// Which head this is.
    fn kind(&self) -> HeadKind;
    /// Number of classes `K`.
    fn num_classes(&self) -> usize;
    /// Width `D` of the feature vectors it was fitted on.
    fn num_features(&self) -> usize;
    /// Per-class scores `[N, K]`: larger means more likely; `predict` is their row-wise argmax.
    fn decision_function(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>>;
    /// Class probabilities `[N, K]` where the head defines them (`None` for the SVM).
    fn predict_proba(&self, x: ArrayView2<'_, f32>) -> Result<Option<Array2<f32>>>;
    /// Hyper-parameters as JSON (what `fit-head` prints under `params`).
    fn params_json(&self) -> serde_json::Value;

    /// Predicted class of every row: the row-wise argmax of the scores (first index on ties).
    fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<usize>> {
        let scores = self.decision_function(x)?;
        Ok(scores
            .outer_iter()
            .map(|r| r.iter().enumerate().fold(0, |best, (i, &v)| if v > r[best] { i } else { best }))
            .collect())
    }

    /// Fraction of rows whose prediction equals `labels`.
    fn accuracy(&self, x: ArrayView2<'_, f32>, labels: &[usize]) -> Result<f64> {
        let pred = self.predict(x)?;
        if pred.len() != labels.len() {
            return Err(HeadsError::Data(format!("{} rows but {} labels", pred.len(), labels.len())));
        }
        if pred.is_empty() {
            return Ok(0.0);
        }
        Ok(pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64)
    }
}

/// Errors unless `x` has `d` columns of finite values.
pub(crate) fn check_width(x: &ArrayView2<'_, f32>, d: usize) -> Result<()> {
    if x.ncols() != d {
        return Err(HeadsError::Data(format!("features have {} columns but the head was fitted on {d}", x.ncols())));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(HeadsError::Data(format!("non-finite feature at row {}", i / d.max(1))));
    }
    Ok(())
}

/// Checks a training set: non-empty, finite, labels in `0..K` with at least two classes present.
/// Returns `K` (one more than the largest label).
pub(crate) fn check_training(x: &ArrayView2<'_, f32>, y: &[usize]) -> Result<usize> {
    if x.nrows() != y.len() {
        return Err(HeadsError::Data(format!("{} feature rows but {} labels", x.nrows(), y.len())));
    }
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(HeadsError::Data(format!("empty training set ({} x {})", x.nrows(), x.ncols())));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(HeadsError::Data(format!("non-finite feature at row {}", i / x.ncols())));
    }
    let k = y.iter().copied().max().map_or(0, |m| m + 1);
    let mut seen = vec![false; k];
    for &l in y {
        seen[l] = true;
    }
    if seen.iter().filter(|&&s| s).count() < 2 {
        return Err(HeadsError::Data("training labels hold fewer than two classes".into()));
    }
    Ok(k)
}

/// Row-wise softmax.
pub(crate) fn softmax_rows(scores: &Array2<f32>) -> Array2<f32> {
    let mut p = scores.clone();
    for mut row in p.outer_iter_mut() {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row /= s;
    }
    p
}
