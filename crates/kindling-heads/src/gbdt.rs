//! Gradient-boosted trees head (forust-ml: XGBoost-style second-order boosting on histograms).
//!
//! forust-ml has binary (log-loss) and regression objectives only, so multi-class is one-vs-rest: one
//! booster per class, fitted in parallel; the class scores are the boosters' log-odds and the
//! probabilities their sigmoids normalised to sum to one. XGBoost's `multi:softprob` instead grows one tree
//! per class per round on softmax gradients; docs/heads.md compares the two side by side.

use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{HeadsError, Result};
use crate::head::{Classifier, HeadKind, check_training, check_width};

/// Checked boosting hyper-parameters; see [`GbdtParams`].
///
/// ```
/// use kindling_heads::GbdtParams;
/// use linfa::ParamGuard;
/// let p = GbdtParams::new().rounds(50).check()?;
/// assert_eq!((p.rounds, p.max_depth), (50, 6));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbdtValidParams {
    /// Boosting rounds (trees per class).
    pub rounds: usize,
    /// Maximum tree depth (XGBoost `max_depth`).
    pub max_depth: usize,
    /// Shrinkage (XGBoost `eta`).
    pub learning_rate: f64,
    /// L2 penalty on leaf weights (XGBoost `lambda`).
    pub l2: f64,
    /// Minimum loss reduction to split (XGBoost `gamma`).
    pub gamma: f64,
    /// Minimum hessian sum in a leaf (XGBoost `min_child_weight`).
    pub min_leaf_weight: f64,
    /// Histogram bins per feature (XGBoost `max_bin`).
    pub bins: u16,
    /// Row fraction sampled per tree.
    pub subsample: f64,
    /// Column fraction sampled per tree.
    pub colsample_bytree: f64,
    /// Seed of the sampling.
    pub seed: u64,
}

/// Boosted-tree hyper-parameters, checked when fitting. Defaults follow XGBoost's.
///
/// ```
/// use kindling_heads::{Classifier, GbdtParams};
/// use linfa::{ParamGuard, traits::Fit};
/// let x = ndarray::array![[0.0f32, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2], [0.5, 0.5], [0.4, 0.6]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1, 2, 2]);
/// let head = GbdtParams::new().rounds(20).max_depth(2).min_leaf_weight(0.0).fit(&data)?;
/// assert_eq!(head.predict(x.view())?, vec![0, 0, 1, 1, 2, 2]);
/// assert!(GbdtParams::new().max_depth(0).check().is_err());
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtParams(GbdtValidParams);

impl Default for GbdtParams {
    fn default() -> Self {
        Self::new()
    }
}

impl GbdtParams {
    /// 100 rounds, depth 6, learning rate 0.3, `lambda = 1`, `gamma = 0`, `min_child_weight = 1`, 256 bins.
    pub fn new() -> Self {
        GbdtParams(GbdtValidParams {
            rounds: 100,
            max_depth: 6,
            learning_rate: 0.3,
            l2: 1.0,
            gamma: 0.0,
            min_leaf_weight: 1.0,
            bins: 256,
            subsample: 1.0,
            colsample_bytree: 1.0,
            seed: 0,
        })
    }
    /// Sets the number of rounds.
    pub fn rounds(mut self, n: usize) -> Self {
        self.0.rounds = n;
        self
    }
    /// Sets the maximum depth.
    pub fn max_depth(mut self, d: usize) -> Self {
        self.0.max_depth = d;
        self
    }
    /// Sets the learning rate.
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.0.learning_rate = lr;
        self
    }
    /// Sets the L2 leaf penalty.
    pub fn l2(mut self, l2: f64) -> Self {
        self.0.l2 = l2;
        self
    }
    /// Sets the minimum split gain.
    pub fn gamma(mut self, g: f64) -> Self {
        self.0.gamma = g;
        self
    }
    /// Sets the minimum leaf hessian.
    pub fn min_leaf_weight(mut self, w: f64) -> Self {
        self.0.min_leaf_weight = w;
        self
    }
    /// Sets the number of histogram bins.
    pub fn bins(mut self, b: u16) -> Self {
        self.0.bins = b;
        self
    }
    /// Sets the row subsampling fraction.
    pub fn subsample(mut self, f: f64) -> Self {
        self.0.subsample = f;
        self
    }
    /// Sets the column subsampling fraction.
    pub fn colsample_bytree(mut self, f: f64) -> Self {
        self.0.colsample_bytree = f;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.0.seed = s;
        self
    }
}

impl ParamGuard for GbdtParams {
    type Checked = GbdtValidParams;
    type Error = HeadsError;

    fn check_ref(&self) -> Result<&GbdtValidParams> {
        let p = &self.0;
        let bad = |m: String| Err(HeadsError::InvalidParam(m));
        if p.rounds == 0 {
            return bad("rounds must be at least 1".into());
        }
        if p.max_depth == 0 {
            return bad("max_depth must be at least 1".into());
        }
        if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
            return bad(format!("learning_rate must be a positive number, got {}", p.learning_rate));
        }
        for (name, v) in [("l2", p.l2), ("gamma", p.gamma), ("min_leaf_weight", p.min_leaf_weight)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} must be a non-negative number, got {v}"));
            }
        }
        if p.bins < 2 {
            return bad(format!("bins must be at least 2, got {}", p.bins));
        }
        if !(p.subsample > 0.0 && p.subsample <= 1.0) {
            return bad(format!("subsample must lie in (0, 1], got {}", p.subsample));
        }
        if !(p.colsample_bytree > 0.0 && p.colsample_bytree <= 1.0) {
            return bad(format!("colsample_bytree must lie in (0, 1], got {}", p.colsample_bytree));
        }
        Ok(p)
    }

    fn check(self) -> Result<GbdtValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted one-vs-rest ensemble of boosted trees.
///
/// ```
/// use kindling_heads::{Classifier, GbdtParams};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32], [0.1], [1.0], [1.1]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1]);
/// let head = GbdtParams::new().rounds(5).min_leaf_weight(0.0).fit(&data)?;
/// let p = head.predict_proba(x.view())?.expect("boosted trees have probabilities");
/// assert!(p[[3, 1]] > p[[3, 0]]);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
pub struct GbdtHead {
    pub(crate) params: GbdtValidParams,
    pub(crate) num_features: usize,
    /// One booster per class; `None` for classes absent from the training labels.
    pub(crate) boosters: Vec<Option<GradientBooster>>,
}

impl std::fmt::Debug for GbdtHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtHead")
            .field("params", &self.params)
            .field("num_features", &self.num_features)
            .field("trees", &self.boosters.iter().map(|b| b.as_ref().map_or(0, |b| b.trees.len())).collect::<Vec<_>>())
            .finish()
    }
}

/// `x` as the column-major `f64` buffer forust reads.
fn column_major(x: &ArrayView2<'_, f32>) -> Vec<f64> {
    x.t().iter().map(|&v| f64::from(v)).collect()
}

impl Classifier for GbdtHead {
    fn kind(&self) -> HeadKind {
        HeadKind::Gbdt
    }
    fn num_classes(&self) -> usize {
        self.boosters.len()
    }
    fn num_features(&self) -> usize {
        self.num_features
    }

    fn decision_function(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_width(&x, self.num_features)?;
        let data = column_major(&x);
        let m = Matrix::new(&data, x.nrows(), x.ncols());
        let mut out = Array2::from_elem((x.nrows(), self.boosters.len()), f32::MIN);
        for (c, b) in self.boosters.iter().enumerate() {
            if let Some(b) = b {
                let margin = b.predict(&m, true);
                out.column_mut(c).iter_mut().zip(margin).for_each(|(o, v)| *o = v as f32);
            }
        }
        Ok(out)
    }

    fn predict_proba(&self, x: ArrayView2<'_, f32>) -> Result<Option<Array2<f32>>> {
        let mut p = self.decision_function(x)?.mapv(|v| 1.0 / (1.0 + (-v).exp()));
        for mut row in p.outer_iter_mut() {
            let s = row.sum();
            if s > 0.0 {
                row /= s;
            }
        }
        Ok(Some(p))
    }

    fn params_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.params).unwrap_or_default();
        v["multiclass"] = "one-vs-rest".into();
        v
    }
}

impl GbdtValidParams {
    fn booster(&self) -> GradientBooster {
        GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(self.rounds)
            .set_learning_rate(self.learning_rate as f32)
            .set_max_depth(self.max_depth)
            .set_l2(self.l2 as f32)
            .set_gamma(self.gamma as f32)
            .set_min_leaf_weight(self.min_leaf_weight as f32)
            .set_nbins(self.bins)
            .set_subsample(self.subsample as f32)
            .set_colsample_bytree(self.colsample_bytree)
            .set_seed(self.seed)
            .set_parallel(true)
    }
}

impl Fit<Array2<f32>, Array1<usize>, HeadsError> for GbdtValidParams {
    type Object = GbdtHead;

    fn fit(&self, dataset: &DatasetBase<Array2<f32>, Array1<usize>>) -> Result<GbdtHead> {
        let x = dataset.records.view();
        let y = dataset.targets.to_vec();
        let k = check_training(&x, &y)?;
        let data = column_major(&x);
        let boosters = (0..k)
            .into_par_iter()
            .map(|c| {
                if !y.contains(&c) {
                    return Ok(None);
                }
                let target: Vec<f64> = y.iter().map(|&l| f64::from(u8::from(l == c))).collect();
                let mut b = self.booster();
                let m = Matrix::new(&data, x.nrows(), x.ncols());
                b.fit_unweighted(&m, &target, None).map_err(|e| HeadsError::Boosting(e.to_string()))?;
                Ok(Some(b))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GbdtHead { params: self.clone(), num_features: x.ncols(), boosters })
    }
}
