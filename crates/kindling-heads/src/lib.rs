//! # kindling-heads
//!
//! Classical-ML heads on CNN features: a network minus its output layer is a feature extractor, and
//! classical models fitted on its features are strong baselines that often win with few labels.
//!
//! - [`extract_features`] runs any [`FeatureExtractor`] (e.g. an EfficientNet-Lite) over a dataset in
//!   batches (any Kindling CNN through [`VisionExtractor`]) and returns a [`FeatureSet`], which [`FeatureSet::save`]s to safetensors (`features` f32
//!   `[N, D]`, `labels` i64 `[N]`, class names and model name in the metadata).
//! - Heads in linfa's style: hyper-parameters checked by [`linfa::ParamGuard`], [`linfa::traits::Fit`]
//!   returning a fitted model implementing [`Classifier`] (`predict`, `decision_function`,
//!   `predict_proba` where meaningful):
//!   [`SvmParams`] (linear/RBF, one-vs-one, on linfa-svm's SMO), [`GbdtParams`] (forust-ml boosted
//!   trees, one-vs-rest), [`LogRegParams`] (linfa-logistic multinomial).
//! - [`SavedHead`] saves and loads fitted heads; [`fit_and_evaluate`] and [`grid_search`] are the
//!   `kindling fit-head` workflow; [`predict_images`] chains features and head.
//!
//! ```
//! use kindling_heads::{Classifier, FeatureSet, HeadKind, HeadParams, fit_and_evaluate};
//! let x = ndarray::array![[0.0f32, 0.0], [0.2, 0.1], [1.0, 1.0], [0.9, 1.2], [2.0, 0.0], [2.1, 0.2]];
//! let fs = FeatureSet::new(x, vec![0, 0, 1, 1, 2, 2], vec!["a".into(), "b".into(), "c".into()], "toy")?;
//! let (saved, report) = fit_and_evaluate(&[HeadParams::default_for(HeadKind::SvmRbf)], None, &fs, &fs)?;
//! assert_eq!(report.train_accuracy, 1.0);
//! assert_eq!(saved.head.num_classes(), 3);
//! # Ok::<(), kindling_heads::HeadsError>(())
//! ```

mod error;
mod extract;
mod features;
mod fit;
mod gbdt;
mod head;
mod logreg;
mod predict;
mod saved;
mod scaler;
mod smo;
mod svm;

pub use error::{HeadsError, Result};
pub use extract::{ExtractConfig, FeatureExtractor, FnExtractor, VisionExtractor, extract_features};
pub use features::FeatureSet;
pub use fit::{CvReport, CvScore, FitReport, default_grid, fit_and_evaluate, grid_search, stratified_folds};
pub use gbdt::{GbdtHead, GbdtParams, GbdtValidParams};
pub use head::{Classifier, HeadKind};
pub use logreg::{LogRegHead, LogRegParams, LogRegValidParams};
pub use predict::{ClassScore, HeadPrediction, predict_features, predict_image_files, predict_images};
pub use saved::{FittedHead, HEAD_FORMAT_VERSION, HeadParams, SavedHead};
pub use scaler::Standardizer;
pub use svm::{Multiclass, SvmHead, SvmKernel, SvmParams, SvmSolver, SvmValidParams};
