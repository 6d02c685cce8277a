//! `kindling seq caption train|eval|predict`: one-to-many captioning of MNIST digit strips
//! ("seven two nine") with a small-input ResNet encoder and an attentive LSTM decoder.
//!
//! Training strips are composed from the training images, test strips from the test images;
//! a seeded share of the multi-digit sequences ([`is_heldout`]) never occurs in training, so
//! the test measures composition, not memory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, Subcommand};
use kindling_core::{derive_seed, seeded_rng};
use kindling_data::{DataSource, LoadedDataset, Split};
use kindling_seq::attention::AttentionKind;
use kindling_seq::attn_decoder::AttentionDecoderConfig;
use kindling_seq::caption::{
    Captioner, DIGIT_SIZE, DigitStrip, DigitStripConfig, ImageEncoder, caption_text, caption_vocab, collate_strips,
    compose_strips, is_heldout,
};
use kindling_seq::decode::{BeamConfig, ErrorRates};
use kindling_seq::train::{Trainer, evaluate, load_module};
use kindling_vision::{BlockKind, ResNetConfig, ResidualBlock, Stem};
use serde::{Deserialize, Serialize};

use super::common::{TrainFlags, load_meta, print_json_lines, save_json, save_model_dir, write_curves};
use crate::CliResult;

/// Arguments of `kindling seq caption`.
#[derive(Args)]
pub struct CaptionArgs {
    #[command(subcommand)]
    command: CaptionCommand,
}

#[derive(Subcommand)]
enum CaptionCommand {
    /// Train a captioner on digit strips; writes a run folder (config.json, metrics.json with
    /// test exact-match and token accuracy, samples.json, curves.png, checkpoint/, model/).
    Train(Box<TrainArgs>),
    /// Caption the run's test strips again (or those of --data); prints JSON accuracies.
    Eval(EvalArgs),
    /// Caption strip images (PNG/JPEG files), or --random test strips; one JSON object each.
    Predict(PredictArgs),
}

/// Where the digits come from and how strips are drawn.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct StripFlags {
    /// `mnist` (the embedded MNIST subset: 5000 training, 1000 test digits), or `idx:DIR` /
    /// `mnist:DIR` (a folder of MNIST IDX files, e.g. the full 60k/10k MNIST).
    #[arg(long, default_value = "mnist")]
    pub data: String,
    /// Training strips (drawn from the training digits, held-out sequences excluded).
    #[arg(long, default_value_t = 20000)]
    pub train_strips: usize,
    /// Validation strips (training digits, held-out sequences): best epoch.
    #[arg(long, default_value_t = 500)]
    pub val_strips: usize,
    /// Test strips (test digits, held-out sequences and single digits).
    #[arg(long, default_value_t = 2000)]
    pub test_strips: usize,
    /// Fewest digits in a strip.
    #[arg(long, default_value_t = 1)]
    pub min_digits: usize,
    /// Most digits in a strip.
    #[arg(long, default_value_t = 4)]
    pub max_digits: usize,
    /// Share of the multi-digit sequences reserved for testing.
    #[arg(long, default_value_t = 0.1)]
    pub heldout_fraction: f64,
    /// Seed of the held-out sequences and of the strip draws.
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
}

impl StripFlags {
    fn config(&self) -> DigitStripConfig {
        DigitStripConfig::new()
            .with_min_digits(self.min_digits)
            .with_max_digits(self.max_digits)
            .with_heldout_fraction(self.heldout_fraction)
            .with_split_seed(self.split_seed)
    }

    /// The digit images (28×28 bytes) and labels of a split.
    fn digits(&self, split: Split) -> CliResult<(Vec<Vec<u8>>, Vec<usize>)> {
        let spec = self.data.strip_prefix("mnist:").map_or(self.data.clone(), |d| format!("idx:{d}"));
        let source: DataSource = spec.parse()?;
        let LoadedDataset::Memory(ds) = source.load(split)? else {
            return Err(format!("{}: captioning needs 28x28 digit images (mnist or idx:DIR)", self.data).into());
        };
        if ds.image_size() != (DIGIT_SIZE, DIGIT_SIZE) || ds.classes().len() != 10 {
            return Err(format!("{}: expected 28x28 digits of 10 classes, got {:?}", self.data, ds.image_size()).into());
        }
        let images = (0..ds.labels().len()).map(|i| ds.pixels(i).to_vec()).collect();
        Ok((images, ds.labels().to_vec()))
    }

    /// `count` strips of `split`'s digits, held-out sequences (`heldout`) or the others, drawn
    /// with a seed named by `purpose`: the same strips on every call.
    fn strips(&self, split: Split, count: usize, heldout: bool, purpose: &str) -> CliResult<Vec<DigitStrip>> {
        let (images, labels) = self.digits(split)?;
        let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
        let mut rng = seeded_rng(derive_seed(self.split_seed, &format!("strips/{purpose}")));
        Ok(compose_strips(&refs, &labels, count, &self.config(), heldout, &mut rng)?)
    }

    fn test_strips(&self, max: Option<usize>) -> CliResult<Vec<DigitStrip>> {
        self.strips(Split::Test, max.map_or(self.test_strips, |m| m.min(self.test_strips)), true, "test")
    }
}

/// The encoder's architecture (`model/model.json`).
#[derive(Debug, Clone, Copy, Args, Serialize, Deserialize)]
pub struct EncoderFlags {
    /// ResNet depth of the encoder: 10 (one basic block per stage), 18 or 34.
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
    /// Channels of the stem and the first stage (doubling per stage).
    #[arg(long, default_value_t = 8)]
    pub base_width: usize,
    /// Stages used (2–4): each after the first halves height and width; 3 gives 7 columns per digit.
    #[arg(long, default_value_t = 3)]
    pub stages: usize,
    /// Add sinusoidal column positions to the memory (`false`: content-only memory, as in models
    /// saved before the option existed).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    #[serde(default)]
    pub positions: bool,
}

/// A small-input ResNet (kindling-vision's stem and residual stages, no pooling head) reading
/// gray strips: the feature columns of its last map, averaged over the height.
#[derive(Module, Debug)]
pub struct StripEncoder {
    stem: Stem,
    stages: Vec<Vec<ResidualBlock>>,
}

impl EncoderFlags {
    fn init(&self, device: &Device) -> CliResult<StripEncoder> {
        let layers = match self.depth {
            10 => [1, 1, 1, 1],
            18 => [2, 2, 2, 2],
            34 => [3, 4, 6, 3],
            d => return Err(format!("--depth {d}: expected 10, 18 or 34").into()),
        };
        if !(2..=4).contains(&self.stages) || self.base_width == 0 {
            return Err(format!(
                "--stages must be 2-4 and --base-width positive, got {} and {}",
                self.stages, self.base_width
            )
            .into());
        }
        let r = ResNetConfig::new(BlockKind::Basic, layers)
            .with_small_input(true)
            .with_base_width(self.base_width)
            .with_num_classes(1)
            .init(device);
        let mut stages = vec![r.layer1, r.layer2, r.layer3, r.layer4];
        stages.truncate(self.stages);
        Ok(StripEncoder { stem: r.stem, stages })
    }

    fn column_size(&self) -> usize {
        self.base_width << (self.stages - 1)
    }
}

impl ImageEncoder for StripEncoder {
    fn columns(&self, images: Tensor<4>) -> Tensor<3> {
        let x = self.stages.iter().flatten().fold(self.stem.forward(images.repeat_dim(1, 3)), |x, b| b.forward(x));
        let [b, c, _, w] = x.dims();
        x.mean_dim(2).reshape([b, c, w]).swap_dims(1, 2)
    }

    fn column_size(&self) -> usize {
        self.stages.last().and_then(|s| s.last()).map_or(0, |b| bn_features(&b.bn2))
    }
}

fn bn_features(bn: &BatchNorm) -> usize {
    bn.gamma.lazy_shape()[0]
}

/// Decoder and decoding flags.
#[derive(Debug, Clone, Args, Serialize)]
pub struct DecoderFlags {
    /// Caption-word embedding width.
    #[arg(long, default_value_t = 32)]
    pub embedding_dim: usize,
    /// Hidden size of the LSTM decoder.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Attention score: dot, general or additive.
    #[arg(long, default_value = "general")]
    pub attention: String,
    /// Dropout in the decoder.
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
    /// Beam width of the test captions (1: greedy).
    #[arg(long, default_value_t = 3)]
    pub beam: usize,
}

/// Arguments of `kindling seq caption train`.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: StripFlags,
    #[command(flatten)]
    encoder: EncoderFlags,
    #[command(flatten)]
    decoder: DecoderFlags,
    #[command(flatten)]
    train: TrainFlags,
}

/// Arguments of `kindling seq caption eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Run folder (or its model/ folder).
    #[arg(long)]
    model: PathBuf,
    /// Digits to draw the test strips from (default: the run's).
    #[arg(long)]
    data: Option<String>,
    /// Caption at most this many test strips.
    #[arg(long)]
    max_eval: Option<usize>,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 3)]
    beam: usize,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Arguments of `kindling seq caption predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Run folder (or its model/ folder).
    #[arg(long)]
    model: PathBuf,
    /// Strip images (any height, scaled to 28 px; light digits on dark, else inverted).
    images: Vec<PathBuf>,
    /// Caption this many random test strips instead (with their true captions).
    #[arg(long)]
    random: Option<usize>,
    /// Seed of the --random strips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the --random strips as PNG files into this folder.
    #[arg(long)]
    save_strips: Option<PathBuf>,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 3)]
    beam: usize,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `model/model.json`.
#[derive(Serialize, Deserialize)]
struct ModelMeta {
    task: String,
    encoder: EncoderFlags,
    decoder: AttentionDecoderConfig,
    data: StripFlags,
}

type Model = Captioner<StripEncoder>;

fn build(encoder: &EncoderFlags, decoder: &AttentionDecoderConfig, device: &Device) -> CliResult<Model> {
    Ok(Captioner::new(encoder.init(device)?, decoder.init(device)?).with_positions(encoder.positions))
}

/// Digits of caption token ids (`<unk>` and other specials dropped).
fn digits_of(ids: &[usize]) -> Vec<usize> {
    ids.iter().filter_map(|&i| i.checked_sub(4).filter(|d| *d < 10)).collect()
}

/// Captions (as digits) of `strips`, `batch` at a time.
fn caption_all(model: &Model, strips: &[DigitStrip], beam: &BeamConfig, device: &Device) -> CliResult<Vec<Vec<usize>>> {
    let mut out = Vec::with_capacity(strips.len());
    for chunk in strips.chunks(128) {
        let refs: Vec<&DigitStrip> = chunk.iter().collect();
        let b = collate_strips(&refs, device)?;
        out.extend(model.caption(b.images, &b.widths, beam)?.iter().map(|ids| digits_of(ids)));
    }
    Ok(out)
}

/// Exact-match accuracy, token (edit-distance) accuracy and the predictions of `strips`.
fn score(
    model: &Model,
    strips: &[DigitStrip],
    beam: &BeamConfig,
    device: &Device,
) -> CliResult<(ErrorRates, Vec<Vec<usize>>)> {
    let predicted = caption_all(model, strips, beam, device)?;
    let refs: Vec<Vec<Vec<usize>>> = strips.iter().map(|s| vec![s.digits.clone()]).collect();
    Ok((ErrorRates::score(&predicted, &refs), predicted))
}

fn beam_config(width: usize, max_digits: usize) -> BeamConfig {
    BeamConfig::new().with_width(width.max(1)).with_max_len(max_digits + 2)
}

fn rates_json(r: &ErrorRates) -> serde_json::Value {
    serde_json::json!({"exact_match": 1.0 - r.wer(), "token_accuracy": 1.0 - r.per(), "counts": r})
}

fn sample_json(s: &DigitStrip, predicted: &[usize]) -> serde_json::Value {
    serde_json::json!({
        "digits": s.digits.iter().map(|d| d.to_string()).collect::<String>(),
        "truth": caption_text(&s.digits), "predicted": caption_text(predicted), "correct": predicted == s.digits,
    })
}

fn train(args: TrainArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.train.device)?;
    let d = &args.data;
    d.config().validate()?;
    let train_count = args.train.max_examples.map_or(d.train_strips, |m| m.min(d.train_strips));
    let cap = |n: usize| args.train.max_eval.map_or(n, |m| m.min(n));
    let train_strips = d.strips(Split::Train, train_count, false, "train")?;
    let val_strips = d.strips(Split::Train, cap(d.val_strips), true, "validation")?;
    let test_strips = d.test_strips(args.train.max_eval)?;
    let dec = &args.decoder;
    let column = args.encoder.column_size();
    let decoder = AttentionDecoderConfig::new(caption_vocab().len(), column)
        .with_summary_size(column)
        .with_embedding_dim(dec.embedding_dim)
        .with_hidden_size(dec.hidden)
        .with_attention(dec.attention.parse::<AttentionKind>()?)
        .with_dropout(dec.dropout);
    let trainer_config = args.train.train_config(train_strips.len(), 8, 64, 2e-3)?;
    let (out, options) = args.train.run_options("runs/seq-caption", "caption")?;
    save_json(
        &out.join("config.json"),
        &serde_json::json!({
            "command": "seq caption train", "data": d, "encoder": args.encoder, "decoder_flags": dec,
            "train_flags": args.train, "decoder": decoder, "trainer": trainer_config,
        }),
    )?;
    kindling_core::seed_everything(args.train.seed, &device);
    let model = build(&args.encoder, &decoder, &device)?;
    let greedy = beam_config(1, d.max_digits);
    let eval = |model: &Model| {
        if val_strips.is_empty() {
            return Ok(None);
        }
        let mut stats = evaluate(model, &val_strips, 128, collate_strips, |m: &Model, b| m.step(b), &device)?;
        let (rates, _) =
            score(model, &val_strips, &greedy, &device).map_err(|e| kindling_seq::SeqError::Input(e.to_string()))?;
        stats.extra.insert("teacher_forced_token_accuracy".into(), stats.accuracy);
        stats.extra.insert("token_accuracy".into(), 1.0 - rates.per());
        stats.accuracy = 1.0 - rates.wer();
        Ok(Some(stats))
    };
    let fit = Trainer::new(trainer_config).with_options(options).with_length(|s: &DigitStrip| s.width).fit(
        model,
        &train_strips,
        collate_strips,
        |m: &Model, b| m.step(b),
        eval,
        &device,
    )?;
    let meta = ModelMeta { task: "caption".into(), encoder: args.encoder, decoder, data: d.clone() };
    save_model_dir(&out, &fit.model, &meta, Some(&caption_vocab()))?;

    let test_started = Instant::now();
    let (greedy_rates, _) = score(&fit.model, &test_strips, &greedy, &device)?;
    let beam = beam_config(dec.beam, d.max_digits);
    let (rates, predicted) = score(&fit.model, &test_strips, &beam, &device)?;
    let test_seconds = test_started.elapsed().as_secs_f64();
    let samples: Vec<_> = test_strips.iter().zip(&predicted).take(40).map(|(s, p)| sample_json(s, p)).collect();
    save_json(&out.join("samples.json"), &samples)?;
    let mut by_length = serde_json::Map::new();
    for n in d.min_digits..=d.max_digits {
        let idx: Vec<usize> = (0..test_strips.len()).filter(|&i| test_strips[i].digits.len() == n).collect();
        let hits = idx.iter().filter(|&&i| predicted[i] == test_strips[i].digits).count();
        by_length.insert(
            n.to_string(),
            serde_json::json!({"strips": idx.len(), "exact_match": hits as f64 / idx.len().max(1) as f64}),
        );
    }
    let leaked = test_strips
        .iter()
        .filter(|s| s.digits.len() >= 2 && !is_heldout(&s.digits, d.heldout_fraction, d.split_seed))
        .count();
    let report = serde_json::json!({
        "task": "caption",
        "data": d.data,
        "examples": {"train_strips": train_strips.len(), "validation_strips": val_strips.len(), "test_strips": test_strips.len()},
        "test_multi_digit_sequences_seen_in_training": leaked,
        "epochs": fit.history.epochs,
        "best_epoch": fit.history.best_epoch().map(|e| e.epoch),
        "stopped_early": fit.history.stopped_early,
        "test": {
            "beam": {"width": beam.width, "rates": rates_json(&rates)},
            "greedy": rates_json(&greedy_rates),
            "exact_match_by_digits": by_length,
            "decode_seconds": test_seconds,
        },
        "samples": &samples[..samples.len().min(10)],
        "train_seconds": fit.seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    save_json(&out.join("metrics.json"), &report)?;
    write_curves(&out.join("curves.png"), "caption", &fit.history.epochs, "exact match")?;
    println!(
        "test exact match {:.4}, token accuracy {:.4} (beam {}; greedy {:.4}) on {} strips; {:.1} s; run folder {}",
        1.0 - rates.wer(),
        1.0 - rates.per(),
        beam.width,
        1.0 - greedy_rates.wer(),
        test_strips.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn load(path: &Path, device: &Device) -> CliResult<(Model, ModelMeta)> {
    let (dir, meta): (_, ModelMeta) = load_meta(path, "caption", "a captioner")?;
    let model = load_module(build(&meta.encoder, &meta.decoder, device)?, &dir.join("model.bpk"))?;
    Ok((model, meta))
}

fn eval(args: EvalArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, meta) = load(&args.model, &device)?;
    let mut data = meta.data.clone();
    if let Some(d) = &args.data {
        data.data = d.clone();
    }
    let strips = data.test_strips(args.max_eval)?;
    let (rates, _) = score(&model, &strips, &beam_config(args.beam, data.max_digits), &device)?;
    let mut record = rates_json(&rates);
    record["strips"] = strips.len().into();
    record["beam"] = args.beam.into();
    record["seconds"] = started.elapsed().as_secs_f64().into();
    print_json_lines(&[record])
}

/// A strip image as 28-row gray pixels in `[0, 1]`: scaled to 28 px high, inverted when the
/// background is light.
fn read_strip(path: &Path) -> CliResult<DigitStrip> {
    let gray = kindling_data::transform::open_image(path)?.to_luma8();
    let (w, h) = gray.dimensions();
    if w == 0 || h == 0 {
        return Err(format!("{}: empty image", path.display()).into());
    }
    let width = ((w as usize * DIGIT_SIZE) as f64 / h as f64).round().max(1.0) as usize;
    let gray = if h as usize == DIGIT_SIZE {
        gray
    } else {
        image::imageops::resize(&gray, width as u32, DIGIT_SIZE as u32, image::imageops::FilterType::Triangle)
    };
    let mut pixels: Vec<f32> = gray.pixels().map(|p| f32::from(p.0[0]) / 255.0).collect();
    if pixels.iter().sum::<f32>() / pixels.len() as f32 > 0.5 {
        pixels.iter_mut().for_each(|p| *p = 1.0 - *p);
    }
    Ok(DigitStrip { digits: Vec::new(), pixels, width: gray.width() as usize })
}

fn save_strip(strip: &DigitStrip, path: &Path) -> CliResult {
    let bytes: Vec<u8> = strip.pixels.iter().map(|&p| (p * 255.0).round().clamp(0.0, 255.0) as u8).collect();
    let img = image::GrayImage::from_raw(strip.width as u32, DIGIT_SIZE as u32, bytes)
        .ok_or_else(|| format!("{}: bad strip size", path.display()))?;
    img.save(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

fn predict(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, meta) = load(&args.model, &device)?;
    let beam = beam_config(args.beam, meta.data.max_digits.max(8));
    let (strips, names): (Vec<DigitStrip>, Vec<String>) = match args.random {
        Some(n) => {
            let (images, labels) = meta.data.digits(Split::Test)?;
            let refs: Vec<&[u8]> = images.iter().map(Vec::as_slice).collect();
            let mut rng = seeded_rng(derive_seed(args.seed, "predict/strips"));
            let strips = compose_strips(&refs, &labels, n, &meta.data.config(), true, &mut rng)?;
            let mut names = Vec::new();
            for (i, s) in strips.iter().enumerate() {
                names.push(match &args.save_strips {
                    Some(dir) => {
                        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                        let p = dir.join(format!("strip-{i:03}.png"));
                        save_strip(s, &p)?;
                        p.display().to_string()
                    }
                    None => format!("random-{i}"),
                });
            }
            (strips, names)
        }
        None if args.images.is_empty() => return Err("give strip images or --random N".into()),
        None => {
            let strips = args.images.iter().map(|p| read_strip(p)).collect::<CliResult<Vec<_>>>()?;
            (strips, args.images.iter().map(|p| p.display().to_string()).collect())
        }
    };
    let mut records = Vec::new();
    for (s, name) in strips.iter().zip(names) {
        let x = Tensor::<4>::from_data(TensorData::new(s.pixels.clone(), [1, 1, DIGIT_SIZE, s.width]), &device);
        let ids = model.caption(x, &[s.width], &beam)?.remove(0);
        let digits = digits_of(&ids);
        let mut r = serde_json::json!({
            "image": name, "caption": caption_text(&digits),
            "digits": digits.iter().map(|d| d.to_string()).collect::<String>(),
        });
        if !s.digits.is_empty() {
            r["truth"] = caption_text(&s.digits).into();
            r["correct"] = (digits == s.digits).into();
        }
        records.push(r);
    }
    print_json_lines(&records)
}

/// Runs `kindling seq caption`.
pub fn run(args: CaptionArgs) -> CliResult {
    match args.command {
        CaptionCommand::Train(a) => train(*a),
        CaptionCommand::Eval(a) => eval(a),
        CaptionCommand::Predict(a) => predict(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoder_columns_match_valid_widths() {
        let device = kindling_core::default_device();
        for stages in [2, 3, 4] {
            let flags = EncoderFlags { depth: 10, base_width: 4, stages, positions: true };
            let enc = flags.init(&device).unwrap();
            assert_eq!(enc.column_size(), flags.column_size());
            for n in 1..=4 {
                let w = DIGIT_SIZE * n;
                let cols = enc.columns(Tensor::zeros([2, 1, DIGIT_SIZE, w], &device));
                // Each stage after the first halves the width (rounding up).
                let expected = (1..stages).fold(w, |w, _| w.div_ceil(2));
                assert_eq!(cols.dims(), [2, expected, flags.column_size()], "stages {stages}, {n} digits");
            }
        }
        assert_eq!(digits_of(&[11, 2, 6, 3, 13]), vec![7, 2, 9]);
    }
}
