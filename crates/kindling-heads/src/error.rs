//! The error type of `kindling-heads`.

use std::path::{Path, PathBuf};

/// Result alias using [`HeadsError`].
pub type Result<T, E = HeadsError> = std::result::Result<T, E>;

/// Errors of feature files, heads and extraction.
///
/// Every variant about a file names it and says what is wrong with it.
///
/// ```
/// use kindling_heads::HeadsError;
/// let e = HeadsError::format("train.safetensors", "tensor `labels` is missing");
/// assert_eq!(e.to_string(), "train.safetensors: tensor `labels` is missing");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadsError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A feature file or saved head is malformed (missing tensor, wrong dtype or rank, row counts that
    /// disagree, bad metadata, unknown format version).
    #[error("{}: {message}", path.display())]
    Format {
        /// File concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A hyper-parameter is out of range.
    #[error("invalid hyper-parameter: {0}")]
    InvalidParam(String),
    /// The data given to a head does not fit it (too few classes, wrong feature width, NaN, ...).
    #[error("invalid data: {0}")]
    Data(String),
    /// An error from a linfa solver.
    #[error("linfa: {0}")]
    Linfa(String),
    /// An error from the boosted-tree library.
    #[error("gradient boosting: {0}")]
    Boosting(String),
    /// An error from the model or the dataset during feature extraction.
    #[error(transparent)]
    Kindling(#[from] kindling_core::Error),
}

impl HeadsError {
    /// A [`HeadsError::Format`] for `path`.
    pub fn format(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        HeadsError::Format { path: path.as_ref().to_path_buf(), message: message.into() }
    }

    /// A [`HeadsError::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        HeadsError::Io { path: path.as_ref().to_path_buf(), source }
    }
}

impl From<linfa::Error> for HeadsError {
    fn from(e: linfa::Error) -> Self {
        HeadsError::Linfa(e.to_string())
    }
}

impl From<linfa_svm::SvmError> for HeadsError {
    fn from(e: linfa_svm::SvmError) -> Self {
        HeadsError::Linfa(e.to_string())
    }
}

impl From<linfa_logistic::error::Error> for HeadsError {
    fn from(e: linfa_logistic::error::Error) -> Self {
        HeadsError::Linfa(e.to_string())
    }
}
