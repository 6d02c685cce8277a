//! One-to-many: image captioning. An image encoder turns an image into a sequence of feature
//! vectors (the columns of a CNN's last feature map) and the [`AttentionDecoder`] writes the
//! caption while attending over them.
//!
//! The encoder is any [`ImageEncoder`] (kindling-seq does not depend on kindling-vision; the
//! `kindling seq caption` command plugs in a ResNet), so [`Captioner`] holds the decoding logic
//! only: padded images of different widths, the masked memory of their valid columns, the
//! initial state from the mean of those columns, teacher-forced loss, greedy and beam decoding.
//!
//! Two details make the memory faithful:
//! - Padding never reaches the encoder: [`Captioner::encode`] runs it once per distinct width
//!   of a batch, on the images cut to that width, and pads the *columns*. A convolution's bias
//!   or a BatchNorm shift turns zero padding into non-zero activations that leak into the last
//!   valid columns, and in training BatchNorm's batch statistics would count the padding: a
//!   strip's memory would depend on its batch neighbours.
//! - The columns carry their position ([`column_positions`], added to the columns): a CNN's
//!   receptive field is narrower than a few digits, so without it the columns of the inner
//!   digits of a strip look alike wherever they are, content-only attention cannot find "the
//!   next digit", and longer captions come out short, repeated or shuffled.
//!
//! The data: [`compose_strips`] draws strips of 1–4 MNIST digits side by side, captioned with
//! their words ("seven two nine"); a seeded hash of the digit sequence ([`is_heldout`]) reserves
//! a share of the multi-digit sequences for testing, so the test compositions never occur in
//! training.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use kindling_data::text::{BOS, EOS, SPECIAL_TOKENS, Vocab, in_holdout};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::attn_decoder::{AttentionDecoder, sequence_loss};
use crate::batch::pad_tokens;
use crate::decode::{AttentionSearch, BeamConfig, Hypothesis, beam_search, greedy};
use crate::seq2seq::Encoded;
use crate::train::StepOutput;
use crate::{Result, SeqError};

/// The caption words of the digits 0–9.
pub const DIGIT_WORDS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// Side of an MNIST digit, in pixels.
pub const DIGIT_SIZE: usize = 28;

/// The caption vocabulary: the special tokens, then [`DIGIT_WORDS`] (digit `d` is id `d + 4`).
///
/// ```
/// let v = kindling_seq::caption::caption_vocab();
/// assert_eq!(v.len(), 14);
/// assert_eq!(v.id("seven"), 11);
/// ```
pub fn caption_vocab() -> Vocab {
    let tokens = SPECIAL_TOKENS.iter().chain(DIGIT_WORDS.iter()).map(|s| s.to_string()).collect();
    Vocab::from_tokens(tokens).unwrap_or_else(|_| unreachable!("the caption vocabulary is well-formed"))
}

/// The caption of a digit sequence: `[7, 2]` → `"seven two"`.
pub fn caption_text(digits: &[usize]) -> String {
    digits.iter().map(|&d| DIGIT_WORDS.get(d).copied().unwrap_or("?")).collect::<Vec<_>>().join(" ")
}

/// Whether the digit sequence is reserved for testing: sequences of two or more digits whose
/// seeded hash falls in `fraction` (single digits never are: training needs all ten).
///
/// ```
/// use kindling_seq::caption::is_heldout;
/// assert!(!is_heldout(&[7], 1.0, 0));
/// assert!(is_heldout(&[7, 2], 1.0, 0));
/// let held = (0..1000).filter(|i| is_heldout(&[i / 100, i / 10 % 10, i % 10], 0.1, 42)).count();
/// assert!((60..140).contains(&held));
/// ```
pub fn is_heldout(digits: &[usize], fraction: f64, seed: u64) -> bool {
    let key: String = digits.iter().map(|d| char::from(b'0' + (*d % 10) as u8)).collect();
    digits.len() >= 2 && in_holdout(&key, fraction, seed)
}

/// How [`compose_strips`] draws strips.
///
/// ```
/// use kindling_seq::caption::DigitStripConfig;
/// let c = DigitStripConfig::new().with_max_digits(3);
/// assert!(c.validate().is_ok());
/// assert!(DigitStripConfig::new().with_min_digits(0).validate().is_err());
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct DigitStripConfig {
    /// Fewest digits in a strip.
    #[config(default = 1)]
    pub min_digits: usize,
    /// Most digits in a strip.
    #[config(default = 4)]
    pub max_digits: usize,
    /// Share of the multi-digit sequences reserved for testing ([`is_heldout`]).
    #[config(default = 0.1)]
    pub heldout_fraction: f64,
    /// Seed of the held-out sequences.
    #[config(default = 42)]
    pub split_seed: u64,
}

impl DigitStripConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.min_digits == 0 || self.min_digits > self.max_digits {
            return Err(SeqError::Config(format!(
                "strips need 1 <= min_digits <= max_digits, got {} and {}",
                self.min_digits, self.max_digits
            )));
        }
        if !(0.0..1.0).contains(&self.heldout_fraction) {
            return Err(SeqError::Config(format!("heldout_fraction must be in [0, 1), got {}", self.heldout_fraction)));
        }
        Ok(())
    }
}

/// Digits side by side: a `28 × width` gray image in `[0, 1]` and its digit sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigitStrip {
    /// The digits, left to right.
    pub digits: Vec<usize>,
    /// Row-major pixels, `28 * width` values in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// Width in pixels (`28` per digit).
    pub width: usize,
}

impl DigitStrip {
    /// The caption as token ids of [`caption_vocab`].
    pub fn caption_ids(&self) -> Vec<usize> {
        self.digits.iter().map(|&d| d + SPECIAL_TOKENS.len()).collect()
    }
}

/// Draws `count` strips from 28×28 digit images (`images[i]`, row-major bytes) with labels
/// `labels[i]`: the number of digits is uniform in `min_digits..=max_digits`, each digit a
/// uniformly drawn image. With `heldout` false only sequences outside the reserved ones are
/// drawn (training), with `heldout` true only reserved sequences and single digits (testing).
/// Deterministic for a `rng` state.
///
/// ```
/// use kindling_seq::caption::{DigitStripConfig, compose_strips, is_heldout};
/// let images: Vec<Vec<u8>> = (0..10).map(|d| vec![d as u8 * 20; 28 * 28]).collect();
/// let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
/// let labels: Vec<usize> = (0..10).collect();
/// let config = DigitStripConfig::new();
/// let mut rng = kindling_core::seeded_rng(1);
/// let strips = compose_strips(&refs, &labels, 50, &config, true, &mut rng)?;
/// assert!(strips.iter().all(|s| s.digits.len() == 1 || is_heldout(&s.digits, 0.1, 42)));
/// assert_eq!(strips[0].pixels.len(), 28 * strips[0].width);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn compose_strips(
    images: &[&[u8]],
    labels: &[usize],
    count: usize,
    config: &DigitStripConfig,
    heldout: bool,
    rng: &mut impl Rng,
) -> Result<Vec<DigitStrip>> {
    config.validate()?;
    let area = DIGIT_SIZE * DIGIT_SIZE;
    if images.is_empty() || images.len() != labels.len() {
        return Err(SeqError::Input(format!("{} digit images for {} labels", images.len(), labels.len())));
    }
    if let Some(i) = images.iter().position(|im| im.len() != area) {
        return Err(SeqError::Input(format!("digit image {i} has {} pixels, expected 28x28", images[i].len())));
    }
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(SeqError::Input(format!("digit label {} of image {i} is not 0-9", labels[i])));
    }
    let mut strips = Vec::with_capacity(count);
    let mut tries = 0usize;
    while strips.len() < count {
        tries += 1;
        if tries > 1000 * (count + 10) {
            return Err(SeqError::Config("could not draw enough strips: is the held-out fraction 0?".into()));
        }
        let n = rng.random_range(config.min_digits..=config.max_digits);
        let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..images.len())).collect();
        let digits: Vec<usize> = picks.iter().map(|&i| labels[i]).collect();
        let reserved = is_heldout(&digits, config.heldout_fraction, config.split_seed);
        if (heldout && n >= 2 && !reserved) || (!heldout && reserved) {
            continue;
        }
        let width = DIGIT_SIZE * n;
        let mut pixels = vec![0.0f32; DIGIT_SIZE * width];
        for (k, &i) in picks.iter().enumerate() {
            for r in 0..DIGIT_SIZE {
                for c in 0..DIGIT_SIZE {
                    pixels[r * width + k * DIGIT_SIZE + c] = f32::from(images[i][r * DIGIT_SIZE + c]) / 255.0;
                }
            }
        }
        strips.push(DigitStrip { digits, pixels, width });
    }
    Ok(strips)
}

/// An image encoder for [`Captioner`]: feature columns of a batch of images.
pub trait ImageEncoder: Module {
    /// Feature columns `[B, L, D]` of images `[B, 1, H, W]` (one channel; [`Captioner`] only
    /// passes images of one width, never padding).
    fn columns(&self, images: Tensor<4>) -> Tensor<3>;

    /// Width `D` of a column.
    fn column_size(&self) -> usize;
}

/// Sinusoidal position codes `[len, dim]` of memory columns (Vaswani et al. 2017):
/// `sin(p / 10000^(2i/dim))` at `2i`, `cos(…)` at `2i + 1`, for any number of columns.
///
/// ```
/// let d = kindling_core::default_device();
/// let p = kindling_seq::caption::column_positions(3, 4, &d);
/// let v = kindling_core::tensor::to_vec_f32(p)?;
/// assert_eq!(&v[..4], &[0.0, 1.0, 0.0, 1.0]); // position 0
/// assert!((v[4] - 1f32.sin()).abs() < 1e-6 && (v[5] - 1f32.cos()).abs() < 1e-6);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn column_positions(len: usize, dim: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0.0f32; len * dim];
    for p in 0..len {
        for j in 0..dim {
            let angle = p as f64 / 10000f64.powf((j - j % 2) as f64 / dim as f64);
            v[p * dim + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    Tensor::from_data(TensorData::new(v, [len, dim]), device)
}

/// A padded batch of strips.
#[derive(Debug, Clone)]
pub struct CaptionBatch {
    /// Images `[B, 1, 28, W]`, zero-padded on the right to the widest.
    pub images: Tensor<4>,
    /// Width of each image in pixels.
    pub widths: Vec<usize>,
    /// Decoder inputs `[B, T]` (`<bos>` and the caption), padded.
    pub inputs: Tensor<2, Int>,
    /// Targets `[B, T]` (the caption and `<eos>`), padded.
    pub targets: Tensor<2, Int>,
    /// Target lengths.
    pub target_lengths: Vec<usize>,
}

/// Pads strips into a batch.
///
/// ```
/// use kindling_seq::caption::{DigitStrip, collate_strips};
/// let d = kindling_core::default_device();
/// let a = DigitStrip { digits: vec![7], pixels: vec![0.5; 28 * 28], width: 28 };
/// let b = DigitStrip { digits: vec![1, 2], pixels: vec![0.5; 28 * 56], width: 56 };
/// let batch = collate_strips(&[&a, &b], &d)?;
/// assert_eq!(batch.images.dims(), [2, 1, 28, 56]);
/// assert_eq!(batch.target_lengths, vec![2, 3]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn collate_strips(items: &[&DigitStrip], device: &Device) -> Result<CaptionBatch> {
    let w = items.iter().map(|s| s.width).max().unwrap_or(0);
    if w == 0 || items.iter().any(|s| s.pixels.len() != DIGIT_SIZE * s.width || s.digits.is_empty()) {
        return Err(SeqError::Input("strips need 28 x width pixels and at least one digit".into()));
    }
    let mut pixels = vec![0.0f32; items.len() * DIGIT_SIZE * w];
    for (b, s) in items.iter().enumerate() {
        for r in 0..DIGIT_SIZE {
            let dst = (b * DIGIT_SIZE + r) * w;
            pixels[dst..dst + s.width].copy_from_slice(&s.pixels[r * s.width..(r + 1) * s.width]);
        }
    }
    let images = Tensor::from_data(TensorData::new(pixels, [items.len(), 1, DIGIT_SIZE, w]), device);
    let inputs: Vec<Vec<usize>> = items.iter().map(|s| std::iter::once(BOS).chain(s.caption_ids()).collect()).collect();
    let targets: Vec<Vec<usize>> = items.iter().map(|s| s.caption_ids().into_iter().chain([EOS]).collect()).collect();
    let (inputs, target_lengths) = pad_tokens(&inputs.iter().map(Vec::as_slice).collect::<Vec<_>>(), device)?;
    let (targets, _) = pad_tokens(&targets.iter().map(Vec::as_slice).collect::<Vec<_>>(), device)?;
    Ok(CaptionBatch { images, widths: items.iter().map(|s| s.width).collect(), inputs, targets, target_lengths })
}

/// An image encoder and an attentive decoder (see the [module documentation](self)); build the
/// decoder with `memory_size` and `summary_size` equal to the encoder's
/// [`column_size`](ImageEncoder::column_size).
#[derive(Module, Debug)]
pub struct Captioner<E: ImageEncoder> {
    /// The image encoder.
    pub encoder: E,
    /// The caption decoder.
    pub decoder: AttentionDecoder,
    /// Whether [`column_positions`] are added to the columns (on by default; off only for
    /// models trained without them).
    pub positions: bool,
}

impl<E: ImageEncoder> Captioner<E> {
    /// A captioner from its parts, with column positions.
    pub fn new(encoder: E, decoder: AttentionDecoder) -> Self {
        Self { encoder, decoder, positions: true }
    }

    /// The same captioner with column positions on or off.
    pub fn with_positions(mut self, positions: bool) -> Self {
        self.positions = positions;
        self
    }

    /// Feature columns `[B, L, D]` of images `[B, 1, H, W]` padded on the right, and the number of
    /// columns of each image (`widths[i]` pixels in `1..=W`): the encoder runs once per distinct
    /// width on the images cut to it, and the columns are zero-padded to the longest, so an
    /// image's columns never depend on the padding or on its batch neighbours.
    pub fn columns(&self, images: Tensor<4>, widths: &[usize]) -> Result<(Tensor<3>, Vec<usize>)> {
        let [b, _, _, w] = images.dims();
        if b == 0 || widths.len() != b || widths.iter().any(|&x| x == 0 || x > w) {
            return Err(SeqError::Input(format!(
                "{} image widths {widths:?} for {b} images {w} pixels wide",
                widths.len()
            )));
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, &x) in widths.iter().enumerate() {
            groups.entry(x).or_default().push(i);
        }
        if groups.len() == 1 && widths[0] == w {
            let columns = self.encoder.columns(images);
            let l = columns.dims()[1];
            return Ok((columns, vec![l; b]));
        }
        let device = images.device();
        let (mut parts, mut order, mut lengths) = (Vec::new(), Vec::with_capacity(b), vec![0; b]);
        for (&x, rows) in &groups {
            let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &device);
            let part = self.encoder.columns(images.clone().select(0, idx).narrow(3, 0, x));
            rows.iter().for_each(|&r| lengths[r] = part.dims()[1]);
            order.extend(rows.iter().copied());
            parts.push(part);
        }
        let l = lengths.iter().copied().max().unwrap_or(0);
        let parts: Vec<Tensor<3>> = parts
            .into_iter()
            .map(|p| {
                let [g, n, d] = p.dims();
                if n == l { p } else { Tensor::cat(vec![p, Tensor::zeros([g, l - n, d], &device)], 1) }
            })
            .collect();
        // Row `order[k]` of the batch is row `k` of the concatenation.
        let mut back = vec![0i64; b];
        order.iter().enumerate().for_each(|(k, &r)| back[r] = k as i64);
        let back = Tensor::<1, Int>::from_data(TensorData::new(back, [b]), &device);
        Ok((Tensor::cat(parts, 0).select(0, back), lengths))
    }

    /// The memory (valid columns of each image, with their positions) and the decoder's initial
    /// state (from the mean of the valid memory vectors).
    pub fn encode(&self, images: Tensor<4>, widths: &[usize]) -> Result<Encoded> {
        let device = images.device();
        let (mut columns, lengths) = self.columns(images, widths)?;
        let [b, l, d] = columns.dims();
        if self.positions {
            columns = columns + column_positions(l, d, &device).unsqueeze_dim::<3>(0);
        }
        let memory = self.decoder.attention.prepare(columns, Some(&lengths))?;
        let mask = crate::batch::length_mask(&lengths, l, &device);
        let counts: Vec<f32> = lengths.iter().map(|&n| n as f32).collect();
        let counts = Tensor::<2>::from_data(TensorData::new(counts, [b, 1]), &device);
        let summary = (memory.values.clone() * mask.unsqueeze_dim::<3>(2)).sum_dim(1).reshape([b, d]) / counts;
        let state = self.decoder.initial_state(Some(summary), b, &device)?;
        Ok(Encoded { memory, state })
    }

    /// Masked cross-entropy over caption tokens and correct-token count: the trainer's `loss`.
    pub fn step(&self, batch: CaptionBatch) -> Result<StepOutput> {
        let enc = self.encode(batch.images, &batch.widths)?;
        let logits = self.decoder.forward(&enc.memory, enc.state, batch.inputs, &batch.target_lengths, None)?;
        Ok(sequence_loss(logits, batch.targets, &batch.target_lengths))
    }

    /// Captions (token ids) of images of the given widths: greedy with `beam.width` 1, else the
    /// best beam-search hypothesis.
    pub fn caption(&self, images: Tensor<4>, widths: &[usize], beam: &BeamConfig) -> Result<Vec<Vec<usize>>> {
        let device = images.device();
        let enc = self.encode(images, widths)?;
        let search = AttentionSearch::new(&self.decoder, &device);
        let start = search.start(enc.state, enc.memory);
        if beam.width <= 1 {
            return greedy(&search, start, widths.len(), BOS, EOS, beam.max_len);
        }
        let best = beam_search(&search, start, widths.len(), beam, BOS, EOS)?;
        Ok(best.into_iter().map(|h| h.into_iter().next().map(|h: Hypothesis| h.tokens).unwrap_or_default()).collect())
    }
}
