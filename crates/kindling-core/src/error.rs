//! Shared error type.

use std::path::{Path, PathBuf};

/// Result alias using Kindling's shared [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors shared by all Kindling crates.
///
/// Every variant that concerns a file names it; parse errors also carry the 1-based line
/// (or record) number where the problem was found.
///
/// ```
/// use kindling_core::Error;
/// let e = Error::format("data/train.tsv", Some(3), "expected 3 tab-separated fields");
/// assert_eq!(e.to_string(), "data/train.tsv:3: expected 3 tab-separated fields");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device string names no known device.
    #[error("unknown device `{spec}`: expected `cpu`, `ndarray` or `cuda[:N]`")]
    UnknownDevice {
        /// The string that was given.
        spec: String,
    },
    /// The device is known but its backend was not compiled in.
    #[error("device `{spec}` needs Kindling built with the cargo feature `{feature}`")]
    DeviceNotCompiled {
        /// The string that was given.
        spec: String,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// An I/O error while reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file's content is malformed.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        /// File concerned.
        path: PathBuf,
        /// 1-based line or record number, when meaningful.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A configuration or hyper-parameter value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Tensor shapes do not fit.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training diverged (loss became NaN or infinite).
    #[error("non-finite loss {value} at epoch {epoch}, step {step}")]
    NonFinite {
        /// Epoch (1-based).
        epoch: usize,
        /// Optimiser step within the epoch (1-based).
        step: usize,
        /// The offending value.
        value: f64,
    },
    /// A tensor could not be read back from the device.
    #[error("tensor read failed: {0}")]
    TensorRead(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// An [`Error::Format`] for `path`, optionally at a 1-based `line`.
    pub fn format(path: impl AsRef<Path>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Format { path: path.as_ref().to_path_buf(), line, message: message.into() }
    }
}
