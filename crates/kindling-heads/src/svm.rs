//! Support vector machine head: linear or RBF kernel, C-SVC, one-vs-one (default) or one-vs-rest.
//!
//! Two solvers give the same solutions (a test checks it):
//!
//! - [`SvmSolver::Precomputed`] (default): the kernel matrix is computed once for all binary problems with a
//!   blocked, multi-threaded matrix product, then linfa-svm's SMO algorithm (ported in `smo.rs`) runs on
//!   it, problems in parallel.
//! - [`SvmSolver::Linfa`]: stock `linfa_svm::Svm` per binary problem. Its fit time is dominated by
//!   linfa-kernel building the kernel matrix entry by entry (see docs/heads.md), and linfa-svm has no
//!   public entry point that accepts a precomputed kernel, hence the first solver.
//!
//! Multi-class: one-vs-one by default, like libsvm and scikit-learn's `SVC`: `K(K-1)/2` problems on two
//! classes each are much cheaper than `K` problems on all samples (the kernel work per problem grows with
//! the square of its size) and are balanced; see docs/heads.md for the measured comparison.

use linfa::ParamGuard;
use linfa::dataset::DatasetBase;
use linfa::traits::Fit;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{HeadsError, Result};
use crate::head::{Classifier, HeadKind, check_training, check_width};
use crate::scaler::Standardizer;
use crate::smo::{self, DenseKernel};

/// Kernel of the SVM.
///
/// ```
/// use kindling_heads::{SvmKernel, SvmParams};
/// assert_eq!(SvmParams::rbf().gamma(0.5).kernel(), SvmKernel::Rbf { gamma: Some(0.5) });
/// assert_eq!(SvmParams::linear().kernel(), SvmKernel::Linear);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmKernel {
    /// `K(x, y) = x . y`.
    Linear,
    /// `K(x, y) = exp(-gamma |x - y|^2)`; `gamma: None` means scikit-learn's `"scale"`,
    /// `1 / (D * Var(X))` on the (standardised) training features.
    Rbf {
        /// Kernel width.
        gamma: Option<f64>,
    },
}

/// How a multi-class problem is split into binary ones.
///
/// ```
/// use kindling_heads::{Classifier, Multiclass, SvmParams};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32], [0.1], [1.0], [1.1], [2.0], [2.1]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1, 2, 2]);
/// let head = SvmParams::rbf().c(10.0).multiclass(Multiclass::OneVsRest).fit(&data)?;
/// assert_eq!(head.predict(x.view())?, vec![0, 0, 1, 1, 2, 2]);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Multiclass {
    /// One problem per pair of classes; prediction by votes (ties broken by summed confidences).
    OneVsOne,
    /// One problem per class against all others; prediction by the largest decision value.
    OneVsRest,
}

/// Which SMO implementation fits the binary problems.
///
/// ```
/// use kindling_heads::{Classifier, SvmParams, SvmSolver};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32, 1.0], [0.2, 0.9], [1.0, 0.0], [0.9, 0.1]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1]);
/// let fast = SvmParams::linear().fit(&data)?;
/// let stock = SvmParams::linear().solver(SvmSolver::Linfa).fit(&data)?;
/// assert_eq!(fast.predict(x.view())?, stock.predict(x.view())?);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmSolver {
    /// Kernel matrix from one matrix product, linfa-svm's SMO on it (fast).
    Precomputed,
    /// Stock `linfa_svm::Svm::fit` per binary problem (slow, for reference).
    Linfa,
}

/// Checked SVM hyper-parameters; see [`SvmParams`].
///
/// ```
/// use kindling_heads::SvmParams;
/// use linfa::ParamGuard;
/// let p = SvmParams::linear().c(2.0).check()?;
/// assert_eq!((p.c, p.eps), (2.0, 1e-3));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmValidParams {
    /// Kernel.
    pub kernel: SvmKernel,
    /// Penalty `C > 0`.
    pub c: f64,
    /// SMO stopping tolerance (libsvm's `tol`, default `1e-3`).
    pub eps: f64,
    /// Standardise features before fitting (statistics of the training set).
    pub standardize: bool,
    /// Multi-class strategy.
    pub multiclass: Multiclass,
    /// SMO implementation.
    pub solver: SvmSolver,
    /// Memory for kernel matrices in MiB: the whole training Gram matrix is computed at once when it fits,
    /// otherwise one matrix per binary problem (which must fit).
    pub cache_mb: usize,
    /// Cap on SMO iterations per binary problem (libsvm: `max(10^7, 100 n)`).
    pub max_iter: usize,
}

/// SVM hyper-parameters, checked when fitting (linfa's `ParamGuard`).
///
/// ```
/// use kindling_heads::{Classifier, SvmParams};
/// use linfa::{ParamGuard, traits::Fit};
/// let x = ndarray::array![[0.0f32, 0.0], [0.1, 0.2], [2.0, 2.0], [2.1, 1.9], [0.0, 2.0], [0.2, 2.1]];
/// let data = linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1, 2, 2]);
/// let head = SvmParams::rbf().c(10.0).fit(&data)?;
/// assert_eq!(head.predict(x.view())?, vec![0, 0, 1, 1, 2, 2]);
/// assert!(SvmParams::linear().c(0.0).check().is_err());
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SvmParams(SvmValidParams);

impl SvmParams {
    /// Defaults: `C = 1`, `eps = 1e-3`, standardised features, one-vs-one, precomputed kernel, 1 GiB.
    pub fn new(kernel: SvmKernel) -> Self {
        SvmParams(SvmValidParams {
            kernel,
            c: 1.0,
            eps: 1e-3,
            standardize: true,
            multiclass: Multiclass::OneVsOne,
            solver: SvmSolver::Precomputed,
            cache_mb: 1024,
            max_iter: 10_000_000,
        })
    }
    /// Linear kernel.
    pub fn linear() -> Self {
        Self::new(SvmKernel::Linear)
    }
    /// RBF kernel with `gamma = "scale"`.
    pub fn rbf() -> Self {
        Self::new(SvmKernel::Rbf { gamma: None })
    }
    /// Sets `C`.
    pub fn c(mut self, c: f64) -> Self {
        self.0.c = c;
        self
    }
    /// The kernel (unchecked).
    pub fn kernel(&self) -> SvmKernel {
        self.0.kernel
    }
    /// Sets the RBF `gamma` (switches the kernel to RBF).
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.0.kernel = SvmKernel::Rbf { gamma: Some(gamma) };
        self
    }
    /// Sets the stopping tolerance.
    pub fn eps(mut self, eps: f64) -> Self {
        self.0.eps = eps;
        self
    }
    /// Turns standardisation on or off.
    pub fn standardize(mut self, on: bool) -> Self {
        self.0.standardize = on;
        self
    }
    /// Sets the multi-class strategy.
    pub fn multiclass(mut self, m: Multiclass) -> Self {
        self.0.multiclass = m;
        self
    }
    /// Sets the solver.
    pub fn solver(mut self, s: SvmSolver) -> Self {
        self.0.solver = s;
        self
    }
    /// Sets the kernel-matrix memory budget in MiB.
    pub fn cache_mb(mut self, mb: usize) -> Self {
        self.0.cache_mb = mb;
        self
    }
    /// Sets the SMO iteration cap.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.0.max_iter = n;
        self
    }
}

impl ParamGuard for SvmParams {
    type Checked = SvmValidParams;
    type Error = HeadsError;

    fn check_ref(&self) -> Result<&SvmValidParams> {
        let p = &self.0;
        let bad = |m: String| Err(HeadsError::InvalidParam(m));
        if !(p.c.is_finite() && p.c > 0.0) {
            return bad(format!("C must be a positive number, got {}", p.c));
        }
        if let SvmKernel::Rbf { gamma: Some(g) } = p.kernel
            && !(g.is_finite() && g > 0.0)
        {
            return bad(format!("gamma must be a positive number, got {g}"));
        }
        if !(p.eps.is_finite() && p.eps > 0.0) {
            return bad(format!("eps must be a positive number, got {}", p.eps));
        }
        if p.cache_mb == 0 {
            return bad("cache_mb must be at least 1".into());
        }
        if p.max_iter == 0 {
            return bad("max_iter must be at least 1".into());
        }
        Ok(p)
    }

    fn check(self) -> Result<SvmValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// Parameters of a fitted SVM's decision function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SvmModel {
    /// `W [D, P]`: decision `z W - rho`.
    Linear { weights: Array2<f64> },
    /// Support vectors `[S, D]` (standardised) and dual coefficients `[S, P]`.
    Rbf { gamma: f64, support: Array2<f64>, coef: Array2<f64> },
}

/// A fitted SVM head.
///
/// ```
/// use kindling_heads::{Classifier, SvmParams};
/// use linfa::traits::Fit;
/// let x = ndarray::array![[0.0f32, 1.0], [0.2, 0.9], [1.0, 0.0], [0.9, 0.1]];
/// let head = SvmParams::rbf().fit(&linfa::DatasetBase::new(x.clone(), ndarray::array![0usize, 0, 1, 1]))?;
/// assert!(head.num_support().is_some_and(|s| s >= 2));
/// assert!(head.converged());
/// assert_eq!(head.decision_function(x.view())?.dim(), (4, 2));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SvmHead {
    pub(crate) params: SvmValidParams,
    pub(crate) num_classes: usize,
    pub(crate) scaler: Standardizer,
    /// `(a, Some(b))`: class `a` (positive) against `b`; `(a, None)`: `a` against the rest.
    pub(crate) problems: Vec<(usize, Option<usize>)>,
    pub(crate) rho: Array1<f64>,
    pub(crate) model: SvmModel,
    /// SMO iterations per problem (diagnostics; not saved).
    pub(crate) iterations: Vec<usize>,
    /// Whether each problem met the stopping rule before `max_iter` (diagnostics; not saved).
    pub(crate) converged: Vec<bool>,
    /// Wall seconds spent on the full kernel matrix and on the binary problems (diagnostics; not saved).
    pub(crate) timings: (f64, f64),
}

impl SvmHead {
    /// Number of support vectors (samples with a non-zero coefficient in some binary problem).
    pub fn num_support(&self) -> Option<usize> {
        match &self.model {
            SvmModel::Rbf { support, .. } => Some(support.nrows()),
            SvmModel::Linear { .. } => None,
        }
    }

    /// SMO iterations of each binary problem in the last fit (empty after loading).
    pub fn iterations(&self) -> &[usize] {
        &self.iterations
    }

    /// Wall seconds of the last fit spent computing the full kernel matrix (0 when there was none) and
    /// solving the binary problems (per-problem kernel blocks included); zeros after loading.
    pub fn timings(&self) -> (f64, f64) {
        self.timings
    }

    /// Whether every binary problem met the stopping rule before `max_iter` in the last fit (`true` after
    /// loading).
    pub fn converged(&self) -> bool {
        self.converged.iter().all(|&c| c)
    }

    /// The resolved RBF `gamma`, if the kernel is RBF.
    pub fn gamma(&self) -> Option<f64> {
        match &self.model {
            SvmModel::Rbf { gamma, .. } => Some(*gamma),
            SvmModel::Linear { .. } => None,
        }
    }

    /// Decision values of every binary problem `[N, P]`.
    fn problem_decisions(&self, z: &Array2<f64>) -> Array2<f64> {
        let mut d = match &self.model {
            SvmModel::Linear { weights } => z.dot(weights),
            SvmModel::Rbf { gamma, support, coef } => rbf_cross(z, support, *gamma).dot(coef),
        };
        d -= &self.rho;
        d
    }
}

impl Classifier for SvmHead {
    fn kind(&self) -> HeadKind {
        match self.params.kernel {
            SvmKernel::Linear => HeadKind::SvmLinear,
            SvmKernel::Rbf { .. } => HeadKind::SvmRbf,
        }
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn num_features(&self) -> usize {
        self.scaler.mean.len()
    }

    fn decision_function(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_width(&x, self.num_features())?;
        let d = self.problem_decisions(&self.scaler.transform(x));
        let k = self.num_classes;
        let mut out = Array2::<f64>::zeros((x.nrows(), k));
        match self.params.multiclass {
            Multiclass::OneVsOne => {
                // scikit-learn's `_ovr_decision_function`: votes plus confidences squashed into (-1/3, 1/3).
                let mut conf = Array2::<f64>::zeros((x.nrows(), k));
                for (p, &(a, b)) in self.problems.iter().enumerate() {
                    let b = b.unwrap_or(a);
                    for (i, &v) in d.column(p).iter().enumerate() {
                        out[[i, if v > 0.0 { a } else { b }]] += 1.0;
                        conf[[i, a]] += v;
                        conf[[i, b]] -= v;
                    }
                }
                out += &conf.mapv(|c| c / (3.0 * (c.abs() + 1.0)));
            }
            Multiclass::OneVsRest => {
                out.fill(f64::from(f32::MIN));
                for (p, &(a, b)) in self.problems.iter().enumerate() {
                    out.column_mut(a).assign(&d.column(p));
                    if let Some(b) = b {
                        // two classes: a single problem, `b` is its negative side
                        out.column_mut(b).assign(&d.column(p).mapv(|v| -v));
                    }
                }
            }
        }
        Ok(out.mapv(|v| v as f32))
    }

    fn predict_proba(&self, _x: ArrayView2<'_, f32>) -> Result<Option<Array2<f32>>> {
        Ok(None)
    }

    fn params_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "c": self.params.c,
            "eps": self.params.eps,
            "standardize": self.params.standardize,
            "multiclass": self.params.multiclass,
            "solver": self.params.solver,
        });
        if let Some(g) = self.gamma() {
            v["gamma"] = g.into();
        }
        v
    }
}

impl Fit<ndarray::Array2<f32>, ndarray::Array1<usize>, HeadsError> for SvmValidParams {
    type Object = SvmHead;

    fn fit(&self, dataset: &DatasetBase<Array2<f32>, Array1<usize>>) -> Result<SvmHead> {
        let x = dataset.records.view();
        let y = dataset.targets.as_slice().map_or_else(|| dataset.targets.to_vec(), <[usize]>::to_vec);
        let k = check_training(&x, &y)?;
        let scaler = if self.standardize { Standardizer::fit(x) } else { Standardizer::identity(x.ncols()) };
        let z = scaler.transform(x);
        let gamma = match self.kernel {
            SvmKernel::Linear => None,
            SvmKernel::Rbf { gamma: Some(g) } => Some(g),
            SvmKernel::Rbf { gamma: None } => {
                let var = z.var(0.0);
                Some(if var > 0.0 { 1.0 / (z.ncols() as f64 * var) } else { 1.0 })
            }
        };
        let present: Vec<usize> = (0..k).filter(|c| y.contains(c)).collect();
        let problems: Vec<(usize, Option<usize>)> = match self.multiclass {
            Multiclass::OneVsOne => present
                .iter()
                .enumerate()
                .flat_map(|(i, &a)| present[i + 1..].iter().map(move |&b| (a, Some(b))))
                .collect(),
            Multiclass::OneVsRest if present.len() == 2 => vec![(present[1], Some(present[0]))],
            Multiclass::OneVsRest => present.iter().map(|&a| (a, None)).collect(),
        };
        let members = |&(a, b): &(usize, Option<usize>)| -> Vec<usize> {
            (0..y.len()).filter(|&i| b.is_none() || y[i] == a || Some(y[i]) == b).collect()
        };
        let budget = self.cache_mb.saturating_mul(1 << 20);
        let n = z.nrows();
        let clock = std::time::Instant::now();
        let fits = |m: usize| m.checked_mul(m).and_then(|e| e.checked_mul(4)).is_some_and(|b| b <= budget);
        let full = (self.solver == SvmSolver::Precomputed && fits(n)).then(|| gram(&z, gamma));
        let kernel_seconds = clock.elapsed().as_secs_f64();
        let clock = std::time::Instant::now();
        let solutions: Vec<(Vec<usize>, smo::BinarySolution)> = problems
            .par_iter()
            .map(|pb| {
                let idx = members(pb);
                let positive: Vec<bool> = idx.iter().map(|&i| y[i] == pb.0).collect();
                let sol = match self.solver {
                    SvmSolver::Linfa => self.fit_linfa(&z.select(Axis(0), &idx), &positive, gamma)?,
                    SvmSolver::Precomputed => {
                        let m = idx.len();
                        let block = match &full {
                            Some(_) if m == n => None,
                            Some(g) => Some(gather(g, n, &idx)),
                            None if fits(m) => Some(gram(&z.select(Axis(0), &idx), gamma)),
                            None => {
                                return Err(HeadsError::InvalidParam(format!(
                                    "a binary problem of {m} samples needs a {} MiB kernel matrix; raise cache_mb \
                                     (now {})",
                                    (m * m * 4) >> 20,
                                    self.cache_mb
                                )));
                            }
                        };
                        let values = block.as_deref().or(full.as_deref()).unwrap_or(&[]);
                        smo::solve(&DenseKernel { n: m, values }, &positive, self.c, self.eps, self.max_iter)
                    }
                };
                Ok((idx, sol))
            })
            .collect::<Result<_>>()?;

        let solve_seconds = clock.elapsed().as_secs_f64();
        // Support vectors: samples with a non-zero coefficient in any problem.
        let mut is_sv = vec![false; n];
        for (idx, sol) in &solutions {
            for (&i, &c) in idx.iter().zip(&sol.coef) {
                is_sv[i] |= c != 0.0;
            }
        }
        let sv: Vec<usize> = (0..n).filter(|&i| is_sv[i]).collect();
        let mut pos = vec![usize::MAX; n];
        for (s, &i) in sv.iter().enumerate() {
            pos[i] = s;
        }
        let mut coef = Array2::<f64>::zeros((sv.len(), problems.len()));
        for (p, (idx, sol)) in solutions.iter().enumerate() {
            for (&i, &c) in idx.iter().zip(&sol.coef) {
                if c != 0.0 {
                    coef[[pos[i], p]] = c;
                }
            }
        }
        let support = z.select(Axis(0), &sv);
        let model = match gamma {
            None => SvmModel::Linear { weights: support.t().dot(&coef) },
            Some(gamma) => SvmModel::Rbf { gamma, support, coef },
        };
        Ok(SvmHead {
            params: SvmValidParams { kernel: self.kernel_resolved(gamma), ..self.clone() },
            num_classes: k,
            scaler,
            problems,
            rho: solutions.iter().map(|(_, s)| s.rho).collect(),
            model,
            iterations: solutions.iter().map(|(_, s)| s.iterations).collect(),
            converged: solutions.iter().map(|(_, s)| s.converged).collect(),
            timings: (kernel_seconds, solve_seconds),
        })
    }
}

impl SvmValidParams {
    fn kernel_resolved(&self, gamma: Option<f64>) -> SvmKernel {
        match gamma {
            None => SvmKernel::Linear,
            Some(g) => SvmKernel::Rbf { gamma: Some(g) },
        }
    }

    /// One binary problem with stock linfa-svm.
    fn fit_linfa(&self, z: &Array2<f64>, positive: &[bool], gamma: Option<f64>) -> Result<smo::BinarySolution> {
        let params = linfa_svm::Svm::<f64, bool>::params().pos_neg_weights(self.c, self.c).eps(self.eps);
        let params = match gamma {
            None => params.linear_kernel(),
            Some(g) => params.gaussian_kernel(1.0 / g),
        };
        let data = DatasetBase::new(z.clone(), Array1::from(positive.to_vec()));
        let svm = params.fit(&data)?;
        // linfa-svm keeps its iteration count and exit reason private; its Display says which.
        let converged = !svm.to_string().starts_with("Reached maximal iterations");
        Ok(smo::BinarySolution { coef: svm.alpha.clone(), rho: svm.rho, iterations: 0, converged })
    }
}

/// Rows of `x` per block when computing kernel matrices (bounds the temporary `f64` product).
const BLOCK_ROWS: usize = 512;

/// Kernel matrix `[n, n]` of the rows of `z`, row-major, in single precision like libsvm's kernel cache
/// (the SMO gradients and coefficients stay in double precision).
///
/// The dot products come from a blocked single-precision matrix product (matrixmultiply, multi-threaded);
/// only the upper triangle is computed and then mirrored, so the matrix is exactly symmetric and costs
/// half a full product.
fn gram(z: &Array2<f64>, gamma: Option<f64>) -> Vec<f32> {
    let n = z.nrows();
    let norms: Array1<f64> = z.outer_iter().map(|r| r.dot(&r)).collect();
    let zf = z.mapv(|v| v as f32);
    let mut out = vec![0.0f32; n * n];
    for start in (0..n).step_by(BLOCK_ROWS) {
        let rows = BLOCK_ROWS.min(n - start);
        let dots = zf.slice(s![start..start + rows, ..]).dot(&zf.slice(s![start.., ..]).t()).mapv(f64::from);
        for (r, src) in dots.outer_iter().enumerate() {
            let i = start + r;
            let dst = &mut out[i * n + start..(i + 1) * n];
            match gamma {
                None => dst.iter_mut().zip(src).for_each(|(d, &dot)| *d = dot as f32),
                Some(g) => dst
                    .iter_mut()
                    .zip(src)
                    .zip(&norms.as_slice().unwrap_or(&[])[start..])
                    .for_each(|((d, &dot), &nj)| *d = (-g * (norms[i] + nj - 2.0 * dot).max(0.0)).exp() as f32),
            }
        }
    }
    // Lower triangle from the upper one, tile by tile (cache friendly), making the matrix exactly symmetric.
    const TILE: usize = 64;
    for ti in (0..n).step_by(TILE) {
        for tj in (0..=ti).step_by(TILE) {
            for i in ti..(ti + TILE).min(n) {
                for j in tj..(tj + TILE).min(i) {
                    out[i * n + j] = out[j * n + i];
                }
            }
        }
    }
    out
}

/// The `[m, m]` block of an `[n, n]` matrix at rows and columns `idx`.
fn gather(full: &[f32], n: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * idx.len());
    for &i in idx {
        let row = &full[i * n..(i + 1) * n];
        out.extend(idx.iter().map(|&j| row[j]));
    }
    out
}

/// RBF kernel between the rows of `a` `[N, D]` and `b` `[S, D]`: `[N, S]`.
pub(crate) fn rbf_cross(a: &Array2<f64>, b: &Array2<f64>, gamma: f64) -> Array2<f64> {
    let na: Array1<f64> = a.outer_iter().map(|r| r.dot(&r)).collect();
    let nb: Array1<f64> = b.outer_iter().map(|r| r.dot(&r)).collect();
    let mut k = a.dot(&b.t());
    for (mut row, &ni) in k.outer_iter_mut().zip(&na) {
        row.iter_mut().zip(&nb).for_each(|(v, &nj)| *v = (-gamma * (ni + nj - 2.0 * *v).max(0.0)).exp());
    }
    k
}
