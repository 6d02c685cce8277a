//! Decoding: batched greedy and beam search over any step-wise model, and the error rates of
//! decoded sequences (word / sequence error rate, token error rate by edit distance).
//!
//! A model decodes through [`StepDecoder`]: given the last token of every live row and their
//! state, it returns the next-token log-probabilities and the new state, and it can gather the
//! state rows of the surviving hypotheses. [`AttentionSearch`] implements it for the
//! [`AttentionDecoder`] (encoder-decoder, captioner).
//!
//! Beam search keeps `width` hypotheses per sequence; of the `2 × width` best extensions, one
//! ending in `<eos>` among the first `width` is finished, the others stay alive until `width`
//! are. A sequence stops when it has `width` finished hypotheses (or at `max_len`). Finished
//! hypotheses are ranked by `log p / len^α` (`α` = `length_penalty`, `len` counting `<eos>`):
//! `α = 0` is the plain sum of log-probabilities, larger `α` favours longer outputs. With
//! `width = 1` beam search is exactly greedy decoding.

use burn::config::Config;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::attention::AttentionMemory;
use crate::attn_decoder::{AttentionDecoder, DecoderState, PreparedDecoder};
use crate::{Result, SeqError};

/// A model that decodes one token at a time (see the [module documentation](self)).
pub trait StepDecoder {
    /// The state of all live rows.
    type State;

    /// Output vocabulary size `V`.
    fn vocab_size(&self) -> usize;

    /// Log-probabilities of the next token, `N × V` row-major, after `tokens` (one per row),
    /// and the new state.
    fn step(&self, tokens: &[usize], state: Self::State) -> Result<(Vec<f32>, Self::State)>;

    /// The state of the rows `rows` (in that order, repeats allowed).
    fn select(&self, state: &Self::State, rows: &[usize]) -> Self::State;
}

/// [`StepDecoder`] for an [`AttentionDecoder`] over a memory.
///
/// ```
/// use burn::tensor::{Distribution, Tensor};
/// use kindling_seq::attn_decoder::AttentionDecoderConfig;
/// use kindling_seq::decode::{AttentionSearch, BeamConfig, beam_search, greedy};
///
/// let device = kindling_core::default_device();
/// let decoder = AttentionDecoderConfig::new(12, 6).with_hidden_size(8).init(&device)?;
/// let memory = decoder.attention.prepare(Tensor::random([3, 4, 6], Distribution::Normal(0.0, 1.0), &device), None)?;
/// let search = AttentionSearch::new(&decoder, &device);
/// let start = search.start(decoder.initial_state(None, 3, &device)?, memory);
/// let greedy_out = greedy(&search, start.clone(), 3, 2, 3, 10)?;
/// let beams = beam_search(&search, start, 3, &BeamConfig::new().with_width(1).with_max_len(10), 2, 3)?;
/// for (g, b) in greedy_out.iter().zip(&beams) {
///     assert_eq!(g, &b[0].tokens); // width 1 is greedy
/// }
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub struct AttentionSearch<'a> {
    decoder: &'a AttentionDecoder,
    prepared: PreparedDecoder,
    device: Device,
}

/// The state of an [`AttentionSearch`]: decoder states and the memory, one row per hypothesis.
#[derive(Debug, Clone)]
pub struct SearchState {
    /// Decoder states.
    pub decoder: DecoderState,
    /// The memory each row attends over.
    pub memory: AttentionMemory,
}

impl<'a> AttentionSearch<'a> {
    /// Decoding with `decoder` (in validation mode: no dropout) on `device`.
    pub fn new(decoder: &'a AttentionDecoder, device: &Device) -> Self {
        Self { decoder, prepared: decoder.prepare(), device: device.clone() }
    }

    /// The search state of a batch: initial decoder states and their memory.
    pub fn start(&self, decoder: DecoderState, memory: AttentionMemory) -> SearchState {
        SearchState { decoder, memory }
    }
}

impl StepDecoder for AttentionSearch<'_> {
    type State = SearchState;

    fn vocab_size(&self) -> usize {
        self.decoder.vocab_size()
    }

    fn step(&self, tokens: &[usize], state: SearchState) -> Result<(Vec<f32>, SearchState)> {
        let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
        let tokens = Tensor::<1, Int>::from_data(TensorData::new(ids, [tokens.len()]), &self.device);
        let (logits, _, decoder) = self.decoder.step(&self.prepared, &state.memory, tokens, state.decoder);
        let log_probs = kindling_core::tensor::to_vec_f32(log_softmax(logits, 1))?;
        Ok((log_probs, SearchState { decoder, memory: state.memory }))
    }

    fn select(&self, state: &SearchState, rows: &[usize]) -> SearchState {
        SearchState { decoder: state.decoder.select(rows), memory: state.memory.select(rows) }
    }
}

/// Several step decoders voting as one: the next-token distribution is the mean of the
/// members' probabilities (`log Σ exp(log pᵢ) − log n`), so beam search and greedy decoding run
/// over the ensemble unchanged. A single member passes its log-probabilities through untouched.
///
/// ```
/// use kindling_seq::decode::{Ensemble, StepDecoder};
/// # use kindling_seq::Result;
/// struct Fixed(Vec<f32>);
/// impl StepDecoder for Fixed {
///     type State = ();
///     fn vocab_size(&self) -> usize { self.0.len() }
///     fn step(&self, t: &[usize], _: ()) -> Result<(Vec<f32>, ())> {
///         Ok((t.iter().flat_map(|_| self.0.iter().map(|p| p.ln())).collect(), ()))
///     }
///     fn select(&self, _: &(), _: &[usize]) {}
/// }
/// let both = Ensemble::new(vec![Fixed(vec![0.8, 0.2]), Fixed(vec![0.4, 0.6])])?;
/// let (lp, _) = both.step(&[0], vec![(), ()])?;
/// assert!((lp[0].exp() - 0.6).abs() < 1e-6 && (lp[1].exp() - 0.4).abs() < 1e-6);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub struct Ensemble<S> {
    members: Vec<S>,
}

impl<S: StepDecoder> Ensemble<S> {
    /// An ensemble of `members` (at least one, all with the same vocabulary size).
    pub fn new(members: Vec<S>) -> Result<Self> {
        let Some(first) = members.first() else {
            return Err(SeqError::Config("an ensemble needs at least one member".into()));
        };
        let v = first.vocab_size();
        if let Some(m) = members.iter().find(|m| m.vocab_size() != v) {
            return Err(SeqError::Config(format!(
                "ensemble members disagree on the vocabulary size: {v} and {}",
                m.vocab_size()
            )));
        }
        Ok(Self { members })
    }
}

impl<S: StepDecoder> StepDecoder for Ensemble<S> {
    /// One state per member, in member order.
    type State = Vec<S::State>;

    fn vocab_size(&self) -> usize {
        self.members[0].vocab_size()
    }

    fn step(&self, tokens: &[usize], state: Self::State) -> Result<(Vec<f32>, Self::State)> {
        if state.len() != self.members.len() {
            return Err(SeqError::Input(format!(
                "an ensemble of {} members got {} states",
                self.members.len(),
                state.len()
            )));
        }
        let mut outs = Vec::with_capacity(self.members.len());
        let mut next = Vec::with_capacity(self.members.len());
        for (m, s) in self.members.iter().zip(state) {
            let (lp, s) = m.step(tokens, s)?;
            outs.push(lp);
            next.push(s);
        }
        if outs.len() == 1 {
            return Ok((outs.remove(0), next));
        }
        let ln_n = (outs.len() as f32).ln();
        let mixed = (0..outs[0].len())
            .map(|i| {
                let top = outs.iter().map(|o| o[i]).fold(f32::NEG_INFINITY, f32::max);
                if top == f32::NEG_INFINITY {
                    return top;
                }
                top + outs.iter().map(|o| (o[i] - top).exp()).sum::<f32>().ln() - ln_n
            })
            .collect();
        Ok((mixed, next))
    }

    fn select(&self, state: &Self::State, rows: &[usize]) -> Self::State {
        self.members.iter().zip(state).map(|(m, s)| m.select(s, rows)).collect()
    }
}

/// The index of the first largest value.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Greedy decoding of `batch` sequences from `state`: each step takes the most likely token,
/// until `eos` (not included) or `max_len` tokens. Finished rows leave the batch.
pub fn greedy<S: StepDecoder>(
    model: &S,
    state: S::State,
    batch: usize,
    bos: usize,
    eos: usize,
    max_len: usize,
) -> Result<Vec<Vec<usize>>> {
    let v = model.vocab_size();
    let mut out = vec![Vec::new(); batch];
    let mut items: Vec<usize> = (0..batch).collect();
    let mut tokens = vec![bos; batch];
    let mut state = state;
    for _ in 0..max_len {
        let (log_probs, next) = model.step(&tokens, state)?;
        let mut keep = Vec::with_capacity(items.len());
        tokens.clear();
        for (row, &item) in items.iter().enumerate() {
            let best = argmax(&log_probs[row * v..(row + 1) * v]);
            if best != eos {
                out[item].push(best);
                keep.push(row);
                tokens.push(best);
            }
        }
        if keep.is_empty() {
            break;
        }
        state = if keep.len() == items.len() { next } else { model.select(&next, &keep) };
        items = keep.iter().map(|&r| items[r]).collect();
    }
    Ok(out)
}

/// Beam-search settings.
///
/// ```
/// use kindling_seq::decode::BeamConfig;
/// let c = BeamConfig::new().with_width(5).with_length_penalty(0.6);
/// assert_eq!(c.score(-3.0, 4), -3.0 / 4f64.powf(0.6));
/// assert_eq!(BeamConfig::new().score(-3.0, 4), -3.0); // no normalisation by default
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct BeamConfig {
    /// Hypotheses kept per sequence.
    #[config(default = 5)]
    pub width: usize,
    /// Length normalisation exponent `α`: hypotheses rank by `log p / len^α`.
    #[config(default = 0.0)]
    pub length_penalty: f64,
    /// Longest output, in tokens (`<eos>` excluded).
    #[config(default = 50)]
    pub max_len: usize,
}

impl BeamConfig {
    /// The ranking score of a hypothesis of `len` tokens with log-probability `log_prob`.
    pub fn score(&self, log_prob: f64, len: usize) -> f64 {
        if self.length_penalty == 0.0 { log_prob } else { log_prob / (len.max(1) as f64).powf(self.length_penalty) }
    }
}

/// A decoded hypothesis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Hypothesis {
    /// Tokens, without `<bos>` and `<eos>`.
    pub tokens: Vec<usize>,
    /// Sum of the log-probabilities of the tokens (and of `<eos>` when it ended).
    pub log_prob: f64,
    /// Ranking score ([`BeamConfig::score`]).
    pub score: f64,
}

struct Alive {
    item: usize,
    tokens: Vec<usize>,
    log_prob: f64,
}

/// Beam search over `batch` sequences from `state` (see the [module documentation](self)):
/// up to `width` hypotheses per sequence, best first.
pub fn beam_search<S: StepDecoder>(
    model: &S,
    state: S::State,
    batch: usize,
    config: &BeamConfig,
    bos: usize,
    eos: usize,
) -> Result<Vec<Vec<Hypothesis>>> {
    let (k, v) = (config.width.max(1), model.vocab_size());
    let mut finished: Vec<Vec<Hypothesis>> = vec![Vec::new(); batch];
    let mut rows: Vec<Alive> = (0..batch).map(|item| Alive { item, tokens: Vec::new(), log_prob: 0.0 }).collect();
    let mut state = state;
    for step in 0..config.max_len {
        let tokens: Vec<usize> = rows.iter().map(|r| r.tokens.last().copied().unwrap_or(bos)).collect();
        let (log_probs, next) = model.step(&tokens, state)?;
        let (mut new_rows, mut parents) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < rows.len() {
            let item = rows[start].item;
            let end = start + rows[start..].iter().take_while(|r| r.item == item).count();
            let mut candidates: Vec<(f64, usize, usize)> = (start..end)
                .flat_map(|r| {
                    let base = rows[r].log_prob;
                    let lp = &log_probs[r * v..(r + 1) * v];
                    lp.iter().enumerate().map(move |(t, &p)| (base + f64::from(p), r, t))
                })
                .collect();
            let order = |a: &(f64, usize, usize), b: &(f64, usize, usize)| {
                b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
            };
            let top = (2 * k).min(candidates.len());
            if top < candidates.len() {
                candidates.select_nth_unstable_by(top - 1, order);
                candidates.truncate(top);
            }
            candidates.sort_by(order);
            let first_new = new_rows.len();
            for (rank, &(log_prob, r, t)) in candidates.iter().enumerate() {
                if new_rows.len() - first_new == k {
                    break;
                }
                if t == eos {
                    if rank < k {
                        let len = rows[r].tokens.len() + 1;
                        let tokens = rows[r].tokens.clone();
                        finished[item].push(Hypothesis { tokens, log_prob, score: config.score(log_prob, len) });
                    }
                } else {
                    let mut tokens = rows[r].tokens.clone();
                    tokens.push(t);
                    new_rows.push(Alive { item, tokens, log_prob });
                    parents.push(r);
                }
            }
            if finished[item].len() >= k {
                new_rows.truncate(first_new);
                parents.truncate(first_new);
            }
            start = end;
        }
        if step + 1 == config.max_len {
            for r in new_rows.drain(..) {
                let score = config.score(r.log_prob, r.tokens.len());
                finished[r.item].push(Hypothesis { tokens: r.tokens, log_prob: r.log_prob, score });
            }
        }
        if new_rows.is_empty() {
            break;
        }
        state = model.select(&next, &parents);
        rows = new_rows;
    }
    for hyps in &mut finished {
        hyps.sort_by(|a, b| b.score.total_cmp(&a.score));
        hyps.truncate(k);
        if hyps.is_empty() {
            hyps.push(Hypothesis { tokens: Vec::new(), log_prob: 0.0, score: 0.0 });
        }
    }
    Ok(finished)
}

/// Levenshtein distance between two token sequences.
///
/// ```
/// use kindling_seq::decode::edit_distance;
/// assert_eq!(edit_distance(&[1, 2, 3], &[1, 3]), 1);
/// assert_eq!(edit_distance(&[1, 2, 3], &[3, 2, 1]), 2);
/// assert_eq!(edit_distance::<u8>(&[], &[4, 5]), 2);
/// ```
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Error rates of predicted sequences against one or more references each (all the
/// pronunciations of a word, all the translations of a sentence).
///
/// A prediction is an error (word error rate, WER) unless it equals one of its references; its
/// token errors are the edit distance to the closest reference, and the token error rate (PER
/// for phonemes) divides their sum by the summed lengths of those closest references.
///
/// ```
/// use kindling_seq::decode::ErrorRates;
/// let refs = vec![vec![vec![1, 2, 3], vec![1, 4, 3]], vec![vec![5, 6]]];
/// let r = ErrorRates::score(&[vec![1, 4, 3], vec![5]], &refs);
/// assert_eq!((r.sequences, r.sequence_errors, r.token_errors, r.reference_tokens), (2, 1, 1, 5));
/// assert_eq!(r.wer(), 0.5);
/// assert!((r.per() - 0.2).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorRates {
    /// Sequences scored.
    pub sequences: usize,
    /// Sequences equal to none of their references.
    pub sequence_errors: usize,
    /// Summed edit distances to the closest references.
    pub token_errors: usize,
    /// Summed lengths of the closest references.
    pub reference_tokens: usize,
}

impl ErrorRates {
    /// Scores `predicted[i]` against `references[i]` (pairs beyond the shorter list are ignored;
    /// a sequence without references counts as an error against an empty reference).
    pub fn score<T: PartialEq>(predicted: &[Vec<T>], references: &[Vec<Vec<T>>]) -> Self {
        let mut r = Self::default();
        for (p, refs) in predicted.iter().zip(references) {
            let closest = refs
                .iter()
                .map(|g| (edit_distance(p, g), g.len()))
                .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                .unwrap_or((p.len().max(1), 0));
            r.sequences += 1;
            r.sequence_errors += usize::from(closest.0 > 0);
            r.token_errors += closest.0;
            r.reference_tokens += closest.1;
        }
        r
    }

    /// Fraction of sequences with an error (word error rate for G2P).
    pub fn wer(&self) -> f64 {
        self.sequence_errors as f64 / self.sequences.max(1) as f64
    }

    /// Token error rate (phoneme error rate for G2P).
    pub fn per(&self) -> f64 {
        self.token_errors as f64 / self.reference_tokens.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed table model: next-token log-probabilities depend on the step only.
    struct Table {
        steps: Vec<Vec<f32>>,
    }

    impl StepDecoder for Table {
        type State = Vec<usize>; // the step of each row

        fn vocab_size(&self) -> usize {
            self.steps[0].len()
        }

        fn step(&self, tokens: &[usize], state: Vec<usize>) -> Result<(Vec<f32>, Vec<usize>)> {
            let lp = state.iter().flat_map(|&s| self.steps[s.min(self.steps.len() - 1)].clone()).collect();
            Ok((lp, state.iter().map(|s| s + 1).take(tokens.len()).collect()))
        }

        fn select(&self, state: &Vec<usize>, rows: &[usize]) -> Vec<usize> {
            rows.iter().map(|&r| state[r]).collect()
        }
    }

    fn ln(p: &[f32]) -> Vec<f32> {
        p.iter().map(|x| x.ln()).collect()
    }

    #[test]
    fn beam_ranks_finished_hypotheses() {
        // Tokens: 0 <bos>, 1 <eos>, 2 a, 3 b. Greedy takes `a` (0.6) then is stuck with a flat
        // distribution; `b` (0.4) then <eos> (0.99) is the better sequence.
        let model = Table { steps: vec![ln(&[1e-6, 1e-6, 0.6, 0.4]), ln(&[1e-6, 0.3, 0.35, 0.35])] };
        let g = greedy(&model, vec![0], 1, 0, 1, 3).unwrap();
        assert_eq!(g[0], vec![2, 2, 2]);
        let b = beam_search(&model, vec![0], 1, &BeamConfig::new().with_width(1).with_max_len(3), 0, 1).unwrap();
        assert_eq!(b[0][0].tokens, g[0]);
        let b = beam_search(&model, vec![0], 1, &BeamConfig::new().with_width(3).with_max_len(3), 0, 1).unwrap();
        assert_eq!(b[0].len(), 3);
        assert!(b[0][0].score >= b[0][1].score && b[0][1].score >= b[0][2].score);
        assert_eq!(b[0][0].tokens, vec![2]); // a <eos>: 0.6 * 0.3 = 0.18 beats a a ...
    }

    #[test]
    fn length_penalty_prefers_longer() {
        let steps = vec![ln(&[1e-6, 0.5, 0.5]), ln(&[1e-6, 0.9, 0.1])];
        let model = Table { steps };
        let plain = beam_search(&model, vec![0], 1, &BeamConfig::new().with_width(2).with_max_len(2), 0, 1).unwrap();
        assert_eq!(plain[0][0].tokens, Vec::<usize>::new()); // <eos> right away: 0.5
        let normalised = BeamConfig::new().with_width(2).with_max_len(2).with_length_penalty(1.0);
        let long = beam_search(&model, vec![0], 1, &normalised, 0, 1).unwrap();
        assert_eq!(long[0][0].tokens, vec![2]); // a <eos>: 0.45 over 2 tokens
    }

    #[test]
    fn ensemble_mixes_probabilities() {
        // Alone, the first table ends right away (0.5 vs 0.45 for `a <eos>`); the second is sure of
        // `a`. Their mean (0.3 for <eos>, 0.7 for `a` then 0.9 <eos>) decodes `a`.
        let first = || Table { steps: vec![ln(&[1e-6, 0.5, 0.5]), ln(&[1e-6, 0.9, 0.1])] };
        let second = Table { steps: vec![ln(&[1e-6, 0.1, 0.9]), ln(&[1e-6, 0.9, 0.1])] };
        let config = BeamConfig::new().with_width(2).with_max_len(2);
        let alone = beam_search(&first(), vec![0], 1, &config, 0, 1).unwrap();
        let one = beam_search(&Ensemble::new(vec![first()]).unwrap(), vec![vec![0]], 1, &config, 0, 1).unwrap();
        assert_eq!(one, alone);
        assert_eq!(alone[0][0].tokens, Vec::<usize>::new());
        let both = Ensemble::new(vec![first(), second]).unwrap();
        let mixed = beam_search(&both, vec![vec![0], vec![0]], 1, &config, 0, 1).unwrap();
        assert_eq!(mixed[0][0].tokens, vec![2]);
        assert!((mixed[0][0].log_prob - (0.7f64 * 0.9).ln()).abs() < 1e-5);
        assert_eq!(greedy(&both, vec![vec![0], vec![0]], 1, 0, 1, 2).unwrap()[0], vec![2]);
        assert!(Ensemble::<Table>::new(vec![]).is_err());
        assert!(both.step(&[0], vec![vec![0]]).is_err());
    }

    #[test]
    fn error_rates_pick_the_closest_reference() {
        let r = ErrorRates::score(&[vec!['a', 'b']], &[vec![vec!['x', 'y', 'z'], vec!['a', 'c']]]);
        assert_eq!((r.token_errors, r.reference_tokens, r.sequence_errors), (1, 2, 1));
        assert_eq!(ErrorRates::score::<u8>(&[], &[]).wer(), 0.0);
    }
}
