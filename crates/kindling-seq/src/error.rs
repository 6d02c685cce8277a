//! Errors of kindling-seq.

/// Result alias using [`SeqError`].
pub type Result<T, E = SeqError> = std::result::Result<T, E>;

/// Errors raised by kindling-seq: bad configurations, bad inputs and weight-import problems.
///
/// Import errors name the file (or `<memory>`) and the exact state-dict key concerned.
///
/// ```
/// use kindling_seq::SeqError;
/// let e = SeqError::MissingKey {
///     file: "lstm.pth".into(),
///     key: "rnn.weight_hh_l0".into(),
///     expected: vec![28, 7],
/// };
/// assert_eq!(e.to_string(), "lstm.pth: missing tensor `rnn.weight_hh_l0` (expected shape [28, 7])");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeqError {
    /// A configuration value is invalid.
    #[error("invalid recurrent configuration: {0}")]
    Config(String),
    /// A forward input (tensor shape, lengths, initial state) does not fit the layer.
    #[error("invalid recurrent input: {0}")]
    Input(String),
    /// A weight file could not be read or parsed.
    #[error("{file}: {message}")]
    Read {
        /// File concerned.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A tensor the configuration needs is absent from the state dict.
    #[error("{file}: missing tensor `{key}` (expected shape {expected:?})")]
    MissingKey {
        /// File concerned (`<memory>` for an in-memory state dict).
        file: String,
        /// Full state-dict key, prefix included.
        key: String,
        /// Shape the configuration expects.
        expected: Vec<usize>,
    },
    /// A tensor has another shape than the configuration expects.
    #[error("{file}: tensor `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// File concerned.
        file: String,
        /// Full state-dict key, prefix included.
        key: String,
        /// Shape the configuration expects.
        expected: Vec<usize>,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// A recurrent tensor is present that the configuration does not use (more layers, a reverse
    /// direction, biases or projections that the configuration lacks).
    #[error("{file}: unexpected tensor `{key}`: {reason}")]
    UnexpectedKey {
        /// File concerned.
        file: String,
        /// Full state-dict key, prefix included.
        key: String,
        /// Why it does not fit.
        reason: String,
    },
    /// A tensor has a data type that cannot be read as floats.
    #[error("{file}: tensor `{key}` has dtype {dtype}, expected a floating-point type")]
    DType {
        /// File concerned.
        file: String,
        /// Full state-dict key.
        key: String,
        /// The dtype found.
        dtype: String,
    },
    /// An error from kindling-core.
    #[error(transparent)]
    Core(#[from] kindling_core::Error),
}
