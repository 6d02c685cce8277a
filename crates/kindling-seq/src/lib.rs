//! # kindling-seq
//!
//! Recurrent layers for Kindling on [burn](https://burn.dev): Elman RNN (tanh), LSTM and GRU
//! stacks with PyTorch's interface and weight layout.
//!
//! - [`RecurrentConfig`] → [`Recurrent`]: `num_layers`, `bidirectional`, dropout between layers,
//!   weight dropout on the recurrent matrices (AWD-LSTM's DropConnect), optional biases;
//!   batch-first input `[B, T, I]`, output `[B, T, D*H]`, states `[L*D, B, H]`.
//! - Ragged batches: pass the sequence lengths and padding never changes results (see
//!   [`Recurrent::forward`]); final states are taken at each sequence's true end.
//! - PyTorch parity: [`StateDict`] reads `.pth` / safetensors files and
//!   [`Recurrent::load_state_dict`] loads `nn.RNN` / `nn.LSTM` / `nn.GRU` weights (including
//!   `_reverse` and deeper `l{k}` keys); outputs and final states match PyTorch to 1e-5.
//! - Models: [`classifier::SequenceClassifier`] (many-to-one: tokens or feature vectors →
//!   recurrent stack → last/mean/max pooling → head) and [`tagger::Tagger`] (synced
//!   many-to-many: word, suffix and shape embeddings → BiLSTM → per-token head), with padding
//!   helpers in [`batch`].
//! - Training: [`train::Trainer`], a reusable loop for any burn module (Adam/AdamW, global
//!   gradient clipping, cosine schedule, deterministic batching, early stopping, atomic
//!   checkpoints and resume).
//! - Speed: fused gate weights (one `[G*H, I]` and one `[G*H, H]` matrix per cell), one
//!   recurrent matmul per step, one input-projection matmul for all steps at inference, gate
//!   nonlinearities on slices of the fused pre-activations. Differentiable with burn's autodiff.
//!   CPU inference (burn-flex, no autodiff) runs on host buffers with `gemm` products and
//!   vectorized gate functions, each direction's batch split over the threads. LSTM training on
//!   burn-flex runs each layer direction as one fused differentiable op (a burn backend
//!   extension with its own back-propagation through time) instead of ~15 recorded ops per step.
//!
//! ```
//! use burn::tensor::{Distribution, Tensor};
//! use kindling_seq::{CellKind, RecurrentConfig};
//!
//! let device = kindling_core::default_device();
//! let lstm = RecurrentConfig::new(CellKind::Lstm, 4, 6).with_num_layers(2).init(&device)?;
//! let x = Tensor::<3>::random([2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
//! let (out, state) = lstm.forward(x, Some(&[5, 3]), None)?;
//! assert_eq!(out.dims(), [2, 5, 6]);
//! assert_eq!(state.h.dims(), [2, 2, 6]);
//! assert_eq!(state.c.map(|c| c.dims()), Some([2, 2, 6]));
//! # Ok::<(), kindling_seq::SeqError>(())
//! ```

mod act;
pub mod attention;
pub mod attn_decoder;
pub mod batch;
pub mod caption;
mod cell;
pub mod charlm;
pub mod classifier;
pub mod decode;
mod error;
mod gru;
mod host;
mod import;
mod lstm;
mod lstm_op;
mod padding;
mod rnn;
pub mod seq2seq;
mod stack;
pub mod tagger;
pub mod train;

pub use cell::{CellKind, RecurrentCell};
pub use error::{Result, SeqError};
pub use import::StateDict;
pub use stack::{Recurrent, RecurrentConfig, RecurrentLayer, RecurrentState};

/// Serialises the unit tests that draw from burn's process-wide random generator (weight
/// initialisation): run in parallel, one test's draws would shift another's seeded sequence.
#[cfg(test)]
pub(crate) fn test_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
