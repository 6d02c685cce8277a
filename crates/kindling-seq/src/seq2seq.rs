//! Many-to-many with different lengths: a recurrent encoder-decoder with attention
//! (grapheme-to-phoneme conversion, translation).
//!
//! The encoder embeds the source tokens and reads them with a (by default bidirectional)
//! recurrent stack; its outputs are the [`AttentionDecoder`]'s memory (padding masked) and its
//! final hidden states, through a `tanh` bridge, the decoder's initial state. Training is
//! teacher-forced with a masked cross-entropy; a [`TeacherForcing`] schedule can lower the
//! share of gold inputs over the epochs (scheduled sampling, Bengio et al. 2015). Decoding is
//! greedy or beam search ([`crate::decode`]), batched.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use kindling_data::text::{BOS, EOS, PAD};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::attention::{AttentionKind, AttentionMemory};
use crate::attn_decoder::{
    AttentionDecoder, AttentionDecoderConfig, DecoderState, check_label_smoothing, smoothed_sequence_loss,
};
use crate::batch::pad_tokens;
use crate::decode::{AttentionSearch, BeamConfig, Ensemble, Hypothesis, SearchState, beam_search, greedy};
use crate::train::StepOutput;
use crate::{CellKind, Recurrent, RecurrentConfig, Result, SeqError};

/// Configuration of a [`Seq2Seq`] model.
///
/// ```
/// use kindling_seq::seq2seq::Seq2SeqConfig;
/// let device = kindling_core::default_device();
/// let model = Seq2SeqConfig::new(30, 45).with_hidden_size(64).init(&device)?;
/// assert_eq!(model.encoder.output_size(), 128); // bidirectional
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct Seq2SeqConfig {
    /// Source vocabulary size (with the special tokens).
    pub source_vocab_size: usize,
    /// Target vocabulary size (with the special tokens).
    pub target_vocab_size: usize,
    /// Embedding width (source and target).
    #[config(default = 64)]
    pub embedding_dim: usize,
    /// Hidden size of the encoder (per direction) and of the decoder.
    #[config(default = 256)]
    pub hidden_size: usize,
    /// Encoder layers.
    #[config(default = 1)]
    pub encoder_layers: usize,
    /// Decoder layers.
    #[config(default = 1)]
    pub decoder_layers: usize,
    /// Bidirectional encoder.
    #[config(default = true)]
    pub bidirectional: bool,
    /// Recurrence of encoder and decoder.
    #[config(default = "CellKind::Lstm")]
    pub cell: CellKind,
    /// Attention score.
    #[config(default = "AttentionKind::General")]
    pub attention: AttentionKind,
    /// Luong input feeding (decoding then runs step by step in training too).
    #[config(default = false)]
    pub input_feeding: bool,
    /// Dropout on embeddings, between layers, on the memory and before the output layer.
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Weight dropout on the recurrent matrices of encoder and decoder
    /// ([`RecurrentConfig::weight_dropout`](crate::RecurrentConfig::weight_dropout)).
    #[config(default = 0.0)]
    pub weight_dropout: f64,
}

impl Seq2SeqConfig {
    /// Builds the model.
    pub fn init(&self, device: &Device) -> Result<Seq2Seq> {
        if self.source_vocab_size <= EOS || self.embedding_dim == 0 {
            return Err(SeqError::Config(format!(
                "the source vocabulary ({}) must go beyond the special tokens and the embedding be positive",
                self.source_vocab_size
            )));
        }
        let encoder = RecurrentConfig::new(self.cell, self.embedding_dim, self.hidden_size)
            .with_num_layers(self.encoder_layers)
            .with_bidirectional(self.bidirectional)
            .with_dropout(self.dropout)
            .with_weight_dropout(self.weight_dropout)
            .init(device)?;
        let memory = encoder.output_size();
        let decoder = AttentionDecoderConfig::new(self.target_vocab_size, memory)
            .with_summary_size(memory)
            .with_embedding_dim(self.embedding_dim)
            .with_hidden_size(self.hidden_size)
            .with_num_layers(self.decoder_layers)
            .with_cell(self.cell)
            .with_attention(self.attention)
            .with_input_feeding(self.input_feeding)
            .with_dropout(self.dropout)
            .with_weight_dropout(self.weight_dropout)
            .init(device)?;
        Ok(Seq2Seq {
            source_embedding: EmbeddingConfig::new(self.source_vocab_size, self.embedding_dim).init(device),
            encoder,
            decoder,
            dropout: DropoutConfig::new(self.dropout).init(),
        })
    }
}

/// A source-target pair as token ids (the target without `<bos>` / `<eos>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairExample {
    /// Source ids.
    pub source: Vec<usize>,
    /// Target ids.
    pub target: Vec<usize>,
}

/// A padded batch of pairs.
#[derive(Debug, Clone)]
pub struct Seq2SeqBatch {
    /// Source ids `[B, S]`.
    pub source: Tensor<2, Int>,
    /// Source lengths.
    pub source_lengths: Vec<usize>,
    /// Decoder inputs `[B, T]`: `<bos> y1 … yn`, padded.
    pub inputs: Tensor<2, Int>,
    /// Targets `[B, T]`: `y1 … yn <eos>`, padded.
    pub targets: Tensor<2, Int>,
    /// Target lengths (`n + 1`).
    pub target_lengths: Vec<usize>,
    /// Steps whose input is the model's own previous prediction (scheduled sampling).
    pub sampled: Option<Tensor<2, Bool>>,
}

/// Pads pairs into a batch (all inputs gold).
///
/// ```
/// use kindling_seq::seq2seq::{PairExample, collate_pairs};
/// let d = kindling_core::default_device();
/// let a = PairExample { source: vec![5, 6, 7], target: vec![8] };
/// let b = PairExample { source: vec![9], target: vec![10, 11] };
/// let batch = collate_pairs(&[&a, &b], &d)?;
/// assert_eq!(batch.target_lengths, vec![2, 3]);
/// assert_eq!(kindling_core::tensor::to_vec_i64(batch.inputs)?, vec![2, 8, 0, 2, 10, 11]);
/// assert_eq!(kindling_core::tensor::to_vec_i64(batch.targets)?, vec![8, 3, 0, 10, 11, 3]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn collate_pairs(items: &[&PairExample], device: &Device) -> Result<Seq2SeqBatch> {
    let sources: Vec<&[usize]> = items.iter().map(|i| i.source.as_slice()).collect();
    let (source, source_lengths) = pad_tokens(&sources, device)?;
    let inputs: Vec<Vec<usize>> =
        items.iter().map(|i| std::iter::once(BOS).chain(i.target.clone()).collect()).collect();
    let targets: Vec<Vec<usize>> = items.iter().map(|i| i.target.iter().copied().chain([EOS]).collect()).collect();
    let (inputs, target_lengths) = pad_tokens(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>(), device)?;
    let (targets, _) = pad_tokens(&targets.iter().map(Vec::as_slice).collect::<Vec<_>>(), device)?;
    Ok(Seq2SeqBatch { source, source_lengths, inputs, targets, target_lengths, sampled: None })
}

/// A teacher-forcing schedule: the probability that a decoder step reads the gold previous
/// token goes linearly from `start` (epoch 0) to `end` (epoch `decay_epochs` and after).
///
/// ```
/// use kindling_seq::seq2seq::TeacherForcing;
/// let tf = TeacherForcing { start: 1.0, end: 0.5, decay_epochs: 10 };
/// assert_eq!(tf.ratio(0), 1.0);
/// assert_eq!(tf.ratio(5), 0.75);
/// assert_eq!(tf.ratio(50), 0.5);
/// assert_eq!(TeacherForcing::always().ratio(3), 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TeacherForcing {
    /// Ratio at epoch 0.
    pub start: f64,
    /// Ratio from epoch `decay_epochs` on.
    pub end: f64,
    /// Epochs of the linear decay.
    pub decay_epochs: usize,
}

impl TeacherForcing {
    /// Always the gold token (plain teacher forcing).
    pub fn always() -> Self {
        Self { start: 1.0, end: 1.0, decay_epochs: 0 }
    }

    /// The ratio of epoch `epoch` (0-based).
    pub fn ratio(&self, epoch: usize) -> f64 {
        if self.decay_epochs == 0 || epoch >= self.decay_epochs {
            return self.end;
        }
        self.start + (self.end - self.start) * epoch as f64 / self.decay_epochs as f64
    }

    /// Checks that both ratios are in `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.start) || !(0.0..=1.0).contains(&self.end) {
            return Err(SeqError::Config(format!(
                "teacher-forcing ratios must be in [0, 1], got {} and {}",
                self.start, self.end
            )));
        }
        Ok(())
    }
}

impl Seq2SeqBatch {
    /// Draws, with `rng`, which decoder steps (after the first) read the model's own previous
    /// prediction: each with probability `1 - ratio`. A ratio of 1 keeps plain teacher forcing.
    pub fn with_sampling(mut self, ratio: f64, rng: &mut impl Rng) -> Self {
        if ratio >= 1.0 {
            self.sampled = None;
            return self;
        }
        let [b, t] = self.inputs.dims();
        let mask: Vec<bool> = (0..b * t).map(|i| i % t > 0 && rng.random::<f64>() >= ratio).collect();
        self.sampled = Some(Tensor::from_data(TensorData::new(mask, [b, t]), &self.inputs.device()));
        self
    }
}

/// An encoded batch: the decoder's memory and initial state.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Encoder outputs, prepared for attention.
    pub memory: AttentionMemory,
    /// The decoder's initial state.
    pub state: DecoderState,
}

/// A recurrent encoder-decoder with attention (see the [module documentation](self)).
///
/// ```
/// use kindling_seq::decode::BeamConfig;
/// use kindling_seq::seq2seq::{PairExample, Seq2SeqConfig, collate_pairs};
///
/// let device = kindling_core::default_device();
/// let model = Seq2SeqConfig::new(10, 12).with_hidden_size(16).with_embedding_dim(8).init(&device)?;
/// let pair = PairExample { source: vec![4, 5, 6], target: vec![7, 8] };
/// let batch = collate_pairs(&[&pair, &pair], &device)?;
/// let step = model.step(batch.clone())?; // masked cross-entropy for the trainer
/// assert_eq!(step.count, 6);
/// let greedy = model.greedy(batch.source.clone(), &batch.source_lengths, 5)?;
/// let beams = model.beam(batch.source, &batch.source_lengths, &BeamConfig::new().with_width(3).with_max_len(5))?;
/// assert_eq!((greedy.len(), beams[0].len()), (2, 3));
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct Seq2Seq {
    /// Source-token embeddings.
    pub source_embedding: Embedding,
    /// The encoder stack.
    pub encoder: Recurrent,
    /// The attentive decoder.
    pub decoder: AttentionDecoder,
    /// Dropout on source embeddings and encoder outputs.
    pub dropout: Dropout,
}

impl Seq2Seq {
    /// Encodes source ids `[B, S]` of lengths `lengths`.
    pub fn encode(&self, source: Tensor<2, Int>, lengths: &[usize]) -> Result<Encoded> {
        let [b, _] = source.dims();
        let device = source.device();
        let x = self.dropout.forward(self.source_embedding.forward(source));
        let (out, state) = self.encoder.forward(x, Some(lengths), None)?;
        let memory = self.decoder.attention.prepare(self.dropout.forward(out), Some(lengths))?;
        let state = self.decoder.initial_state(Some(self.encoder.last_hidden(&state)), b, &device)?;
        Ok(Encoded { memory, state })
    }

    /// Teacher-forced logits `[B, T, V]` of a batch.
    pub fn forward(&self, batch: &Seq2SeqBatch) -> Result<Tensor<3>> {
        let enc = self.encode(batch.source.clone(), &batch.source_lengths)?;
        self.decoder.forward(&enc.memory, enc.state, batch.inputs.clone(), &batch.target_lengths, batch.sampled.clone())
    }

    /// Masked cross-entropy over target tokens (`<eos>` included) and correct-token count: the
    /// trainer's `loss` closure.
    pub fn step(&self, batch: Seq2SeqBatch) -> Result<StepOutput> {
        self.step_smoothed(batch, 0.0)
    }

    /// [`step`](Self::step) with label smoothing `epsilon` (see [`smoothed_sequence_loss`]): a
    /// training loss; validate with the plain [`step`](Self::step).
    /// `epsilon` outside `[0, 1)` is an error.
    pub fn step_smoothed(&self, batch: Seq2SeqBatch, epsilon: f32) -> Result<StepOutput> {
        check_label_smoothing(epsilon)?;
        let logits = self.forward(&batch)?;
        Ok(smoothed_sequence_loss(logits, batch.targets, &batch.target_lengths, epsilon))
    }

    /// Greedy decoding of source ids `[B, S]`: up to `max_len` target ids per sequence.
    pub fn greedy(&self, source: Tensor<2, Int>, lengths: &[usize], max_len: usize) -> Result<Vec<Vec<usize>>> {
        let (search, state) = ensemble_search(&[self], source, lengths)?;
        greedy(&search, state, lengths.len(), BOS, EOS, max_len)
    }

    /// Beam search over source ids `[B, S]`: the best hypotheses of each sequence, best first.
    pub fn beam(&self, source: Tensor<2, Int>, lengths: &[usize], config: &BeamConfig) -> Result<Vec<Vec<Hypothesis>>> {
        beam_ensemble(&[self], source, lengths, config)
    }
}

/// Beam search of a padded source batch `[B, S]` over the mean next-token probabilities of
/// `models` (see [`translate_ensemble`]): up to `config.width` hypotheses per source, best first.
pub fn beam_ensemble(
    models: &[&Seq2Seq],
    source: Tensor<2, Int>,
    lengths: &[usize],
    config: &BeamConfig,
) -> Result<Vec<Vec<Hypothesis>>> {
    let (ensemble, states) = ensemble_search(models, source, lengths)?;
    beam_search(&ensemble, states, lengths.len(), config, BOS, EOS)
}

/// Every model encodes the batch; their decoders, as one [`Ensemble`], and its start state.
fn ensemble_search<'a>(
    models: &[&'a Seq2Seq],
    source: Tensor<2, Int>,
    lengths: &[usize],
) -> Result<(Ensemble<AttentionSearch<'a>>, Vec<SearchState>)> {
    let device = source.device();
    let (mut searches, mut states) = (Vec::new(), Vec::new());
    for model in models {
        let enc = model.encode(source.clone(), lengths)?;
        let search = AttentionSearch::new(&model.decoder, &device);
        states.push(search.start(enc.state, enc.memory));
        searches.push(search);
    }
    Ok((Ensemble::new(searches)?, states))
}

/// Decodes source id sequences in batches of `batch_size` (sorted by length, so padding stays
/// small) with beam search of `beam.width` (greedy when 1); returns the best target of each, in
/// input order. A `beam.max_len` of 0 allows `2 × S + 10` tokens, `S` the longest source of the
/// batch.
///
/// ```
/// use kindling_seq::decode::BeamConfig;
/// use kindling_seq::seq2seq::{Seq2SeqConfig, translate};
/// let device = kindling_core::default_device();
/// let model = Seq2SeqConfig::new(10, 12).with_hidden_size(8).with_embedding_dim(4).init(&device)?;
/// let out = translate(&model, &[vec![4, 5], vec![6, 7, 8]], 64, &BeamConfig::new().with_width(2).with_max_len(4), &device)?;
/// assert_eq!(out.len(), 2);
/// assert!(out.iter().all(|t| t.len() <= 4));
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn translate(
    model: &Seq2Seq,
    sources: &[Vec<usize>],
    batch_size: usize,
    beam: &BeamConfig,
    device: &Device,
) -> Result<Vec<Vec<usize>>> {
    translate_ensemble(&[model], sources, batch_size, beam, device)
}

/// [`translate`] with an ensemble: every step decodes from the mean of the models' next-token
/// probabilities ([`Ensemble`]). The models must share their vocabularies (models trained on
/// the same data with different seeds or sizes); one model decodes exactly as [`translate`].
///
/// ```
/// use kindling_seq::decode::BeamConfig;
/// use kindling_seq::seq2seq::{Seq2SeqConfig, translate_ensemble};
/// let device = kindling_core::default_device();
/// let a = Seq2SeqConfig::new(10, 12).with_hidden_size(8).with_embedding_dim(4).init(&device)?;
/// let b = Seq2SeqConfig::new(10, 12).with_hidden_size(6).with_embedding_dim(4).init(&device)?;
/// let out = translate_ensemble(&[&a, &b], &[vec![4, 5]], 8, &BeamConfig::new().with_width(3).with_max_len(4), &device)?;
/// assert!(out[0].len() <= 4);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn translate_ensemble(
    models: &[&Seq2Seq],
    sources: &[Vec<usize>],
    batch_size: usize,
    beam: &BeamConfig,
    device: &Device,
) -> Result<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let mut out = vec![Vec::new(); sources.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let seqs: Vec<&[usize]> = chunk.iter().map(|&i| sources[i].as_slice()).collect();
        if seqs.iter().any(|s| s.is_empty() || s.contains(&PAD)) {
            return Err(SeqError::Input("a source sequence is empty or holds the padding id".into()));
        }
        let (ids, lengths) = pad_tokens(&seqs, device)?;
        let mut beam = beam.clone();
        if beam.max_len == 0 {
            beam.max_len = 2 * lengths.iter().max().copied().unwrap_or(0) + 10;
        }
        let best: Vec<Vec<usize>> = if beam.width <= 1 {
            let (ensemble, states) = ensemble_search(models, ids, &lengths)?;
            greedy(&ensemble, states, lengths.len(), BOS, EOS, beam.max_len)?
        } else {
            beam_ensemble(models, ids, &lengths, &beam)?
                .into_iter()
                .map(|h| h.into_iter().next().unwrap_or_default().tokens)
                .collect()
        };
        for (&i, t) in chunk.iter().zip(best) {
            out[i] = t;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::train::{ProgressMode, RunOptions, TrainConfig, Trainer, load_module, save_module};

    /// Random sequences of ids 4..12, length 3..=6, and their reversal.
    fn reverse_pairs(n: usize, seed: u64) -> Vec<PairExample> {
        let mut rng = kindling_core::seeded_rng(seed);
        (0..n)
            .map(|_| {
                let len = rng.random_range(3..=6);
                let source: Vec<usize> = (0..len).map(|_| rng.random_range(4..12)).collect();
                PairExample { target: source.iter().rev().copied().collect(), source }
            })
            .collect()
    }

    /// Weight dropout reaches the recurrent stacks of encoder and decoder, within its range.
    #[test]
    fn weight_dropout_reaches_encoder_and_decoder() {
        let device = kindling_core::default_device();
        let config = Seq2SeqConfig::new(12, 12).with_hidden_size(8).with_embedding_dim(4);
        let model = config.clone().with_weight_dropout(0.3).init(&device).unwrap();
        assert_eq!((model.encoder.weight_dropout.prob, model.decoder.rnn.weight_dropout.prob), (0.3, 0.3));
        assert!(config.with_weight_dropout(1.0).init(&device).is_err());
    }

    /// The acceptance test: a tiny reverse task is learned to 100% exact match on unseen
    /// sequences; beam search of width 1 equals greedy; the model saves and loads.
    #[test]
    fn learns_to_reverse_and_round_trips() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        kindling_core::seed_everything(7, &device);
        let config = Seq2SeqConfig::new(12, 12).with_embedding_dim(16).with_hidden_size(48).with_dropout(0.0);
        let train = reverse_pairs(1500, 1);
        let test = reverse_pairs(100, 2);
        let trainer = TrainConfig::new().with_epochs(20).with_batch_size(32).with_lr(1e-2);
        let quiet = RunOptions { progress: ProgressMode::Quiet, ..Default::default() };
        let fit = Trainer::new(trainer)
            .with_options(quiet)
            .fit(
                config.init(&device).unwrap(),
                &train,
                collate_pairs,
                |m: &Seq2Seq, b| m.step(b),
                |_| Ok(None),
                &device,
            )
            .unwrap();
        let model = fit.model;
        let sources: Vec<Vec<usize>> = test.iter().map(|p| p.source.clone()).collect();
        let greedy_out =
            translate(&model, &sources, 32, &BeamConfig::new().with_width(1).with_max_len(10), &device).unwrap();
        let right = greedy_out.iter().zip(&test).filter(|(p, t)| **p == t.target).count();
        assert_eq!(right, test.len(), "exact match {right}/{}", test.len());

        let refs: Vec<&[usize]> = sources.iter().map(Vec::as_slice).collect();
        let (ids, lengths) = pad_tokens(&refs, &device).unwrap();
        let g = model.greedy(ids.clone(), &lengths, 10).unwrap();
        let b1 = model.beam(ids.clone(), &lengths, &BeamConfig::new().with_width(1).with_max_len(10)).unwrap();
        let b1: Vec<Vec<usize>> = b1.into_iter().map(|h| h[0].tokens.clone()).collect();
        assert_eq!(g, b1, "beam width 1 must equal greedy");
        let b4 = model.beam(ids.clone(), &lengths, &BeamConfig::new().with_width(4).with_max_len(10)).unwrap();
        let b4_right = b4.iter().zip(&test).filter(|(h, t)| h[0].tokens == t.target).count();
        assert_eq!(b4_right, test.len(), "beam 4 exact match {b4_right}/{}", test.len());
        // An ensemble of one decodes exactly as the model; of the model twice, the same again.
        let beam3 = BeamConfig::new().with_width(3).with_max_len(10);
        let alone = translate(&model, &sources, 32, &beam3, &device).unwrap();
        assert_eq!(translate_ensemble(&[&model], &sources, 32, &beam3, &device).unwrap(), alone);
        assert_eq!(translate_ensemble(&[&model, &model], &sources, 32, &beam3, &device).unwrap(), alone);
        let other = Seq2SeqConfig::new(12, 13).with_hidden_size(8).init(&device).unwrap();
        assert!(translate_ensemble(&[&model, &other], &sources, 32, &beam3, &device).is_err());

        let dir = tempfile::tempdir().unwrap();
        save_module(&model, &dir.path().join("m.bpk")).unwrap();
        let loaded = load_module(config.init(&device).unwrap(), &dir.path().join("m.bpk")).unwrap();
        assert_eq!(loaded.greedy(ids, &lengths, 10).unwrap(), g);
    }

    #[test]
    fn scheduled_sampling_batch_and_typed_errors() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let pairs = reverse_pairs(4, 3);
        let refs: Vec<&PairExample> = pairs.iter().collect();
        let batch = collate_pairs(&refs, &device).unwrap();
        let mut rng = kindling_core::seeded_rng(0);
        let sampled = batch.clone().with_sampling(0.0, &mut rng).sampled.unwrap();
        let [b, t] = sampled.dims();
        let v: Vec<bool> = sampled.into_data().try_to_vec::<bool>().unwrap();
        assert!((0..b * t).all(|i| v[i] == (i % t > 0)), "ratio 0: every step after the first is sampled");
        assert!(batch.clone().with_sampling(1.0, &mut rng).sampled.is_none());
        let model = Seq2SeqConfig::new(12, 12).with_hidden_size(8).with_embedding_dim(4).init(&device).unwrap();
        let out = model.step(batch.with_sampling(0.5, &mut rng)).unwrap();
        assert!(kindling_core::tensor::to_vec_f32(out.loss).unwrap()[0].is_finite());
        assert!(translate(&model, &[vec![]], 4, &BeamConfig::new(), &device).is_err());
        assert!(Seq2SeqConfig::new(3, 12).init(&device).is_err());
        assert!(TeacherForcing { start: 1.5, end: 1.0, decay_epochs: 2 }.validate().is_err());
    }
}
