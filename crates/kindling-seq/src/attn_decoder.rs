//! The attentive recurrent decoder shared by the encoder-decoder ([`crate::seq2seq`]) and the
//! image captioner ([`crate::caption`]): it reads any memory `[B, S, D]` (encoder outputs,
//! feature-map columns) through [`Attention`].
//!
//! Each step embeds the previous token, runs the recurrent stack, attends over the memory with
//! the top hidden state `h` and emits `logits = W_o · dropout(tanh(W_c [context; h]))` (Luong's
//! attentional hidden state). With input feeding, that attentional state also joins the next
//! step's input. The initial state comes from a summary vector of the memory through a `tanh`
//! bridge (or is zero).
//!
//! Training runs teacher-forced; without input feeding and without sampled inputs the recurrent
//! stack runs over all target steps at once and attention is one batched product. Scheduled
//! sampling (a mask of steps that read the model's own previous prediction instead of the gold
//! token) and input feeding run step by step; both paths give the same numbers.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::attention::{Attention, AttentionConfig, AttentionKind, AttentionMemory};
use crate::batch::length_mask;
use crate::cell::PreparedCell;
use crate::train::StepOutput;
use crate::{CellKind, Recurrent, RecurrentConfig, RecurrentState, Result, SeqError};

/// Configuration of an [`AttentionDecoder`].
///
/// ```
/// use kindling_seq::attn_decoder::AttentionDecoderConfig;
/// let device = kindling_core::default_device();
/// let decoder = AttentionDecoderConfig::new(40, 128).with_summary_size(128).with_hidden_size(64).init(&device)?;
/// assert_eq!(decoder.vocab_size(), 40);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct AttentionDecoderConfig {
    /// Output vocabulary size `V` (with the special tokens).
    pub vocab_size: usize,
    /// Width `D` of a memory vector.
    pub memory_size: usize,
    /// Width of the summary vector that initialises the state; 0: zero initial state.
    #[config(default = 0)]
    pub summary_size: usize,
    /// Token embedding width.
    #[config(default = 64)]
    pub embedding_dim: usize,
    /// Hidden size `H` of the recurrent layers.
    #[config(default = 256)]
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Recurrence.
    #[config(default = "CellKind::Lstm")]
    pub cell: CellKind,
    /// Attention score.
    #[config(default = "AttentionKind::General")]
    pub attention: AttentionKind,
    /// Feed the previous attentional state into the next step (Luong's input feeding).
    #[config(default = false)]
    pub input_feeding: bool,
    /// Dropout on embeddings, between layers and before the output layer.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Weight dropout on the recurrent matrices ([`RecurrentConfig::weight_dropout`]).
    #[config(default = 0.0)]
    pub weight_dropout: f64,
}

impl AttentionDecoderConfig {
    /// Builds the decoder.
    pub fn init(&self, device: &Device) -> Result<AttentionDecoder> {
        if self.vocab_size <= kindling_data::text::EOS || self.embedding_dim == 0 || self.memory_size == 0 {
            return Err(SeqError::Config(format!(
                "a decoder needs a vocabulary beyond the special tokens, an embedding and a memory (got {} tokens x {}, memory {})",
                self.vocab_size, self.embedding_dim, self.memory_size
            )));
        }
        let h = self.hidden_size;
        let input = self.embedding_dim + if self.input_feeding { h } else { 0 };
        let rnn = RecurrentConfig::new(self.cell, input, h)
            .with_num_layers(self.num_layers)
            .with_dropout(self.dropout)
            .with_weight_dropout(self.weight_dropout)
            .init(device)?;
        let states = if self.cell.has_cell_state() { 2 } else { 1 };
        Ok(AttentionDecoder {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_dim).init(device),
            rnn,
            attention: AttentionConfig::new(self.attention, h, self.memory_size).init(device)?,
            bridge: (self.summary_size > 0)
                .then(|| LinearConfig::new(self.summary_size, states * self.num_layers * h).init(device)),
            combine: LinearConfig::new(self.memory_size + h, h).init(device),
            output: LinearConfig::new(h, self.vocab_size).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            input_feeding: self.input_feeding,
        })
    }
}

/// The state of an [`AttentionDecoder`] between steps.
#[derive(Debug, Clone)]
pub struct DecoderState {
    /// Hidden state of each layer, `[B, H]`.
    pub h: Vec<Tensor<2>>,
    /// LSTM cell state of each layer, `[B, H]` (empty for GRU and RNN).
    pub c: Vec<Tensor<2>>,
    /// The previous attentional state `[B, H]` (input feeding only).
    pub feed: Option<Tensor<2>>,
}

impl DecoderState {
    /// Number of sequences.
    pub fn batch_size(&self) -> usize {
        self.h.first().map_or(0, |h| h.dims()[0])
    }

    /// The states of the sequences `rows` (in that order, repeats allowed).
    pub fn select(&self, rows: &[usize]) -> Self {
        let Some(first) = self.h.first() else { return self.clone() };
        let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &first.device());
        let pick = |t: &Tensor<2>| t.clone().select(0, idx.clone());
        Self {
            h: self.h.iter().map(pick).collect(),
            c: self.c.iter().map(pick).collect(),
            feed: self.feed.as_ref().map(pick),
        }
    }

    fn into_recurrent(self) -> RecurrentState {
        let c = (!self.c.is_empty()).then(|| Tensor::stack(self.c, 0));
        RecurrentState::new(Tensor::stack(self.h, 0), c)
    }
}

/// The decoder's cells arranged for step-by-step decoding (see [`AttentionDecoder::prepare`]).
pub struct PreparedDecoder {
    cells: Vec<PreparedCell>,
}

/// An attentive recurrent decoder (see the [module documentation](self)).
///
/// ```
/// use burn::tensor::{Distribution, Int, Tensor};
/// use kindling_seq::attn_decoder::AttentionDecoderConfig;
///
/// let device = kindling_core::default_device();
/// let decoder = AttentionDecoderConfig::new(10, 6).with_summary_size(6).with_hidden_size(8).init(&device)?;
/// let memory = Tensor::<3>::random([2, 5, 6], Distribution::Normal(0.0, 1.0), &device);
/// let summary = memory.clone().mean_dim(1).squeeze_dim::<2>(1);
/// let memory = decoder.attention.prepare(memory, Some(&[5, 2]))?;
/// let state = decoder.initial_state(Some(summary), 2, &device)?;
/// // Teacher forcing: inputs <bos> y1 y2, lengths 3 and 2.
/// let inputs = Tensor::<2, Int>::from_ints([[2, 5, 6], [2, 7, 0]], &device);
/// let logits = decoder.forward(&memory, state, inputs, &[3, 2], None)?;
/// assert_eq!(logits.dims(), [2, 3, 10]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct AttentionDecoder {
    /// Output-token embeddings.
    pub embedding: Embedding,
    /// The recurrent stack (unidirectional).
    pub rnn: Recurrent,
    /// Attention over the memory.
    pub attention: Attention,
    /// Summary → initial states (`tanh`), when the state is not zero-initialised.
    pub bridge: Option<Linear>,
    /// `[context; h]` → attentional state.
    pub combine: Linear,
    /// Attentional state → logits.
    pub output: Linear,
    /// Dropout on embeddings and before the output layer.
    pub dropout: Dropout,
    /// Whether the previous attentional state joins the input.
    pub input_feeding: bool,
}

impl AttentionDecoder {
    /// Output vocabulary size `V`.
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Hidden size `H`.
    pub fn hidden_size(&self) -> usize {
        self.rnn.hidden_size
    }

    /// The initial state of `batch` sequences: `tanh(bridge(summary))` (`summary` `[B, F]`), or
    /// zeros without a bridge or summary.
    pub fn initial_state(&self, summary: Option<Tensor<2>>, batch: usize, device: &Device) -> Result<DecoderState> {
        let (layers, h) = (self.rnn.num_layers(), self.rnn.hidden_size);
        let lstm = self.rnn.kind.has_cell_state();
        let feed = self.input_feeding.then(|| Tensor::zeros([batch, h], device));
        let (Some(bridge), Some(summary)) = (&self.bridge, summary) else {
            let zeros = |n: usize| (0..n).map(|_| Tensor::zeros([batch, h], device)).collect();
            return Ok(DecoderState { h: zeros(layers), c: zeros(if lstm { layers } else { 0 }), feed });
        };
        let [b, f] = summary.dims();
        if b != batch || f != bridge.weight.dims()[0] {
            return Err(SeqError::Input(format!(
                "decoder summary must be [{batch}, {}], got {:?}",
                bridge.weight.dims()[0],
                summary.dims()
            )));
        }
        let states = bridge.forward(summary).tanh();
        let part = |i: usize| states.clone().narrow(1, i * h, h);
        Ok(DecoderState {
            h: (0..layers).map(part).collect(),
            c: if lstm { (layers..2 * layers).map(part).collect() } else { Vec::new() },
            feed,
        })
    }

    /// Teacher-forced logits `[B, T, V]` for the decoder inputs `[B, T]` (`<bos> y1 … y(n-1)`,
    /// padded) of lengths `lengths`, from `state`.
    ///
    /// `sampled` `[B, T]` marks the steps whose input is the model's own previous prediction
    /// (its arg-max) instead of the given token (scheduled sampling); step 0 always reads the
    /// given token. Logits at padded steps are meaningless.
    pub fn forward(
        &self,
        memory: &AttentionMemory,
        state: DecoderState,
        inputs: Tensor<2, Int>,
        lengths: &[usize],
        sampled: Option<Tensor<2, Bool>>,
    ) -> Result<Tensor<3>> {
        let [b, t] = inputs.dims();
        if memory.batch_size() != b || state.batch_size() != b || lengths.len() != b {
            return Err(SeqError::Input(format!(
                "decoder batch mismatch: inputs {b}, memory {}, state {}, lengths {}",
                memory.batch_size(),
                state.batch_size(),
                lengths.len()
            )));
        }
        if !self.input_feeding && sampled.is_none() {
            let x = self.dropout.forward(self.embedding.forward(inputs));
            let (out, _) = self.rnn.forward(x, Some(lengths), Some(state.into_recurrent()))?;
            let (attentional, _) = self.attend(out, memory);
            return Ok(self.output.forward(self.dropout.forward(attentional)));
        }
        let prepared = self.prepare();
        let mut state = state;
        let mut logits: Vec<Tensor<2>> = Vec::with_capacity(t);
        for step in 0..t {
            let mut tokens = inputs.clone().narrow(1, step, 1).reshape([b]);
            if let (Some(mask), Some(prev)) = (&sampled, logits.last()) {
                let own = prev.clone().detach().argmax(1).reshape([b]);
                tokens = tokens.mask_where(mask.clone().narrow(1, step, 1).reshape([b]), own);
            }
            let (l, _, next) = self.step(&prepared, memory, tokens, state);
            logits.push(l);
            state = next;
        }
        Ok(Tensor::stack(logits, 1))
    }

    /// Attentional states `[B, T, H]` and weights `[B, T, S]` of the top-layer outputs `[B, T, H]`.
    fn attend(&self, h: Tensor<3>, memory: &AttentionMemory) -> (Tensor<3>, Tensor<3>) {
        let (context, weights) = self.attention.forward(h.clone(), memory);
        (self.combine.forward(Tensor::cat(vec![context, h], 2)).tanh(), weights)
    }

    /// The cells arranged once for step-by-step decoding.
    pub fn prepare(&self) -> PreparedDecoder {
        let cell = |l: &crate::stack::RecurrentLayer| l.forward.prepare(self.rnn.recurrent_weight(&l.forward));
        PreparedDecoder { cells: self.rnn.layers.iter().map(cell).collect() }
    }

    /// One decoding step: the logits `[B, V]` of the next token after `tokens` `[B]`, the
    /// attention weights `[B, S]` and the new state.
    pub fn step(
        &self,
        prepared: &PreparedDecoder,
        memory: &AttentionMemory,
        tokens: Tensor<1, Int>,
        state: DecoderState,
    ) -> (Tensor<2>, Tensor<2>, DecoderState) {
        let b = tokens.dims()[0];
        let emb = self.embedding.forward(tokens.reshape([b, 1]));
        let e = emb.dims()[2];
        let mut x = self.dropout.forward(emb.reshape([b, e]));
        if let Some(feed) = state.feed {
            x = Tensor::cat(vec![x, feed], 1);
        }
        let layers = prepared.cells.len();
        let mut c_in = state.c.into_iter();
        let (mut hs, mut cs) = (Vec::with_capacity(layers), Vec::new());
        for (l, (cell, h)) in prepared.cells.iter().zip(state.h).enumerate() {
            let (h, c) = cell.step(cell.project_step(x), h, c_in.next());
            x = if l + 1 < layers { self.rnn.dropout.forward(h.clone()) } else { h.clone() };
            hs.push(h);
            cs.extend(c);
        }
        let (attentional, weights) = self.attend(x.unsqueeze_dim::<3>(1), memory);
        let [_, _, hsize] = attentional.dims();
        let attentional = attentional.reshape([b, hsize]);
        let s = weights.dims()[2];
        let logits = self.output.forward(self.dropout.forward(attentional.clone()));
        let feed = self.input_feeding.then_some(attentional);
        (logits, weights.reshape([b, s]), DecoderState { h: hs, c: cs, feed })
    }
}

/// Masked cross-entropy of `logits` `[B, T, V]` against `targets` `[B, T]` (mean over the
/// `lengths` real tokens) and the number of correctly predicted tokens: a trainer step.
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// let d = kindling_core::default_device();
/// let logits = Tensor::<3>::from_floats([[[0.0, 9.0], [9.0, 0.0]]], &d);
/// let targets = Tensor::<2, Int>::from_ints([[1, 1]], &d);
/// // Only the first token counts: it is right, with a small loss.
/// let out = kindling_seq::attn_decoder::sequence_loss(logits, targets, &[1]);
/// assert_eq!(out.count, 1);
/// assert_eq!(kindling_core::tensor::to_vec_f32(out.correct.unwrap())?, vec![1.0]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn sequence_loss(logits: Tensor<3>, targets: Tensor<2, Int>, lengths: &[usize]) -> StepOutput {
    smoothed_sequence_loss(logits, targets, lengths, 0.0)
}

/// Checks a label-smoothing `epsilon` for [`smoothed_sequence_loss`]: it must lie in `[0, 1)`.
///
/// ```
/// use kindling_seq::attn_decoder::check_label_smoothing;
/// assert!(check_label_smoothing(0.1).is_ok());
/// assert!(check_label_smoothing(1.0).is_err());
/// ```
pub fn check_label_smoothing(epsilon: f32) -> Result<()> {
    if !(0.0..1.0).contains(&epsilon) {
        return Err(SeqError::Config(format!("label smoothing must be in [0, 1), got {epsilon}")));
    }
    Ok(())
}

/// [`sequence_loss`] with label smoothing `epsilon` (Szegedy et al. 2016): each token's target
/// is `1 − ε` on the gold id plus `ε / V` spread over the whole vocabulary, so the loss is
/// `(1 − ε) · (−log p_gold) + ε · mean_v(−log p_v)` (PyTorch's `label_smoothing`). An `epsilon`
/// of 0 is the plain cross-entropy; the correct count is the same either way.
///
/// ```
/// use burn::tensor::{Int, Tensor};
/// use kindling_seq::attn_decoder::{sequence_loss, smoothed_sequence_loss};
/// let d = kindling_core::default_device();
/// let logits = Tensor::<3>::from_floats([[[0.0, 3.0]]], &d);
/// let targets = Tensor::<2, Int>::from_ints([[1]], &d);
/// let plain = sequence_loss(logits.clone(), targets.clone(), &[1]).loss.into_scalar::<f32>();
/// let smooth = smoothed_sequence_loss(logits, targets, &[1], 0.1).loss.into_scalar::<f32>();
/// // −log p: 0.0486 (gold) and 3.0486 (other); 0.9 · 0.0486 + 0.1 · (0.0486 + 3.0486) / 2
/// assert!((plain - 0.0486).abs() < 1e-3 && (smooth - 0.1986).abs() < 1e-3);
/// ```
pub fn smoothed_sequence_loss(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    lengths: &[usize],
    epsilon: f32,
) -> StepOutput {
    let [b, t] = targets.dims();
    let count: usize = lengths.iter().map(|&l| l.min(t)).sum();
    let mask = length_mask(lengths, t, &logits.device());
    let log_p = log_softmax(logits.clone(), 2);
    let mut picked = log_p.clone().gather(2, targets.clone().unsqueeze_dim::<3>(2)).reshape([b, t]);
    if epsilon > 0.0 {
        let spread = log_p.mean_dim(2).reshape([b, t]);
        picked = picked * (1.0 - epsilon) + spread * epsilon;
    }
    let loss = (picked * mask.clone()).sum().neg() / count.max(1) as f32;
    let hits = logits.argmax(2).reshape([b, t]).equal(targets).float() * mask;
    StepOutput::new(loss, count).with_correct(hits.sum())
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// The one-shot teacher-forced path equals the step-by-step one (no dropout).
    #[test]
    fn parallel_and_step_paths_agree() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        for cell in [CellKind::Lstm, CellKind::Gru] {
            let decoder = AttentionDecoderConfig::new(9, 5)
                .with_summary_size(5)
                .with_hidden_size(6)
                .with_embedding_dim(4)
                .with_num_layers(2)
                .with_cell(cell)
                .with_dropout(0.0)
                .init(&device)
                .unwrap();
            let raw = Tensor::<3>::random([2, 4, 5], Distribution::Normal(0.0, 1.0), &device);
            let summary = raw.clone().mean_dim(1).squeeze_dim::<2>(1);
            let memory = decoder.attention.prepare(raw, Some(&[4, 3])).unwrap();
            let state = decoder.initial_state(Some(summary), 2, &device).unwrap();
            let inputs = Tensor::<2, Int>::from_ints([[2, 5, 6, 7], [2, 4, 0, 0]], &device);
            let lengths = [4, 2];
            let fast = decoder.forward(&memory, state.clone(), inputs.clone(), &lengths, None).unwrap();
            // Nothing sampled: the step path with an all-false mask.
            let none = Tensor::<2, Int>::zeros([2, 4], &device).bool();
            let slow = decoder.forward(&memory, state, inputs, &lengths, Some(none)).unwrap();
            let (fast, slow) =
                (kindling_core::tensor::to_vec_f32(fast).unwrap(), kindling_core::tensor::to_vec_f32(slow).unwrap());
            // Compare valid steps only: 4 steps of row 0, 2 of row 1.
            for (row, len) in lengths.iter().enumerate() {
                let r = row * 4 * 9..(row * 4 + len) * 9;
                assert!(kindling_core::tensor::max_abs_diff(&fast[r.clone()], &slow[r]) < 1e-5, "{cell}");
            }
        }
    }

    #[test]
    fn scheduled_sampling_reads_own_predictions() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let decoder = AttentionDecoderConfig::new(8, 3).with_hidden_size(4).with_dropout(0.0).init(&device).unwrap();
        let raw = Tensor::<3>::random([1, 2, 3], Distribution::Normal(0.0, 1.0), &device);
        let memory = decoder.attention.prepare(raw, None).unwrap();
        let state = decoder.initial_state(None, 1, &device).unwrap();
        let all = Tensor::<2, Int>::ones([1, 3], &device).bool();
        let a = Tensor::<2, Int>::from_ints([[2, 4, 5]], &device);
        let b = Tensor::<2, Int>::from_ints([[2, 6, 7]], &device);
        // Every step after the first reads the model's own prediction: the given tokens do not matter.
        let la = decoder.forward(&memory, state.clone(), a, &[3], Some(all.clone())).unwrap();
        let lb = decoder.forward(&memory, state, b, &[3], Some(all)).unwrap();
        assert_eq!(la.into_data(), lb.into_data());
    }

    /// Label smoothing against the definition, per token, with padding left out of the mean.
    #[test]
    fn smoothed_loss_matches_definition() {
        let device = kindling_core::default_device();
        let raw: Vec<f32> = (0..2 * 3 * 4).map(|k| ((k * 7919) % 13) as f32 / 4.0 - 1.5).collect();
        let logits = Tensor::<3>::from_data(TensorData::new(raw.clone(), [2, 3, 4]), &device);
        let gold = [[1usize, 3, 0], [2, 2, 1]];
        let targets = Tensor::<2, Int>::from_ints([[1, 3, 0], [2, 2, 1]], &device);
        let lengths = [3, 1];
        for eps in [0.0f32, 0.1, 0.3] {
            let mut want = 0.0f64;
            for (row, &len) in lengths.iter().enumerate() {
                for t in 0..len {
                    let z = &raw[(row * 3 + t) * 4..][..4];
                    let lse = z.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
                    let nll = |v: usize| lse - f64::from(z[v]);
                    let spread = (0..4).map(nll).sum::<f64>() / 4.0;
                    want += (1.0 - f64::from(eps)) * nll(gold[row][t]) + f64::from(eps) * spread;
                }
            }
            want /= 4.0;
            let got = smoothed_sequence_loss(logits.clone(), targets.clone(), &lengths, eps);
            assert_eq!(got.count, 4);
            let got = f64::from(got.loss.into_scalar::<f32>());
            assert!((got - want).abs() < 1e-5, "ε {eps}: {got} vs {want}");
        }
    }
}
