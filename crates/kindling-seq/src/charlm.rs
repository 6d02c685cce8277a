//! One-to-many generation: a character-level recurrent language model.
//!
//! Characters are embedded, read by a recurrent stack and scored by a linear head predicting the
//! next character. Training is truncated back-propagation through time: the text is cut into
//! `streams` contiguous streams ([`tbptt_chunks`]), batch `j` holds chunk `j` of every stream
//! ([`tbptt_plan`], for [`Trainer::with_batch_plan`](crate::train::Trainer::with_batch_plan)), and
//! the final state of a batch, detached, starts the next one ([`StateCarry`]). Validation
//! measures bits per character (`nats / ln 2`) on held-out text read the same way
//! ([`CharLm::evaluate_text`]). [`CharLm::sample`] generates from a seed text with a temperature
//! and top-k sampling.

use std::cell::RefCell;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::train::{EvalStats, StepOutput};
use crate::{CellKind, Recurrent, RecurrentConfig, RecurrentState, Result, SeqError};

/// Configuration of a [`CharLm`].
///
/// ```
/// use kindling_seq::charlm::CharLmConfig;
/// let device = kindling_core::default_device();
/// let lm = CharLmConfig::new(70).with_hidden_size(32).init(&device)?;
/// assert_eq!(lm.vocab_size(), 70);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct CharLmConfig {
    /// Number of distinct characters.
    pub vocab_size: usize,
    /// Character embedding width.
    #[config(default = 64)]
    pub embedding_dim: usize,
    /// Hidden size.
    #[config(default = 512)]
    pub hidden_size: usize,
    /// Stacked layers.
    #[config(default = 2)]
    pub num_layers: usize,
    /// Recurrence.
    #[config(default = "CellKind::Lstm")]
    pub cell: CellKind,
    /// Dropout on embeddings, between layers and before the head.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Weight dropout on the recurrent matrices ([`RecurrentConfig::weight_dropout`]).
    #[config(default = 0.0)]
    pub weight_dropout: f64,
}

impl CharLmConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> Result<CharLm> {
        if self.vocab_size < 2 || self.embedding_dim == 0 {
            return Err(SeqError::Config(format!(
                "a language model needs at least 2 characters and a positive embedding, got {} x {}",
                self.vocab_size, self.embedding_dim
            )));
        }
        let rnn = RecurrentConfig::new(self.cell, self.embedding_dim, self.hidden_size)
            .with_num_layers(self.num_layers)
            .with_dropout(self.dropout)
            .with_weight_dropout(self.weight_dropout)
            .init(device)?;
        Ok(CharLm {
            embedding: EmbeddingConfig::new(self.vocab_size, self.embedding_dim).init(device),
            rnn,
            output: LinearConfig::new(self.hidden_size, self.vocab_size).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        })
    }
}

/// One chunk of one stream of a text for truncated back-propagation through time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TbpttChunk {
    /// Position of the chunk's first input character in the text.
    pub start: usize,
    /// Number of input characters (targets are the next `len` characters).
    pub len: usize,
    /// Whether this is the first chunk of its stream (the state starts from zero).
    pub first: bool,
}

/// Cuts a text of `n` characters into `streams` contiguous streams of equal length, each into
/// chunks of at most `bptt` steps; item `j * streams + s` is chunk `j` of stream `s`, so that the
/// batches of [`tbptt_plan`] continue each other. The last character of the text is only a target.
///
/// ```
/// use kindling_seq::charlm::tbptt_chunks;
/// let chunks = tbptt_chunks(21, 2, 4); // streams of 10 inputs: chunks of 4, 4, 2
/// assert_eq!(chunks.len(), 6);
/// assert_eq!((chunks[0].start, chunks[1].start, chunks[2].start), (0, 10, 4));
/// assert_eq!((chunks[4].len, chunks[4].first, chunks[0].first), (2, false, true));
/// ```
pub fn tbptt_chunks(n: usize, streams: usize, bptt: usize) -> Vec<TbpttChunk> {
    let (streams, bptt) = (streams.max(1), bptt.max(1));
    let stream_len = n.saturating_sub(1) / streams;
    let mut chunks = Vec::new();
    let mut offset = 0;
    while offset < stream_len {
        let len = bptt.min(stream_len - offset);
        chunks.extend((0..streams).map(|s| TbpttChunk { start: s * stream_len + offset, len, first: offset == 0 }));
        offset += len;
    }
    chunks
}

/// The batch plan of [`tbptt_chunks`]: every epoch, batch `j` is chunk `j` of all `streams`
/// streams, in order.
///
/// ```
/// let plan = kindling_seq::charlm::tbptt_plan(2);
/// assert_eq!(plan(0, 6), vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
/// ```
pub fn tbptt_plan(streams: usize) -> impl Fn(usize, usize) -> Vec<Vec<usize>> {
    let streams = streams.max(1);
    move |_, n| (0..n).collect::<Vec<_>>().chunks(streams).map(<[usize]>::to_vec).collect()
}

/// A batch of chunks: inputs and next-character targets.
#[derive(Debug, Clone)]
pub struct ChunkBatch {
    /// Inputs `[B, T]`.
    pub inputs: Tensor<2, Int>,
    /// Targets `[B, T]` (the inputs shifted by one).
    pub targets: Tensor<2, Int>,
    /// Whether the streams start here (the carried state is dropped).
    pub reset: bool,
}

/// Builds the batch of `chunks` (of one length) of the text `ids`.
///
/// ```
/// use kindling_seq::charlm::{collate_chunks, tbptt_chunks};
/// let ids: Vec<usize> = (0..9).collect();
/// let chunks = tbptt_chunks(ids.len(), 2, 4);
/// let b = collate_chunks(&[&chunks[0], &chunks[1]], &ids, &kindling_core::default_device())?;
/// assert_eq!(kindling_core::tensor::to_vec_i64(b.inputs)?, vec![0, 1, 2, 3, 4, 5, 6, 7]);
/// assert_eq!(kindling_core::tensor::to_vec_i64(b.targets)?, vec![1, 2, 3, 4, 5, 6, 7, 8]);
/// assert!(b.reset);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn collate_chunks(chunks: &[&TbpttChunk], ids: &[usize], device: &Device) -> Result<ChunkBatch> {
    let t = chunks.first().map_or(0, |c| c.len);
    if t == 0 || chunks.iter().any(|c| c.len != t || c.start + t + 1 > ids.len()) {
        return Err(SeqError::Input(format!("chunks must share one positive length within a text of {}", ids.len())));
    }
    let b = chunks.len();
    let take = |shift: usize| -> Vec<i64> {
        chunks.iter().flat_map(|c| ids[c.start + shift..c.start + shift + t].iter().map(|&i| i as i64)).collect()
    };
    Ok(ChunkBatch {
        inputs: Tensor::from_data(TensorData::new(take(0), [b, t]), device),
        targets: Tensor::from_data(TensorData::new(take(1), [b, t]), device),
        reset: chunks[0].first,
    })
}

/// The recurrent state carried from one batch to the next in truncated BPTT.
#[derive(Debug, Default)]
pub struct StateCarry(RefCell<Option<RecurrentState>>);

impl StateCarry {
    /// An empty carry (the first batch starts from zero).
    pub fn new() -> Self {
        Self::default()
    }

    fn take(&self) -> Option<RecurrentState> {
        self.0.borrow_mut().take()
    }

    fn put(&self, state: RecurrentState) {
        let detached = RecurrentState::new(state.h.detach(), state.c.map(Tensor::detach));
        *self.0.borrow_mut() = Some(detached);
    }
}

/// Sampling settings of [`CharLm::sample`].
///
/// ```
/// use kindling_seq::charlm::SamplingConfig;
/// let s = SamplingConfig::new().with_temperature(0.8).with_top_k(10);
/// assert_eq!(s.top_k, 10);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 picks the most likely character (greedy).
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Sample among the `top_k` most likely characters only; 0: all.
    #[config(default = 0)]
    pub top_k: usize,
}

/// A character-level language model (see the [module documentation](self)).
///
/// ```
/// use kindling_seq::charlm::{CharLmConfig, SamplingConfig};
/// let device = kindling_core::default_device();
/// let lm = CharLmConfig::new(5).with_hidden_size(16).with_embedding_dim(4).init(&device)?;
/// let mut rng = kindling_core::seeded_rng(1);
/// let text = lm.sample(&[0, 1], 10, &SamplingConfig::new().with_top_k(3), &mut rng, &device)?;
/// assert_eq!(text.len(), 10);
/// let stats = lm.evaluate_text(&[0, 1, 2, 3, 4, 0, 1, 2], 2, 3, &device)?;
/// assert!(stats.extra["bits_per_char"] > 0.0);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct CharLm {
    /// Character embeddings.
    pub embedding: Embedding,
    /// The recurrent stack.
    pub rnn: Recurrent,
    /// Next-character head.
    pub output: Linear,
    /// Dropout on embeddings and before the head.
    pub dropout: Dropout,
}

impl CharLm {
    /// Number of characters.
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Next-character logits `[B, T, V]` of inputs `[B, T]` from `state`, and the final state.
    pub fn forward(
        &self,
        inputs: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> Result<(Tensor<3>, RecurrentState)> {
        let x = self.dropout.forward(self.embedding.forward(inputs));
        let (out, state) = self.rnn.forward(x, None, state)?;
        Ok((self.output.forward(self.dropout.forward(out)), state))
    }

    /// A truncated-BPTT training step: starts from the carried state (zero at a stream start),
    /// leaves the detached final state in `carry`; mean cross-entropy per character and correct
    /// next-character count.
    pub fn tbptt_step(&self, batch: ChunkBatch, carry: &StateCarry) -> Result<StepOutput> {
        let state = if batch.reset { None } else { carry.take() };
        let (logits, state) = self.forward(batch.inputs, state)?;
        carry.put(state);
        let [b, t] = batch.targets.dims();
        let picked = log_softmax(logits.clone(), 2).gather(2, batch.targets.clone().unsqueeze_dim::<3>(2));
        let loss = picked.mean().neg().reshape([1]);
        let hits = logits.argmax(2).reshape([b, t]).equal(batch.targets).float().sum();
        Ok(StepOutput::new(loss, b * t).with_correct(hits))
    }

    /// Mean negative log-likelihood (nats per character, the `loss`), next-character accuracy
    /// and `bits_per_char` (in `extra`) over the text `ids`, read as `streams` contiguous streams
    /// in chunks of `bptt` with the state carried (no gradients; call on the model in
    /// validation mode).
    pub fn evaluate_text(&self, ids: &[usize], streams: usize, bptt: usize, device: &Device) -> Result<EvalStats> {
        let streams = streams.clamp(1, ids.len().saturating_sub(1).max(1));
        let chunks = tbptt_chunks(ids.len(), streams, bptt);
        if chunks.is_empty() {
            return Err(SeqError::Input(format!("a text of {} characters is too short to evaluate", ids.len())));
        }
        let (mut nats, mut correct, mut count) = (0.0f64, 0.0f64, 0usize);
        let mut state: Option<RecurrentState> = None;
        for batch in chunks.chunks(streams) {
            let refs: Vec<&TbpttChunk> = batch.iter().collect();
            let b = collate_chunks(&refs, ids, device)?;
            let [rows, t] = b.targets.dims();
            let (logits, next) = self.forward(b.inputs, state.take())?;
            state = Some(next);
            let picked = log_softmax(logits.clone(), 2).gather(2, b.targets.clone().unsqueeze_dim::<3>(2)).sum();
            let hits = logits.argmax(2).reshape([rows, t]).equal(b.targets).float().sum();
            let v = kindling_core::tensor::to_vec_f32(Tensor::cat(vec![picked.reshape([1]), hits.reshape([1])], 0))?;
            nats -= f64::from(v[0]);
            correct += f64::from(v[1]);
            count += rows * t;
        }
        let loss = nats / count as f64;
        let mut stats = EvalStats { loss, accuracy: correct / count as f64, count, extra: Default::default() };
        stats.extra.insert("bits_per_char".into(), loss / std::f64::consts::LN_2);
        Ok(stats)
    }

    /// Generates `length` characters after the seed `seed` (at least one id): each step draws the
    /// next character from the softmax of `logits / temperature` over the `top_k` most likely
    /// ones, with `rng`. Call on the model in validation mode.
    pub fn sample(
        &self,
        seed: &[usize],
        length: usize,
        config: &SamplingConfig,
        rng: &mut impl Rng,
        device: &Device,
    ) -> Result<Vec<usize>> {
        let v = self.vocab_size();
        if seed.is_empty() || seed.iter().any(|&i| i >= v) {
            return Err(SeqError::Input(format!("the seed must be non-empty ids below {v}")));
        }
        if !(config.temperature.is_finite() && config.temperature >= 0.0) {
            return Err(SeqError::Config(format!("temperature must be >= 0, got {}", config.temperature)));
        }
        let ids = |s: &[usize]| {
            let v: Vec<i64> = s.iter().map(|&i| i as i64).collect();
            Tensor::<2, Int>::from_data(TensorData::new(v, [1, s.len()]), device)
        };
        let (logits, mut state) = self.forward(ids(seed), None)?;
        let mut last = logits.narrow(1, seed.len() - 1, 1).reshape([v]);
        let mut out = Vec::with_capacity(length);
        for _ in 0..length {
            let row = kindling_core::tensor::to_vec_f32(last)?;
            let next = draw(&row, config, rng);
            out.push(next);
            let (logits, s) = self.forward(ids(&[next]), Some(state))?;
            state = s;
            last = logits.reshape([v]);
        }
        Ok(out)
    }
}

/// A member of [`evaluate_mixture`]: a model, the text in its own character ids, and for each of
/// its ids the id of that character in an alphabet shared by all members.
#[derive(Debug, Clone, Copy)]
pub struct MixtureMember<'a> {
    /// The model, in validation mode.
    pub model: &'a CharLm,
    /// The text, in the model's ids.
    pub ids: &'a [usize],
    /// `shared[id]`: the shared-alphabet id of the model's character `id` (one per model id).
    pub shared: &'a [usize],
}

/// Loss (nats per character), accuracy and `bits_per_char` of a **mixture** of language models:
/// the probability of each next character is the mean of the members' probabilities (a
/// character outside a member's vocabulary has probability 0 under it). Members may differ in
/// vocabulary (a model pre-trained on other text) and size; they read the same text, as `streams`
/// streams in chunks of `bptt` with their states carried, as in [`CharLm::evaluate_text`], which
/// a mixture of one model reproduces (to rounding).
///
/// ```
/// use kindling_seq::charlm::{CharLmConfig, MixtureMember, evaluate_mixture};
/// let device = kindling_core::default_device();
/// let a = CharLmConfig::new(3).with_hidden_size(8).with_embedding_dim(4).init(&device)?;
/// let b = CharLmConfig::new(4).with_hidden_size(6).with_embedding_dim(4).init(&device)?;
/// // a knows "xyz" as 0 1 2; b knows "wxyz" as 0 1 2 3.
/// let (text_a, text_b) = (vec![0, 1, 2, 0, 1, 2, 2], vec![1, 2, 3, 1, 2, 3, 3]);
/// let members = [
///     MixtureMember { model: &a, ids: &text_a, shared: &[1, 2, 3] },
///     MixtureMember { model: &b, ids: &text_b, shared: &[0, 1, 2, 3] },
/// ];
/// let mixed = evaluate_mixture(&members, 4, 1, 3, &device)?;
/// let alone = a.evaluate_text(&text_a, 1, 3, &device)?;
/// assert_eq!(mixed.count, alone.count);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn evaluate_mixture(
    members: &[MixtureMember<'_>],
    shared_len: usize,
    streams: usize,
    bptt: usize,
    device: &Device,
) -> Result<EvalStats> {
    let Some(first) = members.first() else {
        return Err(SeqError::Config("a mixture needs at least one model".into()));
    };
    let n = first.ids.len();
    for (i, m) in members.iter().enumerate() {
        let v = m.model.vocab_size();
        if m.shared.len() != v || m.shared.iter().any(|&s| s >= shared_len) || m.ids.iter().any(|&id| id >= v) {
            return Err(SeqError::Input(format!(
                "mixture member {i}: its {v} ids must map into the {shared_len} shared characters"
            )));
        }
        if m.ids.len() != n || m.ids.iter().zip(first.ids).any(|(&id, &f)| m.shared[id] != first.shared[f]) {
            return Err(SeqError::Input(format!("mixture member {i} reads another text than member 0")));
        }
    }
    let streams = streams.clamp(1, n.saturating_sub(1).max(1));
    let chunks = tbptt_chunks(n, streams, bptt);
    if chunks.is_empty() {
        return Err(SeqError::Input(format!("a text of {n} characters is too short to evaluate")));
    }
    let (mut nats, mut correct, mut count) = (0.0f64, 0usize, 0usize);
    let mut states: Vec<Option<RecurrentState>> = vec![None; members.len()];
    let mut mix = vec![0.0f64; shared_len];
    for batch in chunks.chunks(streams) {
        let refs: Vec<&TbpttChunk> = batch.iter().collect();
        let mut probs = Vec::with_capacity(members.len());
        for (m, state) in members.iter().zip(states.iter_mut()) {
            let b = collate_chunks(&refs, m.ids, device)?;
            let (logits, next) = m.model.forward(b.inputs, state.take())?;
            *state = Some(next);
            probs.push(kindling_core::tensor::to_vec_f32(log_softmax(logits, 2))?);
        }
        let t = batch[0].len;
        for (row, chunk) in batch.iter().enumerate() {
            for step in 0..t {
                mix.iter_mut().for_each(|p| *p = 0.0);
                for (m, lp) in members.iter().zip(&probs) {
                    let v = m.model.vocab_size();
                    let at = (row * t + step) * v;
                    for (id, &l) in lp[at..at + v].iter().enumerate() {
                        mix[m.shared[id]] += f64::from(l).exp() / members.len() as f64;
                    }
                }
                let target = first.shared[first.ids[chunk.start + step + 1]];
                nats -= mix[target].ln();
                let best = (0..shared_len).fold(0, |b, c| if mix[c] > mix[b] { c } else { b });
                correct += usize::from(best == target);
                count += 1;
            }
        }
    }
    let loss = nats / count as f64;
    let mut stats = EvalStats { loss, accuracy: correct as f64 / count as f64, count, extra: Default::default() };
    stats.extra.insert("bits_per_char".into(), loss / std::f64::consts::LN_2);
    Ok(stats)
}

/// Draws an index from logits with a temperature and top-k (greedy at temperature 0).
fn draw(logits: &[f32], config: &SamplingConfig, rng: &mut impl Rng) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if config.temperature == 0.0 {
        return order[0];
    }
    if config.top_k > 0 {
        order.truncate(config.top_k);
    }
    let top = f64::from(logits[order[0]]);
    let weights: Vec<f64> = order.iter().map(|&i| ((f64::from(logits[i]) - top) / config.temperature).exp()).collect();
    let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (&i, w) in order.iter().zip(&weights) {
        if u < *w {
            return i;
        }
        u -= w;
    }
    order[order.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_respects_top_k_and_temperature() {
        let _rng = crate::test_rng_lock();
        let logits = [0.0f32, 3.0, 1.0, 2.0];
        let mut rng = kindling_core::seeded_rng(3);
        let greedy = SamplingConfig::new().with_temperature(0.0);
        assert_eq!(draw(&logits, &greedy, &mut rng), 1);
        let top2 = SamplingConfig::new().with_top_k(2);
        for _ in 0..200 {
            assert!([1, 3].contains(&draw(&logits, &top2, &mut rng)));
        }
        // A low temperature concentrates on the best; a high one spreads.
        let count = |t: f64, rng: &mut kindling_core::SeedRng| {
            let c = SamplingConfig::new().with_temperature(t);
            (0..2000).filter(|_| draw(&logits, &c, rng) == 1).count()
        };
        let (cold, hot) = (count(0.2, &mut rng), count(5.0, &mut rng));
        assert!(cold > 1900 && hot < 900, "{cold} {hot}");
    }

    #[test]
    fn chunks_cover_each_stream_once() {
        let _rng = crate::test_rng_lock();
        let n = 103;
        let chunks = tbptt_chunks(n, 4, 7);
        let stream_len = (n - 1) / 4;
        let mut seen = vec![0usize; n];
        for c in &chunks {
            seen[c.start..c.start + c.len].iter_mut().for_each(|s| *s += 1);
        }
        assert_eq!(seen.iter().sum::<usize>(), 4 * stream_len);
        assert!(seen.iter().all(|&s| s <= 1));
        // Consecutive batches continue each stream.
        for j in 1..chunks.len() / 4 {
            for s in 0..4 {
                let (a, b) = (chunks[(j - 1) * 4 + s], chunks[j * 4 + s]);
                assert_eq!(a.start + a.len, b.start);
            }
        }
    }

    #[test]
    fn carried_state_equals_one_long_pass() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let lm =
            CharLmConfig::new(6).with_hidden_size(8).with_embedding_dim(4).with_dropout(0.0).init(&device).unwrap();
        let ids: Vec<usize> = (0..41).map(|i| (i * 7 + 3) % 6).collect();
        // One stream, chunks of 8 with the state carried = one pass over the 40 inputs.
        let chunked = lm.evaluate_text(&ids, 1, 8, &device).unwrap();
        let whole = lm.evaluate_text(&ids, 1, 1000, &device).unwrap();
        assert!((chunked.loss - whole.loss).abs() < 1e-5, "{} {}", chunked.loss, whole.loss);
        assert_eq!(chunked.count, 40);
    }

    #[test]
    fn mixtures_reproduce_one_model_and_beat_the_mean_of_two() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let lm = |v: usize, h: usize| {
            CharLmConfig::new(v).with_hidden_size(h).with_embedding_dim(4).with_dropout(0.0).init(&device).unwrap()
        };
        let (a, b) = (lm(6, 8), lm(7, 5));
        let ids_a: Vec<usize> = (0..61).map(|i| (i * 7 + 3) % 6).collect();
        // b's ids are a's shifted by one: its id 0 is a character the text never holds.
        let ids_b: Vec<usize> = ids_a.iter().map(|i| i + 1).collect();
        let shared_a: Vec<usize> = (1..7).collect();
        let shared_b: Vec<usize> = (0..7).collect();
        let member_a = MixtureMember { model: &a, ids: &ids_a, shared: &shared_a };
        let member_b = MixtureMember { model: &b, ids: &ids_b, shared: &shared_b };
        let alone_a = a.evaluate_text(&ids_a, 3, 8, &device).unwrap();
        let alone_b = b.evaluate_text(&ids_b, 3, 8, &device).unwrap();
        let one = evaluate_mixture(&[member_a], 7, 3, 8, &device).unwrap();
        assert!((one.loss - alone_a.loss).abs() < 1e-5, "{} {}", one.loss, alone_a.loss);
        assert!((one.accuracy - alone_a.accuracy).abs() < 1e-9);
        let both = evaluate_mixture(&[member_a, member_b], 7, 3, 8, &device).unwrap();
        // log of a mean ≥ mean of logs: the mixture never loses to its members' average.
        assert!(
            both.loss <= (alone_a.loss + alone_b.loss) / 2.0 + 1e-6,
            "{} {} {}",
            both.loss,
            alone_a.loss,
            alone_b.loss
        );
        assert!(both.loss < alone_a.loss.max(alone_b.loss));
        let other_text: Vec<usize> = ids_b.iter().map(|i| (i + 1) % 7).collect();
        let wrong = MixtureMember { ids: &other_text, ..member_b };
        assert!(evaluate_mixture(&[member_a, wrong], 7, 3, 8, &device).is_err());
        assert!(evaluate_mixture(&[member_a], 5, 3, 8, &device).is_err());
        assert!(evaluate_mixture(&[], 7, 3, 8, &device).is_err());
    }
}
