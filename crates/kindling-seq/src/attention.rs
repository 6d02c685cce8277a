//! Attention over a memory of vectors (encoder outputs, image feature columns) with padded
//! memory positions masked out.
//!
//! Three scores of a query `q` against a memory vector `m` (Luong et al. 2015; Bahdanau et al.
//! 2015):
//!
//! | [`AttentionKind`] | score | parameters |
//! |---|---|---|
//! | `Dot` | `qᵀ m` | none (`q` and `m` have the same width) |
//! | `General` | `qᵀ W m` | `W` `[D, Q]` |
//! | `Additive` | `vᵀ tanh(W_q q + W_m m)` | `W_q`, `W_m`, `v` |
//!
//! The weights are a softmax of the scores over the valid memory positions of each sequence:
//! they sum to 1 there and are exactly 0 on padding.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::{Result, SeqError};

/// Added to the scores of padded memory positions: their weights underflow to exactly 0.
const MASKED: f32 = -1.0e9;

/// The score function of an [`Attention`].
///
/// ```
/// use kindling_seq::attention::AttentionKind;
/// assert_eq!("luong".parse::<AttentionKind>()?, AttentionKind::General);
/// assert_eq!("bahdanau".parse::<AttentionKind>()?, AttentionKind::Additive);
/// assert_eq!(AttentionKind::Dot.to_string(), "dot");
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// Luong's dot product `qᵀ m` (query and memory of equal width).
    Dot,
    /// Luong's general (bilinear) score `qᵀ W m`.
    General,
    /// Bahdanau's additive score `vᵀ tanh(W_q q + W_m m)`.
    Additive,
}

impl AttentionKind {
    /// Lower-case name: `dot`, `general` or `additive`.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKind::Dot => "dot",
            AttentionKind::General => "general",
            AttentionKind::Additive => "additive",
        }
    }
}

impl std::fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for AttentionKind {
    type Err = SeqError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dot" => Ok(Self::Dot),
            "general" | "luong" | "bilinear" => Ok(Self::General),
            "additive" | "bahdanau" | "concat" => Ok(Self::Additive),
            _ => Err(SeqError::Config(format!(
                "unknown attention `{s}`: expected dot, general (luong) or additive (bahdanau)"
            ))),
        }
    }
}

/// Configuration of an [`Attention`].
///
/// ```
/// use kindling_seq::attention::{AttentionConfig, AttentionKind};
/// let device = kindling_core::default_device();
/// let attention = AttentionConfig::new(AttentionKind::Additive, 8, 6).with_attention_size(5).init(&device)?;
/// assert_eq!(attention.memory_size(), 6);
/// assert!(AttentionConfig::new(AttentionKind::Dot, 8, 6).init(&device).is_err()); // widths differ
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct AttentionConfig {
    /// The score function.
    pub kind: AttentionKind,
    /// Width `Q` of a query (the decoder's hidden state).
    pub query_size: usize,
    /// Width `D` of a memory vector.
    pub memory_size: usize,
    /// Hidden width of the additive score; 0 takes `query_size`.
    #[config(default = 0)]
    pub attention_size: usize,
}

impl AttentionConfig {
    /// Builds the attention.
    pub fn init(&self, device: &burn::tensor::Device) -> Result<Attention> {
        if self.query_size == 0 || self.memory_size == 0 {
            return Err(SeqError::Config("attention query and memory sizes must be positive".into()));
        }
        if self.kind == AttentionKind::Dot && self.query_size != self.memory_size {
            return Err(SeqError::Config(format!(
                "dot attention needs queries and memory of one width, got {} and {}",
                self.query_size, self.memory_size
            )));
        }
        let a = if self.attention_size == 0 { self.query_size } else { self.attention_size };
        let (key, query, score) = match self.kind {
            AttentionKind::Dot => (None, None, None),
            AttentionKind::General => {
                (Some(LinearConfig::new(self.memory_size, self.query_size).with_bias(false).init(device)), None, None)
            }
            AttentionKind::Additive => (
                Some(LinearConfig::new(self.memory_size, a).with_bias(false).init(device)),
                Some(LinearConfig::new(self.query_size, a).init(device)),
                Some(LinearConfig::new(a, 1).with_bias(false).init(device)),
            ),
        };
        Ok(Attention { key, query, score, kind: self.kind, memory_size: self.memory_size })
    }
}

/// A memory prepared for attention: its values, their projected keys (computed once per
/// sequence, not per query) and the padding mask.
#[derive(Debug, Clone)]
pub struct AttentionMemory {
    /// Memory vectors `[B, S, D]`.
    pub values: Tensor<3>,
    /// Keys `[B, S, K]` (the values themselves for dot attention).
    pub keys: Tensor<3>,
    /// `[B, 1, S]`: 0 on valid positions, a large negative number on padding; `None` when no
    /// position is padded.
    pub mask: Option<Tensor<3>>,
    /// Valid positions of each sequence.
    pub lengths: Vec<usize>,
}

impl AttentionMemory {
    /// Number of sequences `B`.
    pub fn batch_size(&self) -> usize {
        self.lengths.len()
    }

    /// The memory of the sequences `rows` (in that order, repeats allowed): beam search keeps one
    /// copy per hypothesis.
    pub fn select(&self, rows: &[usize]) -> Self {
        let device = self.values.device();
        let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &device);
        Self {
            values: self.values.clone().select(0, idx.clone()),
            keys: self.keys.clone().select(0, idx.clone()),
            mask: self.mask.clone().map(|m| m.select(0, idx)),
            lengths: rows.iter().map(|&r| self.lengths[r]).collect(),
        }
    }
}

/// Attention over a padded memory (see the [module documentation](self)).
///
/// ```
/// use burn::tensor::{Distribution, Tensor};
/// use kindling_seq::attention::{AttentionConfig, AttentionKind};
///
/// let device = kindling_core::default_device();
/// let attention = AttentionConfig::new(AttentionKind::General, 4, 6).init(&device)?;
/// let memory = Tensor::<3>::random([2, 5, 6], Distribution::Normal(0.0, 1.0), &device);
/// // The second sequence has 3 valid positions out of 5.
/// let memory = attention.prepare(memory, Some(&[5, 3]))?;
/// let queries = Tensor::<3>::random([2, 7, 4], Distribution::Normal(0.0, 1.0), &device);
/// let (context, weights) = attention.forward(queries, &memory);
/// assert_eq!(context.dims(), [2, 7, 6]);
/// assert_eq!(weights.dims(), [2, 7, 5]);
/// let w = kindling_core::tensor::to_vec_f32(weights)?;
/// assert_eq!(&w[35 + 3..35 + 5], &[0.0, 0.0]); // padding gets no weight
/// assert!((w[35..35 + 5].iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Module, Debug)]
pub struct Attention {
    /// Memory-to-key projection (general: `W`; additive: `W_m`).
    pub key: Option<Linear>,
    /// Query projection of the additive score (`W_q`, with the score's bias).
    pub query: Option<Linear>,
    /// `v` of the additive score.
    pub score: Option<Linear>,
    /// The score function.
    #[module(skip)]
    pub kind: AttentionKind,
    /// Width `D` of a memory vector.
    pub memory_size: usize,
}

impl Attention {
    /// Width `D` of a memory vector (and of the context).
    pub fn memory_size(&self) -> usize {
        self.memory_size
    }

    /// Projects the keys of `memory` `[B, S, D]` and builds the mask of its padding from the
    /// valid `lengths` (each in `1..=S`; `None`: all `S` valid).
    pub fn prepare(&self, memory: Tensor<3>, lengths: Option<&[usize]>) -> Result<AttentionMemory> {
        let [b, s, d] = memory.dims();
        if d != self.memory_size || b == 0 || s == 0 {
            return Err(SeqError::Input(format!(
                "attention memory must be [batch, positions, {}], got {:?}",
                self.memory_size,
                memory.dims()
            )));
        }
        let lengths: Vec<usize> = lengths.map_or_else(|| vec![s; b], <[usize]>::to_vec);
        if lengths.len() != b {
            return Err(SeqError::Input(format!("{} memory lengths for a batch of {b}", lengths.len())));
        }
        if let Some(i) = lengths.iter().position(|&l| l == 0 || l > s) {
            return Err(SeqError::Input(format!("memory length {} of sequence {i} is not in 1..={s}", lengths[i])));
        }
        let mask = lengths.iter().any(|&l| l < s).then(|| {
            let v: Vec<f32> =
                lengths.iter().flat_map(|&l| (0..s).map(move |j| if j < l { 0.0 } else { MASKED })).collect();
            Tensor::<3>::from_data(TensorData::new(v, [b, 1, s]), &memory.device())
        });
        let keys = match &self.key {
            Some(key) => key.forward(memory.clone()),
            None => memory.clone(),
        };
        Ok(AttentionMemory { values: memory, keys, mask, lengths })
    }

    /// Scores `[B, T, S]` of the queries `[B, T, Q]` against the memory, padding masked.
    pub fn scores(&self, queries: Tensor<3>, memory: &AttentionMemory) -> Tensor<3> {
        let scores = match (&self.query, &self.score) {
            (Some(wq), Some(v)) => {
                let q = wq.forward(queries).unsqueeze_dim::<4>(2); // [B, T, 1, A]
                let k = memory.keys.clone().unsqueeze_dim::<4>(1); // [B, 1, S, A]
                let e = v.forward((q + k).tanh()); // [B, T, S, 1]
                let [b, t, s, _] = e.dims();
                e.reshape([b, t, s])
            }
            _ => queries.matmul(memory.keys.clone().swap_dims(1, 2)),
        };
        match &memory.mask {
            Some(mask) => scores + mask.clone(),
            None => scores,
        }
    }

    /// Context vectors `[B, T, D]` and attention weights `[B, T, S]` of the queries `[B, T, Q]`.
    pub fn forward(&self, queries: Tensor<3>, memory: &AttentionMemory) -> (Tensor<3>, Tensor<3>) {
        let weights = softmax(self.scores(queries, memory), 2);
        (weights.clone().matmul(memory.values.clone()), weights)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    fn check_kind(kind: AttentionKind) {
        let device = kindling_core::default_device();
        let attention = AttentionConfig::new(kind, 6, 6).init(&device).unwrap();
        let lengths = [4usize, 1, 6];
        let memory = Tensor::<3>::random([3, 6, 6], Distribution::Normal(0.0, 2.0), &device);
        let prepared = attention.prepare(memory.clone(), Some(&lengths)).unwrap();
        let queries = Tensor::<3>::random([3, 5, 6], Distribution::Normal(0.0, 2.0), &device);
        let (context, weights) = attention.forward(queries.clone(), &prepared);
        let w = kindling_core::tensor::to_vec_f32(weights).unwrap();
        for (b, &len) in lengths.iter().enumerate() {
            for t in 0..5 {
                let row = &w[(b * 5 + t) * 6..(b * 5 + t + 1) * 6];
                let valid: f32 = row[..len].iter().sum();
                assert!((valid - 1.0).abs() < 1e-5, "{kind}: sum {valid}");
                assert!(row[len..].iter().all(|&x| x == 0.0), "{kind}: padding weight {row:?}");
                assert!(row[..len].iter().all(|&x| x >= 0.0));
            }
        }
        // Padding does not change the context: the first sequence alone, cut to its length.
        let alone = attention.prepare(memory.narrow(0, 0, 1).narrow(1, 0, 4), None).unwrap();
        let (c1, _) = attention.forward(queries.narrow(0, 0, 1), &alone);
        let c0 = kindling_core::tensor::to_vec_f32(context.narrow(0, 0, 1)).unwrap();
        let c1 = kindling_core::tensor::to_vec_f32(c1).unwrap();
        assert!(kindling_core::tensor::max_abs_diff(&c0, &c1) < 1e-5, "{kind}");
    }

    #[test]
    fn weights_sum_to_one_over_valid_positions() {
        let _rng = crate::test_rng_lock();
        for kind in [AttentionKind::Dot, AttentionKind::General, AttentionKind::Additive] {
            check_kind(kind);
        }
    }

    #[test]
    fn bad_memory_is_a_typed_error() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let attention = AttentionConfig::new(AttentionKind::General, 4, 6).init(&device).unwrap();
        let memory = Tensor::<3>::zeros([2, 3, 6], &device);
        assert!(matches!(attention.prepare(memory.clone(), Some(&[3, 0])), Err(SeqError::Input(_))));
        assert!(matches!(attention.prepare(memory.clone(), Some(&[3, 4])), Err(SeqError::Input(_))));
        assert!(matches!(attention.prepare(memory, Some(&[3])), Err(SeqError::Input(_))));
        assert!(attention.prepare(Tensor::<3>::zeros([2, 3, 5], &device), None).is_err());
    }

    #[test]
    fn select_repeats_rows() {
        let _rng = crate::test_rng_lock();
        let device = kindling_core::default_device();
        let attention = AttentionConfig::new(AttentionKind::Dot, 2, 2).init(&device).unwrap();
        let memory = Tensor::<3>::random([2, 3, 2], Distribution::Normal(0.0, 1.0), &device);
        let prepared = attention.prepare(memory, Some(&[3, 2])).unwrap();
        let picked = prepared.select(&[1, 1, 0]);
        assert_eq!(picked.lengths, vec![2, 2, 3]);
        assert_eq!(picked.values.dims(), [3, 3, 2]);
        assert!(picked.mask.is_some());
    }
}
