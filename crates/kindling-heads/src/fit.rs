//! The `fit-head` workflow: optional cross-validated grid search, fit, evaluation, one JSON report.

use std::time::Instant;

use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::Value;

use crate::error::{HeadsError, Result};
use crate::features::FeatureSet;
use crate::head::{Classifier, HeadKind};
use crate::saved::{HeadParams, SavedHead};

/// One grid point's cross-validated accuracy.
///
/// ```
/// use kindling_heads::{FeatureSet, HeadKind, HeadParams, grid_search};
/// let x = ndarray::array![[0.0f32], [0.1], [0.2], [1.0], [1.1], [1.2]];
/// let fs = FeatureSet::new(x, vec![0, 0, 0, 1, 1, 1], vec!["a".into(), "b".into()], "toy")?;
/// let cv = grid_search(&[HeadParams::default_for(HeadKind::LogReg)], &fs, 3, 0)?;
/// assert_eq!(cv.scores[0].mean_accuracy, 1.0);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct CvScore {
    /// The hyper-parameters (as the fitted head reports them).
    pub params: Value,
    /// Mean validation accuracy over the folds.
    pub mean_accuracy: f64,
    /// Standard deviation of the fold accuracies.
    pub std_accuracy: f64,
}

/// Result of a grid search.
///
/// ```
/// use kindling_heads::{FeatureSet, HeadKind, default_grid, grid_search};
/// let x = ndarray::array![[0.0f32], [0.1], [0.2], [1.0], [1.1], [1.2]];
/// let fs = FeatureSet::new(x, vec![0, 0, 0, 1, 1, 1], vec!["a".into(), "b".into()], "toy")?;
/// let cv = grid_search(&default_grid(HeadKind::SvmLinear, 1), &fs, 3, 0)?;
/// assert_eq!((cv.folds, cv.scores.len()), (3, 4));
/// assert!(cv.best < 4);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// Number of folds.
    pub folds: usize,
    /// Index of the best grid point in `scores` (highest mean accuracy, first on ties).
    pub best: usize,
    /// Every grid point, in grid order.
    pub scores: Vec<CvScore>,
    /// Wall time of the whole search.
    pub seconds: f64,
}

/// What `kindling fit-head` prints (one JSON line).
///
/// ```
/// use kindling_heads::{FeatureSet, HeadKind, HeadParams, fit_and_evaluate};
/// let x = ndarray::array![[0.0f32], [0.1], [1.0], [1.1]];
/// let fs = FeatureSet::new(x, vec![0, 0, 1, 1], vec!["a".into(), "b".into()], "toy")?;
/// let (_, report) = fit_and_evaluate(&[HeadParams::default_for(HeadKind::Gbdt)], None, &fs, &fs)?;
/// let line = serde_json::to_string(&report).expect("json");
/// assert!(line.starts_with(r#"{"head":"gbdt","train_accuracy":"#));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// Head kind.
    pub head: HeadKind,
    /// Accuracy on the training features.
    pub train_accuracy: f64,
    /// Accuracy on the test features.
    pub test_accuracy: f64,
    /// Wall time of the final fit (standardisation included; loading and evaluation excluded).
    pub fit_seconds: f64,
    /// Hyper-parameters of the final fit.
    pub params: Value,
    /// Training and test sizes and the feature width.
    pub n_train: usize,
    /// Test size.
    pub n_test: usize,
    /// Feature width.
    pub num_features: usize,
    /// The grid search, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv: Option<CvReport>,
}

/// Stratified `k`-fold assignment: each class's rows are shuffled (seeded) and dealt round-robin.
///
/// ```
/// let folds = kindling_heads::stratified_folds(&[0, 0, 0, 1, 1, 1], 3, 0);
/// for f in 0..3 {
///     let members: Vec<usize> = (0..6).filter(|&i| folds[i] == f).collect();
///     assert_eq!(members.len(), 2); // one of each class
/// }
/// ```
pub fn stratified_folds(labels: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = kindling_core::seeded_rng(seed);
    let mut fold = vec![0; labels.len()];
    let mut next = 0;
    for c in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            fold[i] = next % k.max(1);
            next += 1;
        }
    }
    fold
}

/// Cross-validates every point of `grid` on `train` with `folds` stratified folds.
pub fn grid_search(grid: &[HeadParams], train: &FeatureSet, folds: usize, seed: u64) -> Result<CvReport> {
    if folds < 2 {
        return Err(HeadsError::InvalidParam(format!("cross-validation needs at least 2 folds, got {folds}")));
    }
    if grid.is_empty() {
        return Err(HeadsError::InvalidParam("empty hyper-parameter grid".into()));
    }
    let start = Instant::now();
    let assign = stratified_folds(&train.labels, folds, seed);
    let mut scores = Vec::with_capacity(grid.len());
    for params in grid {
        let mut accs = Vec::with_capacity(folds);
        let mut reported = Value::Null;
        for f in 0..folds {
            let tr: Vec<usize> = (0..train.len()).filter(|&i| assign[i] != f).collect();
            let va: Vec<usize> = (0..train.len()).filter(|&i| assign[i] == f).collect();
            let (a, b) = (train.select(&tr), train.select(&va));
            let head = params.fit(a.view(), &a.labels)?;
            reported = head.params_json();
            accs.push(head.accuracy(b.view(), &b.labels)?);
        }
        let mean = accs.iter().sum::<f64>() / accs.len() as f64;
        let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accs.len() as f64;
        scores.push(CvScore { params: reported, mean_accuracy: mean, std_accuracy: var.sqrt() });
    }
    let best = scores
        .iter()
        .enumerate()
        .fold(0, |best, (i, s)| if s.mean_accuracy > scores[best].mean_accuracy { i } else { best });
    Ok(CvReport { folds, best, scores, seconds: start.elapsed().as_secs_f64() })
}

/// Fits `params` (or the best of a cross-validated `grid`) on `train`, evaluates on `test`.
///
/// `grid` non-empty with `folds = Some(k)` runs [`grid_search`] first; the returned head is refitted on all
/// of `train` with the winning parameters. Feature widths and class lists of the two files must agree.
///
/// ```
/// use kindling_heads::{FeatureSet, HeadKind, HeadParams, fit_and_evaluate};
/// let x = ndarray::array![[0.0f32, 0.1], [0.2, 0.0], [3.0, 3.1], [3.2, 2.9]];
/// let fs = FeatureSet::new(x, vec![0, 0, 1, 1], vec!["a".into(), "b".into()], "toy")?;
/// let (saved, report) = fit_and_evaluate(&[HeadParams::default_for(HeadKind::SvmLinear)], None, &fs, &fs)?;
/// assert_eq!(report.test_accuracy, 1.0);
/// assert_eq!(saved.model, "toy");
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
pub fn fit_and_evaluate(
    grid: &[HeadParams],
    folds: Option<usize>,
    train: &FeatureSet,
    test: &FeatureSet,
) -> Result<(SavedHead, FitReport)> {
    if train.dim() != test.dim() {
        return Err(HeadsError::Data(format!(
            "training features have {} columns but test features {}",
            train.dim(),
            test.dim()
        )));
    }
    if train.classes != test.classes {
        return Err(HeadsError::Data(format!(
            "training and test files name different classes: {:?} vs {:?}",
            train.classes, test.classes
        )));
    }
    if train.model != test.model {
        return Err(HeadsError::Data(format!(
            "training features come from `{}` but test features from `{}`",
            train.model, test.model
        )));
    }
    let (params, cv) = match (grid, folds) {
        ([], _) => return Err(HeadsError::InvalidParam("no hyper-parameters given".into())),
        ([one], None) => (one.clone(), None),
        (_, None) => {
            return Err(HeadsError::InvalidParam(format!(
                "{} hyper-parameter combinations need cross-validation: pass --cv K",
                grid.len()
            )));
        }
        (_, Some(k)) => {
            let cv = grid_search(grid, train, k, 0)?;
            (grid[cv.best].clone(), Some(cv))
        }
    };
    let start = Instant::now();
    let head = params.fit(train.view(), &train.labels)?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let report = FitReport {
        head: head.kind(),
        train_accuracy: head.accuracy(train.view(), &train.labels)?,
        test_accuracy: head.accuracy(test.view(), &test.labels)?,
        fit_seconds,
        params: head.params_json(),
        n_train: train.len(),
        n_test: test.len(),
        num_features: train.dim(),
        cv,
    };
    let preprocessing = train.metadata.get("preprocessing").and_then(|p| serde_json::from_str(p).ok());
    Ok((SavedHead { head, classes: train.classes.clone(), model: train.model.clone(), preprocessing }, report))
}

/// The grid `--grid` searches for `kind` on `dim`-wide features: `C` for the SVMs and logistic
/// regression, `C` x `gamma` (half, once and twice scikit-learn's `"scale"`, `1/D` on standardised
/// features) for the RBF SVM, depth x rounds for the boosted trees.
///
/// ```
/// use kindling_heads::{HeadKind, default_grid};
/// assert_eq!(default_grid(HeadKind::SvmRbf, 1280).len(), 9);
/// assert_eq!(default_grid(HeadKind::Gbdt, 1280).len(), 4);
/// ```
pub fn default_grid(kind: HeadKind, dim: usize) -> Vec<HeadParams> {
    use crate::{GbdtParams, LogRegParams, SvmParams};
    let cs = [0.01, 0.1, 1.0, 10.0];
    match kind {
        HeadKind::SvmLinear => cs.iter().map(|&c| HeadParams::Svm(SvmParams::linear().c(c))).collect(),
        HeadKind::SvmRbf => {
            let scale = 1.0 / dim.max(1) as f64;
            [0.1, 1.0, 10.0]
                .iter()
                .flat_map(|&c| [0.5, 1.0, 2.0].map(|m| HeadParams::Svm(SvmParams::rbf().c(c).gamma(m * scale))))
                .collect()
        }
        HeadKind::Gbdt => [3, 6]
            .iter()
            .flat_map(|&d| [50, 100].map(|r| HeadParams::Gbdt(GbdtParams::new().max_depth(d).rounds(r))))
            .collect(),
        HeadKind::LogReg => cs.iter().map(|&c| HeadParams::LogReg(LogRegParams::new().c(c))).collect(),
    }
}
