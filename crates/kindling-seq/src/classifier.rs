//! Many-to-one: a sequence classifier (tokens or feature vectors → recurrent stack → pooling →
//! linear head).

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use kindling_data::series::TsItem;
use kindling_data::text::UNK;
use serde::{Deserialize, Serialize};

use crate::batch::{SeqInput, labels, length_mask, pad_features, pad_tokens};
use crate::train::StepOutput;
use crate::{CellKind, Recurrent, RecurrentConfig, Result, SeqError};

/// What a [`SequenceClassifier`] reads.
///
/// ```
/// use kindling_seq::classifier::InputKind;
/// let json = serde_json::to_string(&InputKind::Features { size: 12 })?;
/// assert_eq!(json, r#"{"features":{"size":12}}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Token ids (`0` = padding) looked up in an embedding table.
    Tokens {
        /// Number of token ids.
        vocab_size: usize,
        /// Width of the embeddings.
        embedding_dim: usize,
    },
    /// Numeric vectors, standardised per feature with statistics fitted on training data.
    Features {
        /// Features per time step.
        size: usize,
    },
}

/// How the recurrent outputs become one vector per sequence.
///
/// ```
/// use kindling_seq::classifier::Pooling;
/// assert_eq!("max".parse::<Pooling>()?, Pooling::Max);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The last layer's final state (both directions when bidirectional).
    Last,
    /// Mean of the outputs over the valid steps.
    Mean,
    /// Element-wise maximum of the outputs over the valid steps.
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = SeqError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "last" => Ok(Self::Last),
            "mean" => Ok(Self::Mean),
            "max" => Ok(Self::Max),
            _ => Err(SeqError::Config(format!("unknown pooling `{s}`: expected last, mean or max"))),
        }
    }
}

/// Configuration of a [`SequenceClassifier`].
///
/// ```
/// use kindling_seq::CellKind;
/// use kindling_seq::classifier::{InputKind, Pooling, SequenceClassifierConfig};
/// let device = kindling_core::default_device();
/// let config = SequenceClassifierConfig::new(InputKind::Tokens { vocab_size: 1000, embedding_dim: 64 }, 2)
///     .with_cell(CellKind::Gru)
///     .with_bidirectional(true)
///     .with_pooling(Pooling::Max);
/// let model = config.init(&device)?;
/// assert_eq!(model.head.weight.dims(), [2 * 128, 2]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct SequenceClassifierConfig {
    /// Token or numeric input.
    pub input: InputKind,
    /// Number of classes.
    pub num_classes: usize,
    /// Recurrence.
    #[config(default = "CellKind::Lstm")]
    pub cell: CellKind,
    /// Hidden size of each direction.
    #[config(default = 128)]
    pub hidden_size: usize,
    /// Stacked layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Run both directions.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Pooling over time.
    #[config(default = "Pooling::Last")]
    pub pooling: Pooling,
    /// Dropout on the embeddings / standardised features.
    #[config(default = 0.0)]
    pub input_dropout: f64,
    /// Dropout between recurrent layers.
    #[config(default = 0.0)]
    pub rnn_dropout: f64,
    /// Dropout on the pooled vector, before the head.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Token inputs: probability of replacing a token by `<unk>` in training, so that the
    /// unknown-word embedding learns from the words around rare ones.
    #[config(default = 0.0)]
    pub word_dropout: f64,
}

impl SequenceClassifierConfig {
    /// Builds the model (seed burn's device RNG first for reproducible weights).
    pub fn init(&self, device: &Device) -> Result<SequenceClassifier> {
        let p = |name: &str, v: f64| {
            if v.is_finite() && (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(SeqError::Config(format!("{name} must be in [0, 1), got {v}")))
            }
        };
        p("input_dropout", self.input_dropout)?;
        p("dropout", self.dropout)?;
        p("word_dropout", self.word_dropout)?;
        if self.num_classes < 2 {
            return Err(SeqError::Config(format!("a classifier needs 2 or more classes, got {}", self.num_classes)));
        }
        let (embedding, standardize, input_size) = match self.input {
            InputKind::Tokens { vocab_size, embedding_dim } => {
                if vocab_size <= UNK || embedding_dim == 0 {
                    return Err(SeqError::Config(format!(
                        "token input needs a vocabulary with <pad> and <unk> and a positive embedding size, got {vocab_size} x {embedding_dim}"
                    )));
                }
                (Some(EmbeddingConfig::new(vocab_size, embedding_dim).init(device)), None, embedding_dim)
            }
            InputKind::Features { size } => (None, Some(Standardize::identity(size, device)), size),
        };
        let rnn = RecurrentConfig::new(self.cell, input_size, self.hidden_size)
            .with_num_layers(self.num_layers)
            .with_bidirectional(self.bidirectional)
            .with_dropout(self.rnn_dropout)
            .init(device)?;
        let head = LinearConfig::new(rnn.output_size(), self.num_classes).init(device);
        Ok(SequenceClassifier {
            embedding,
            standardize,
            rnn,
            input_dropout: DropoutConfig::new(self.input_dropout).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            head,
            pooling: self.pooling,
            word_dropout: self.word_dropout,
        })
    }
}

/// Per-feature standardisation `(x - mean) / std`, with statistics fitted on training data
/// ([`Standardize::fit`]); saved with the model, never trained.
///
/// ```
/// use kindling_seq::classifier::Standardize;
/// let d = kindling_core::default_device();
/// // Two series of 2-dim steps, time-major.
/// let s = Standardize::fit([&[1.0, 10.0, 3.0, 30.0][..], &[2.0, 20.0]], 2, &d)?;
/// let mean = kindling_core::tensor::to_vec_f32(s.mean.val())?;
/// assert_eq!(mean, vec![2.0, 20.0]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct Standardize {
    /// Per-feature mean.
    pub mean: Param<Tensor<1>>,
    /// Per-feature standard deviation (at least 1e-6).
    pub std: Param<Tensor<1>>,
}

impl Standardize {
    fn frozen(values: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
        let n = values.len();
        Param::from_tensor(Tensor::from_data(TensorData::new(values, [n]), device)).set_require_grad(false)
    }

    /// Mean 0, std 1: no change.
    pub fn identity(size: usize, device: &Device) -> Self {
        Self { mean: Self::frozen(vec![0.0; size], device), std: Self::frozen(vec![1.0; size], device) }
    }

    /// Mean and (population) standard deviation of each feature over every step of `series`
    /// (time-major, `dims` values per step). Non-finite values are skipped.
    pub fn fit<'s>(series: impl IntoIterator<Item = &'s [f32]>, dims: usize, device: &Device) -> Result<Self> {
        if dims == 0 {
            return Err(SeqError::Input("standardisation needs at least one feature".into()));
        }
        let (mut n, mut sum, mut sq) = (vec![0f64; dims], vec![0f64; dims], vec![0f64; dims]);
        for s in series {
            for (i, &v) in s.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                n[i % dims] += 1.0;
                sum[i % dims] += f64::from(v);
                sq[i % dims] += f64::from(v) * f64::from(v);
            }
        }
        if n.contains(&0.0) {
            return Err(SeqError::Input("no finite training values to fit the standardisation".into()));
        }
        let mean: Vec<f64> = sum.iter().zip(&n).map(|(s, n)| s / n).collect();
        let std: Vec<f32> = sq
            .iter()
            .zip(&n)
            .zip(&mean)
            .map(|((q, n), m)| ((q / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
            .collect();
        let mean = mean.into_iter().map(|m| m as f32).collect();
        Ok(Self { mean: Self::frozen(mean, device), std: Self::frozen(std, device) })
    }

    /// Standardises `[B, T, F]` features.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean = self.mean.val().unsqueeze::<3>();
        let std = self.std.val().unsqueeze::<3>();
        (x - mean) / std
    }
}

/// A sequence classifier: embedding (token ids) or standardised features → [`Recurrent`] →
/// pooling over the valid steps ([`Pooling`]) → dropout → linear head.
///
/// Padding never changes the logits: the recurrent stack skips padded steps and pooling masks
/// them. Build batches with [`collate_tokens`] or [`collate_series`].
///
/// ```
/// use kindling_seq::classifier::{InputKind, Pooling, SequenceClassifierConfig, TokenExample, collate_tokens};
/// let device = kindling_core::default_device();
/// let model = SequenceClassifierConfig::new(InputKind::Tokens { vocab_size: 50, embedding_dim: 8 }, 3)
///     .with_hidden_size(16)
///     .with_pooling(Pooling::Mean)
///     .init(&device)?;
/// let items = [TokenExample { ids: vec![4, 9, 7], label: 1 }, TokenExample { ids: vec![5], label: 2 }];
/// let batch = collate_tokens(&[&items[0], &items[1]], &device)?;
/// let logits = model.forward(batch.input.clone(), &batch.lengths)?;
/// assert_eq!(logits.dims(), [2, 3]);
/// let step = model.step(batch)?; // cross-entropy + correct count, for the trainer
/// assert_eq!(step.count, 2);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    /// Token embeddings (token input).
    pub embedding: Option<Embedding>,
    /// Feature standardisation (numeric input).
    pub standardize: Option<Standardize>,
    /// The recurrent stack.
    pub rnn: Recurrent,
    /// Dropout on the inputs of the recurrent stack.
    pub input_dropout: Dropout,
    /// Dropout before the head.
    pub dropout: Dropout,
    /// Linear head.
    pub head: Linear,
    /// Pooling over time.
    #[module(skip)]
    pub pooling: Pooling,
    /// Word dropout probability (training only).
    pub word_dropout: f64,
}

/// A token sequence with its class (see [`collate_tokens`]).
///
/// ```
/// use kindling_data::text::{VocabConfig, word_tokenize};
/// use kindling_seq::classifier::TokenExample;
/// let vocab = VocabConfig::new().build([word_tokenize("A fine film.")]);
/// let ex = TokenExample { ids: vocab.encode(&word_tokenize("a fine film")), label: 1 };
/// assert_eq!(ex.ids.len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExample {
    /// Token ids (no padding).
    pub ids: Vec<usize>,
    /// Class index.
    pub label: usize,
}

/// A padded batch for a [`SequenceClassifier`].
///
/// ```
/// use kindling_seq::classifier::{TokenExample, collate_tokens};
/// let d = kindling_core::default_device();
/// let (a, b) = (TokenExample { ids: vec![4, 5, 6], label: 0 }, TokenExample { ids: vec![], label: 1 });
/// let batch = collate_tokens(&[&a, &b], &d)?;
/// assert_eq!(batch.lengths, vec![3, 1]); // an empty text reads as one <unk>
/// assert_eq!(batch.input.dims(), [2, 3]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClassifierBatch {
    /// Padded input.
    pub input: SeqInput,
    /// True lengths.
    pub lengths: Vec<usize>,
    /// Class labels `[B]`.
    pub targets: Tensor<1, Int>,
}

/// Pads token examples into a batch (an empty sequence becomes one `<unk>`).
pub fn collate_tokens(items: &[&TokenExample], device: &Device) -> Result<ClassifierBatch> {
    let unk = [UNK];
    let seqs: Vec<&[usize]> = items.iter().map(|i| if i.ids.is_empty() { &unk[..] } else { &i.ids[..] }).collect();
    let (ids, lengths) = pad_tokens(&seqs, device)?;
    let y: Vec<usize> = items.iter().map(|i| i.label).collect();
    Ok(ClassifierBatch { input: SeqInput::Tokens(ids), lengths, targets: labels(&y, device) })
}

/// Pads time series (e.g. from [`kindling_data::series::TsDataset`]) into a batch.
pub fn collate_series(items: &[&TsItem], device: &Device) -> Result<ClassifierBatch> {
    let dims = items.first().map_or(1, |i| i.dims);
    if let Some(i) = items.iter().position(|i| i.dims != dims) {
        return Err(SeqError::Input(format!("series {i} has {} dimensions, the first {dims}", items[i].dims)));
    }
    let seqs: Vec<&[f32]> = items.iter().map(|i| &i.values[..]).collect();
    let (x, lengths) = pad_features(&seqs, dims, device)?;
    let y: Vec<usize> = items.iter().map(|i| i.label).collect();
    Ok(ClassifierBatch { input: SeqInput::Features(x), lengths, targets: labels(&y, device) })
}

impl SequenceClassifier {
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.head.weight.dims()[1]
    }

    /// Replaces the standardisation of a numeric-input model.
    pub fn with_standardize(mut self, standardize: Standardize) -> Result<Self> {
        if self.standardize.is_none() {
            return Err(SeqError::Config("a token-input classifier has no feature standardisation".into()));
        }
        self.standardize = Some(standardize);
        Ok(self)
    }

    fn training(&self, device: &Device) -> bool {
        device.is_autodiff() && self.input_dropout.training.is_enabled()
    }

    /// Logits `[B, C]` of a padded batch with the given true lengths.
    pub fn forward(&self, input: SeqInput, lengths: &[usize]) -> Result<Tensor<2>> {
        let [batch, steps] = input.dims();
        let x = match (input, &self.embedding, &self.standardize) {
            (SeqInput::Tokens(mut ids), Some(embedding), _) => {
                let device = ids.device();
                if self.word_dropout > 0.0 && self.training(&device) {
                    let drop = Tensor::<2>::random([batch, steps], Distribution::Bernoulli(self.word_dropout), &device);
                    ids = ids.mask_fill(drop.bool(), UNK as i64);
                }
                embedding.forward(ids)
            }
            (SeqInput::Features(x), None, Some(standardize)) => standardize.forward(x),
            (SeqInput::Tokens(_), None, _) => {
                return Err(SeqError::Input("token ids given to a numeric-input classifier".into()));
            }
            (SeqInput::Features(_), ..) => {
                return Err(SeqError::Input("feature vectors given to a token-input classifier".into()));
            }
        };
        let device = x.device();
        let (out, state) = self.rnn.forward(self.input_dropout.forward(x), Some(lengths), None)?;
        let pooled = match self.pooling {
            Pooling::Last => self.rnn.last_hidden(&state),
            Pooling::Mean => {
                // Outputs at padded steps are zero.
                let inv: Vec<f32> = lengths.iter().map(|&l| 1.0 / l.max(1) as f32).collect();
                let inv = Tensor::<2>::from_data(TensorData::new(inv, [batch, 1]), &device);
                out.sum_dim(1).reshape([batch, self.rnn.output_size()]) * inv
            }
            Pooling::Max => {
                let penalty = (length_mask(lengths, steps, &device) - 1.0) * 1e9;
                (out + penalty.unsqueeze_dim::<3>(2)).max_dim(1).reshape([batch, self.rnn.output_size()])
            }
        };
        Ok(self.head.forward(self.dropout.forward(pooled)))
    }

    /// Cross-entropy and correct count of a batch: the trainer's `loss` closure.
    pub fn step(&self, batch: ClassifierBatch) -> Result<StepOutput> {
        let n = batch.lengths.len();
        let logits = self.forward(batch.input, &batch.lengths)?;
        let correct = logits.clone().argmax(1).reshape([n]).equal(batch.targets.clone()).float().sum();
        let loss = CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, batch.targets);
        Ok(StepOutput::new(loss, n).with_correct(correct))
    }

    /// Class probabilities `[B][C]` of a batch (read back to the host).
    pub fn probabilities(&self, input: SeqInput, lengths: &[usize]) -> Result<Vec<Vec<f32>>> {
        let c = self.num_classes();
        let p = kindling_core::tensor::to_vec_f32(softmax(self.forward(input, lengths)?, 1))?;
        Ok(p.chunks(c).map(<[f32]>::to_vec).collect())
    }
}
