//! Multinomial logistic regression head (linfa-logistic, L-BFGS): the linear baseline.

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{HeadsError, Result};
use crate::head::{Classifier, HeadKind, check_training, check_width, softmax_rows};
use crate::scaler::Standardizer;

/// Score given to classes absent from the training labels (never predicted, probability 0).
const ABSENT: f64 = -1e30;

/// Checked logistic-regression hyper-parameters; see [`LogRegParams`].
///
/// ```
/// use kindling_heads::LogRegParams;
/// use linfa::ParamGuard;
/// assert_eq!(LogRegParams::new().c(0.5).check()?.c, 0.5);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRegValidParams {
    /// Inverse L2 strength, as scikit-learn's `C`: the loss is `C * sum(NLL) + |W|^2 / 2`
    /// (linfa-logistic's `alpha = 1 / C`).
    pub c: f64,
    /// L-BFGS iteration cap.
    pub max_iter: u64,
    /// Gradient-norm tolerance.
    pub tol: f64,
    /// Standardise features first.
    pub standardize: bool,
}

/// Logistic-regression hyper-parameters, checked when fitting.
///
/// ```
/// use kindling_heads::LogRegParams;
/// use linfa::ParamGuard;
/// assert!(LogRegParams::new().c(2.0).check().is_ok());
/// assert!(LogRegParams::new().c(-1.0).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LogRegParams(LogRegValidParams);

impl Default for LogRegParams {
    fn default() -> Self {
        Self::new()
    }
}

impl LogRegParams {
    /// `C = 1`, 1000 iterations, tolerance `1e-4`, standardised features (scikit-learn's defaults).
    pub fn new() -> Self {
        LogRegParams(LogRegValidParams { c: 1.0, max_iter: 1000, tol: 1e-4, standardize: true })
    }
    /// Sets `C`.
    pub fn c(mut self, c: f64) -> Self {
        self.0.c = c;
        self
    }
    /// Sets the iteration cap.
    pub fn max_iter(mut self, n: u64) -> Self {
        self.0.max_iter = n;
        self
    }
    /// Sets the gradient tolerance.
    pub fn tol(mut self, tol: f64) -> Self {
        self.0.tol = tol;
        self
    }
    /// Turns standardisation on or off.
    pub fn standardize(mut self, on: bool) -> Self {
        self.0.standardize = on;
        self
    }
}

impl ParamGuard for LogRegParams {
    type Checked = LogRegValidParams;
    type Error = HeadsError;

    fn check_ref(&self) -> Result<&LogRegValidParams> {
        let p = &self.0;
        if !(p.c.is_finite() && p.c > 0.0) {
            return Err(HeadsError::InvalidParam(format!("C must be a positive number, got {}", p.c)));
        }
        if !(p.tol.is_finite() && p.tol > 0.0) {
            return Err(HeadsError::InvalidParam(format!("tol must be a positive number, got {}", p.tol)));
        }
        if p.max_iter == 0 {
            return Err(HeadsError::InvalidParam("max_iter must be at least 1".into()));
        }
        Ok(p)
    }

    fn check(self) -> Result<LogRegValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted multinomial logistic regression.
///
/// ```
/// use kindling_heads::{Classifier, LogRegParams};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32], [0.1], [1.0], [1.1]];
/// let head = LogRegParams::new().fit(&linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1]))?;
/// assert_eq!((head.num_classes(), head.num_features()), (2, 1));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LogRegHead {
    pub(crate) params: LogRegValidParams,
    pub(crate) scaler: Standardizer,
    /// `[D, K]`.
    pub(crate) weights: Array2<f64>,
    /// `[K]`.
    pub(crate) bias: Array1<f64>,
}

impl LogRegHead {
    fn logits(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_width(&x, self.weights.nrows())?;
        let mut z = self.scaler.transform(x).dot(&self.weights);
        z += &self.bias;
        Ok(z.mapv(|v| v as f32))
    }
}

impl Classifier for LogRegHead {
    fn kind(&self) -> HeadKind {
        HeadKind::LogReg
    }
    fn num_classes(&self) -> usize {
        self.bias.len()
    }
    fn num_features(&self) -> usize {
        self.weights.nrows()
    }
    fn decision_function(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.logits(x)
    }
    fn predict_proba(&self, x: ArrayView2<'_, f32>) -> Result<Option<Array2<f32>>> {
        Ok(Some(softmax_rows(&self.logits(x)?)))
    }
    fn params_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
}

impl Fit<Array2<f32>, Array1<usize>, HeadsError> for LogRegValidParams {
    type Object = LogRegHead;

    fn fit(&self, dataset: &DatasetBase<Array2<f32>, Array1<usize>>) -> Result<LogRegHead> {
        let x = dataset.records.view();
        let y = dataset.targets.to_vec();
        let k = check_training(&x, &y)?;
        let scaler = if self.standardize { Standardizer::fit(x) } else { Standardizer::identity(x.ncols()) };
        let z = scaler.transform(x);
        let fitted = MultiLogisticRegression::<f64>::default()
            .alpha(1.0 / self.c)
            .max_iterations(self.max_iter)
            .gradient_tolerance(self.tol)
            .fit(&DatasetBase::new(z, Array1::from(y)))?;
        let mut weights = Array2::zeros((x.ncols(), k));
        let mut bias = Array1::from_elem(k, ABSENT);
        for (col, &class) in fitted.classes().iter().enumerate() {
            weights.column_mut(class).assign(&fitted.params().column(col));
            bias[class] = fitted.intercept()[col];
        }
        Ok(LogRegHead { params: self.clone(), scaler, weights, bias })
    }
}
