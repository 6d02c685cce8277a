//! Synced many-to-many: a BiLSTM sequence tagger (one label per token, e.g. part of speech).
//!
//! Each token is read as a lower-cased word embedding plus, for words the vocabulary has rarely
//! or never seen, a suffix embedding (the last letters) and a word-shape embedding
//! (capitalisation, digits, hyphens, punctuation); a bidirectional recurrent stack reads the
//! sentence and a linear head scores every token. The loss ignores padding.

use std::collections::HashMap;

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Int, Tensor};
use kindling_data::text::{UNK, Vocab, VocabConfig};
use serde::{Deserialize, Serialize};

use crate::batch::{length_mask, pad_tokens};
use crate::train::StepOutput;
use crate::{CellKind, Recurrent, RecurrentConfig, Result, SeqError};

/// Number of word-shape classes of [`word_shape`] (id 0 is padding).
pub const NUM_SHAPES: usize = 10;

/// The shape class of a word, `1..NUM_SHAPES`: lower-case, Capitalised, ALL-CAPS, number,
/// letters with digits, punctuation, hyphenated lower-case, hyphenated capitalised, other.
///
/// ```
/// use kindling_seq::tagger::word_shape;
/// assert_eq!(word_shape("jury"), 1);
/// assert_eq!(word_shape("Fulton"), 2);
/// assert_eq!(word_shape("NATO"), 3);
/// assert_eq!(word_shape("1,000"), 4);
/// assert_eq!(word_shape("1960s"), 5);
/// assert_eq!(word_shape("''"), 6);
/// assert_eq!(word_shape("well-known"), 7);
/// assert_eq!(word_shape("Anglo-Saxon"), 8);
/// ```
pub fn word_shape(word: &str) -> usize {
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let digits = word.chars().filter(|c| c.is_numeric()).count();
    let upper = word.chars().filter(|c| c.is_uppercase()).count();
    let first_upper = word.chars().next().is_some_and(char::is_uppercase);
    let hyphen = word.contains('-') && letters > 0;
    match () {
        _ if letters == 0 && digits == 0 => 6,
        _ if letters == 0 => 4,
        _ if digits > 0 => 5,
        _ if hyphen && first_upper => 8,
        _ if hyphen => 7,
        _ if upper == 0 => 1,
        _ if upper == letters && letters > 1 => 3,
        _ if first_upper => 2,
        _ => 9,
    }
}

/// The vocabularies of a [`Tagger`]: lower-cased words, suffixes and tag names (JSON-serialisable).
///
/// ```
/// use kindling_seq::tagger::TaggerVocab;
/// let sentences = vec![vec![("The", "DET"), ("dog", "NOUN")], vec![("the", "DET"), ("cat", "NOUN")]];
/// let vocab = TaggerVocab::build(&sentences, &["NOUN".to_string(), "DET".to_string()], 2, 3, 1)?;
/// let x = vocab.encode(&["The", "unicorn"]);
/// assert_eq!(x.words[0], vocab.words.id("the"));
/// assert_eq!(x.words[1], kindling_data::text::UNK);
/// assert_eq!(vocab.tag_id("DET"), Some(1));
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaggerVocab {
    /// Lower-cased words.
    pub words: Vocab,
    /// Lower-cased suffixes of `suffix_len` characters.
    pub suffixes: Vocab,
    /// Suffix length in characters.
    pub suffix_len: usize,
    /// Tag names, by id.
    pub tags: Vec<String>,
}

/// A sentence as token features (and tags, when known); built by [`TaggerVocab::encode`].
///
/// ```
/// use kindling_seq::tagger::{TaggedExample, word_shape};
/// let ex = TaggedExample { words: vec![4, 1], suffixes: vec![5, 6], shapes: vec![2, 1], tags: vec![] };
/// assert_eq!(ex.shapes[0], word_shape("Fulton"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaggedExample {
    /// Word ids.
    pub words: Vec<usize>,
    /// Suffix ids.
    pub suffixes: Vec<usize>,
    /// Shape ids ([`word_shape`]).
    pub shapes: Vec<usize>,
    /// Tag ids (empty when unknown).
    pub tags: Vec<usize>,
}

impl TaggerVocab {
    /// Counts words (lower-cased) and suffixes in `sentences` of `(word, tag)` pairs; words seen
    /// fewer than `min_freq` times and suffixes seen fewer than `suffix_min_freq` times map to
    /// `<unk>`. `tags` lists every tag name, in id order.
    pub fn build<W: AsRef<str>, T: AsRef<str>>(
        sentences: &[Vec<(W, T)>],
        tags: &[String],
        min_freq: usize,
        suffix_len: usize,
        suffix_min_freq: usize,
    ) -> Result<Self> {
        let words = VocabConfig::new()
            .with_min_freq(min_freq)
            .build(sentences.iter().map(|s| s.iter().map(|(w, _)| w.as_ref().to_lowercase())));
        let suffixes = VocabConfig::new()
            .with_min_freq(suffix_min_freq)
            .build(sentences.iter().map(|s| s.iter().map(|(w, _)| suffix(w.as_ref(), suffix_len))));
        let vocab = Self { words, suffixes, suffix_len, tags: tags.to_vec() };
        for (w, t) in sentences.iter().flatten() {
            if vocab.tag_id(t.as_ref()).is_none() {
                return Err(SeqError::Input(format!(
                    "tag `{}` of word `{}` is not in the tag list",
                    t.as_ref(),
                    w.as_ref()
                )));
            }
        }
        Ok(vocab)
    }

    /// The id of a tag name.
    pub fn tag_id(&self, tag: &str) -> Option<usize> {
        self.tags.iter().position(|t| t == tag)
    }

    /// Token features of a sentence (no tags).
    pub fn encode<W: AsRef<str>>(&self, words: &[W]) -> TaggedExample {
        TaggedExample {
            words: words.iter().map(|w| self.words.id(&w.as_ref().to_lowercase())).collect(),
            suffixes: words.iter().map(|w| self.suffixes.id(&suffix(w.as_ref(), self.suffix_len))).collect(),
            shapes: words.iter().map(|w| word_shape(w.as_ref())).collect(),
            tags: Vec::new(),
        }
    }

    /// Token features and tag ids of a tagged sentence (an unknown tag is an error).
    pub fn encode_tagged<W: AsRef<str>, T: AsRef<str>>(&self, sentence: &[(W, T)]) -> Result<TaggedExample> {
        let words: Vec<&str> = sentence.iter().map(|(w, _)| w.as_ref()).collect();
        let mut ex = self.encode(&words);
        ex.tags = sentence
            .iter()
            .map(|(_, t)| {
                self.tag_id(t.as_ref()).ok_or_else(|| SeqError::Input(format!("unknown tag `{}`", t.as_ref())))
            })
            .collect::<Result<_>>()?;
        Ok(ex)
    }
}

/// The last `n` characters of `word`, lower-cased.
fn suffix(word: &str, n: usize) -> String {
    let lower = word.to_lowercase();
    let count = lower.chars().count();
    lower.chars().skip(count.saturating_sub(n)).collect()
}

/// Configuration of a [`Tagger`].
///
/// ```
/// use kindling_seq::tagger::TaggerConfig;
/// let device = kindling_core::default_device();
/// let tagger = TaggerConfig::new(5000, 12).with_suffix_vocab_size(800).init(&device)?;
/// assert_eq!(tagger.head.weight.dims(), [2 * 128, 12]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct TaggerConfig {
    /// Word vocabulary size.
    pub vocab_size: usize,
    /// Number of tags.
    pub num_tags: usize,
    /// Word embedding width.
    #[config(default = 100)]
    pub embedding_dim: usize,
    /// Suffix vocabulary size; 0 for no suffix feature.
    #[config(default = 0)]
    pub suffix_vocab_size: usize,
    /// Suffix embedding width.
    #[config(default = 32)]
    pub suffix_dim: usize,
    /// Word-shape embedding width; 0 for no shape feature.
    #[config(default = 8)]
    pub shape_dim: usize,
    /// Recurrence.
    #[config(default = "CellKind::Lstm")]
    pub cell: CellKind,
    /// Hidden size of each direction.
    #[config(default = 128)]
    pub hidden_size: usize,
    /// Stacked layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Read in both directions.
    #[config(default = true)]
    pub bidirectional: bool,
    /// Dropout on the token features and on the recurrent outputs (and between layers).
    #[config(default = 0.3)]
    pub dropout: f64,
    /// Probability of replacing a word by `<unk>` in training (suffix and shape stay).
    #[config(default = 0.05)]
    pub word_dropout: f64,
}

impl TaggerConfig {
    /// Builds the tagger.
    pub fn init(&self, device: &Device) -> Result<Tagger> {
        for (name, v) in [("dropout", self.dropout), ("word_dropout", self.word_dropout)] {
            if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                return Err(SeqError::Config(format!("{name} must be in [0, 1), got {v}")));
            }
        }
        if self.vocab_size <= UNK || self.embedding_dim == 0 || self.num_tags == 0 {
            return Err(SeqError::Config(format!(
                "a tagger needs words beyond <pad>/<unk>, a positive embedding size and tags (got {} words x {}, {} tags)",
                self.vocab_size, self.embedding_dim, self.num_tags
            )));
        }
        let suffixes = (self.suffix_vocab_size > UNK && self.suffix_dim > 0)
            .then(|| EmbeddingConfig::new(self.suffix_vocab_size, self.suffix_dim).init(device));
        let shapes = (self.shape_dim > 0).then(|| EmbeddingConfig::new(NUM_SHAPES, self.shape_dim).init(device));
        let input = self.embedding_dim
            + suffixes.as_ref().map_or(0, |_| self.suffix_dim)
            + shapes.as_ref().map_or(0, |_| self.shape_dim);
        let rnn = RecurrentConfig::new(self.cell, input, self.hidden_size)
            .with_num_layers(self.num_layers)
            .with_bidirectional(self.bidirectional)
            .with_dropout(self.dropout)
            .init(device)?;
        Ok(Tagger {
            words: EmbeddingConfig::new(self.vocab_size, self.embedding_dim).init(device),
            suffixes,
            shapes,
            head: LinearConfig::new(rnn.output_size(), self.num_tags).init(device),
            rnn,
            dropout: DropoutConfig::new(self.dropout).init(),
            word_dropout: self.word_dropout,
        })
    }
}

/// A padded batch for a [`Tagger`].
///
/// ```
/// use kindling_seq::tagger::{TaggedExample, collate_tagged};
/// let d = kindling_core::default_device();
/// let a = TaggedExample { words: vec![4, 5], suffixes: vec![4, 5], shapes: vec![1, 1], tags: vec![0, 1] };
/// let b = TaggedExample { words: vec![6], suffixes: vec![6], shapes: vec![2], tags: vec![2] };
/// let batch = collate_tagged(&[&a, &b], &d)?;
/// assert_eq!((batch.words.dims(), batch.lengths.clone()), ([2, 2], vec![2, 1]));
/// assert!(batch.targets.is_some());
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TaggerBatch {
    /// Word ids `[B, T]`.
    pub words: Tensor<2, Int>,
    /// Suffix ids `[B, T]`.
    pub suffixes: Tensor<2, Int>,
    /// Shape ids `[B, T]`.
    pub shapes: Tensor<2, Int>,
    /// True lengths.
    pub lengths: Vec<usize>,
    /// Tag ids `[B, T]` (0 on padding), when known.
    pub targets: Option<Tensor<2, Int>>,
}

/// Pads sentences into a batch (targets when every sentence has tags).
pub fn collate_tagged(items: &[&TaggedExample], device: &Device) -> Result<TaggerBatch> {
    let pad = |f: &dyn Fn(&TaggedExample) -> &[usize]| {
        let seqs: Vec<&[usize]> = items.iter().map(|i| f(i)).collect();
        pad_tokens(&seqs, device)
    };
    let (words, lengths) = pad(&|i| &i.words)?;
    let (suffixes, _) = pad(&|i| &i.suffixes)?;
    let (shapes, _) = pad(&|i| &i.shapes)?;
    if let Some(i) = items.iter().position(|i| i.suffixes.len() != i.words.len() || i.shapes.len() != i.words.len()) {
        return Err(SeqError::Input(format!("sentence {i}: words, suffixes and shapes differ in length")));
    }
    let targets = if items.iter().all(|i| i.tags.len() == i.words.len()) { Some(pad(&|i| &i.tags)?.0) } else { None };
    Ok(TaggerBatch { words, suffixes, shapes, lengths, targets })
}

/// A recurrent sequence tagger (see the [module documentation](self)).
///
/// ```
/// use kindling_seq::tagger::{TaggerConfig, TaggerVocab, collate_tagged};
/// let device = kindling_core::default_device();
/// let sentences = vec![vec![("The", "DET"), ("dog", "NOUN"), ("ran", "VERB")]];
/// let tags = ["NOUN", "VERB", "DET"].map(String::from);
/// let vocab = TaggerVocab::build(&sentences, &tags, 1, 3, 1)?;
/// let tagger = TaggerConfig::new(vocab.words.len(), 3)
///     .with_suffix_vocab_size(vocab.suffixes.len())
///     .with_hidden_size(16)
///     .init(&device)?;
/// let ex = vocab.encode_tagged(&sentences[0])?;
/// let batch = collate_tagged(&[&ex], &device)?;
/// assert_eq!(tagger.forward(&batch)?.dims(), [1, 3, 3]);
/// assert_eq!(tagger.predict(&batch)?[0].len(), 3);
/// let step = tagger.step(batch)?; // masked cross-entropy over tokens, for the trainer
/// assert_eq!(step.count, 3);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct Tagger {
    /// Word embeddings.
    pub words: Embedding,
    /// Suffix embeddings.
    pub suffixes: Option<Embedding>,
    /// Shape embeddings.
    pub shapes: Option<Embedding>,
    /// The recurrent stack.
    pub rnn: Recurrent,
    /// Dropout on token features and recurrent outputs.
    pub dropout: Dropout,
    /// Per-token linear head.
    pub head: Linear,
    /// Word dropout probability (training only).
    pub word_dropout: f64,
}

impl Tagger {
    /// Number of tags.
    pub fn num_tags(&self) -> usize {
        self.head.weight.dims()[1]
    }

    /// Tag scores `[B, T, num_tags]` (padded positions hold the head's bias and must be ignored).
    pub fn forward(&self, batch: &TaggerBatch) -> Result<Tensor<3>> {
        let [b, t] = batch.words.dims();
        let mut words = batch.words.clone();
        let device = words.device();
        if self.word_dropout > 0.0 && device.is_autodiff() && self.dropout.training.is_enabled() {
            let drop = Tensor::<2>::random([b, t], Distribution::Bernoulli(self.word_dropout), &device);
            words = words.mask_fill(drop.bool(), UNK as i64);
        }
        let mut features = vec![self.words.forward(words)];
        features.extend(self.suffixes.as_ref().map(|e| e.forward(batch.suffixes.clone())));
        features.extend(self.shapes.as_ref().map(|e| e.forward(batch.shapes.clone())));
        let x = self.dropout.forward(Tensor::cat(features, 2));
        let (out, _) = self.rnn.forward(x, Some(&batch.lengths), None)?;
        Ok(self.head.forward(self.dropout.forward(out)))
    }

    /// Masked cross-entropy (mean over real tokens) and correct-token count: the trainer's
    /// `loss` closure. The batch needs targets.
    pub fn step(&self, batch: TaggerBatch) -> Result<StepOutput> {
        let targets = batch.targets.clone().ok_or_else(|| SeqError::Input("a training batch needs tags".into()))?;
        let [b, t] = targets.dims();
        let count: usize = batch.lengths.iter().sum();
        let logits = self.forward(&batch)?;
        let mask = length_mask(&batch.lengths, t, &logits.device());
        let picked = log_softmax(logits.clone(), 2).gather(2, targets.clone().unsqueeze_dim::<3>(2)).reshape([b, t]);
        let loss = (picked * mask.clone()).sum().neg() / count.max(1) as f32;
        let hits = logits.argmax(2).reshape([b, t]).equal(targets).float() * mask;
        Ok(StepOutput::new(loss, count).with_correct(hits.sum()))
    }

    /// The best tag id of every real token, per sentence.
    pub fn predict(&self, batch: &TaggerBatch) -> Result<Vec<Vec<usize>>> {
        let logits = self.forward(batch)?;
        let [_, t, c] = logits.dims();
        let values = kindling_core::tensor::to_vec_f32(logits)?;
        let best = kindling_core::tensor::argmax_chunks(&values, c);
        Ok(batch.lengths.iter().enumerate().map(|(i, &l)| best[i * t..i * t + l].to_vec()).collect())
    }
}

/// Token accuracy, per-tag accuracy and confusion of predicted against gold tag sequences.
///
/// ```
/// use kindling_seq::tagger::TagScores;
/// let tags = ["A", "B"].map(String::from);
/// let s = TagScores::new(&[vec![0, 1, 1]], &[vec![0, 1, 0]], &tags);
/// assert!((s.accuracy - 2.0 / 3.0).abs() < 1e-12);
/// assert_eq!(s.per_tag[0].accuracy, 0.5); // gold A: 2 tokens, 1 right
/// assert_eq!(s.confusion, vec![vec![1, 1], vec![0, 1]]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagScores {
    /// Fraction of tokens tagged right.
    pub accuracy: f64,
    /// Tokens scored.
    pub tokens: usize,
    /// Per gold tag: accuracy (recall) and support.
    pub per_tag: Vec<TagScore>,
    /// `confusion[gold][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// The score of one tag (an entry of [`TagScores::per_tag`]).
///
/// ```
/// use kindling_seq::tagger::TagScores;
/// let s = TagScores::new(&[vec![0, 0]], &[vec![0, 1]], &["A".to_string(), "B".to_string()]);
/// assert_eq!((s.per_tag[1].tag.as_str(), s.per_tag[1].accuracy, s.per_tag[1].support), ("B", 0.0, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagScore {
    /// Tag name.
    pub tag: String,
    /// Fraction of this tag's tokens tagged right.
    pub accuracy: f64,
    /// Tokens with this gold tag.
    pub support: usize,
}

impl TagScores {
    /// Scores `predicted` against `gold` (sentence by sentence, token by token; extra tokens of
    /// either side are ignored).
    pub fn new(predicted: &[Vec<usize>], gold: &[Vec<usize>], tags: &[String]) -> Self {
        let n = tags.len();
        let mut confusion = vec![vec![0usize; n]; n];
        for (p, g) in predicted.iter().zip(gold) {
            for (&p, &g) in p.iter().zip(g).filter(|(p, g)| **p < n && **g < n) {
                confusion[g][p] += 1;
            }
        }
        let tokens: usize = confusion.iter().flatten().sum();
        let right: usize = (0..n).map(|i| confusion[i][i]).sum();
        let per_tag = (0..n)
            .map(|i| {
                let support: usize = confusion[i].iter().sum();
                let accuracy = if support > 0 { confusion[i][i] as f64 / support as f64 } else { 0.0 };
                TagScore { tag: tags[i].clone(), accuracy, support }
            })
            .collect();
        Self { accuracy: right as f64 / tokens.max(1) as f64, tokens, per_tag, confusion }
    }
}

/// The most-frequent-tag baseline: every known word gets the tag it had most often in `train`,
/// every unknown word the most frequent tag overall. Returns its predictions for `test`.
///
/// ```
/// use kindling_seq::tagger::most_frequent_tag;
/// let train = vec![vec![("a", 0), ("b", 1), ("a", 0), ("a", 1)]];
/// let test = vec![vec!["a", "b", "zz"]];
/// assert_eq!(most_frequent_tag(&train, &test), vec![vec![0, 1, 0]]);
/// ```
pub fn most_frequent_tag<W: AsRef<str>>(train: &[Vec<(W, usize)>], test: &[Vec<W>]) -> Vec<Vec<usize>> {
    let mut per_word: HashMap<&str, HashMap<usize, usize>> = HashMap::new();
    let mut overall: HashMap<usize, usize> = HashMap::new();
    for (w, t) in train.iter().flatten() {
        *per_word.entry(w.as_ref()).or_default().entry(*t).or_default() += 1;
        *overall.entry(*t).or_default() += 1;
    }
    let best = |counts: &HashMap<usize, usize>| {
        counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map_or(0, |(&t, _)| t)
    };
    let fallback = best(&overall);
    test.iter().map(|s| s.iter().map(|w| per_word.get(w.as_ref()).map_or(fallback, best)).collect()).collect()
}
