//! `kindling seq lm train|eval|predict`: a character-level LSTM language model trained with
//! truncated back-propagation through time, measured in bits per character, sampled with a
//! temperature and top-k.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use clap::{Args, Subcommand};
use kindling_core::{derive_seed, seeded_rng};
use kindling_data::text::{CharVocab, read_brown_text_dir, read_text, samples};
use kindling_seq::CellKind;
use kindling_seq::charlm::{
    CharLm, CharLmConfig, MixtureMember, SamplingConfig, StateCarry, TbpttChunk, collate_chunks, evaluate_mixture,
    tbptt_chunks, tbptt_plan,
};
use kindling_seq::train::{EpochStats, EvalStats, Monitor, Trainer, load_module};
use kindling_transfer::report::{Curve, Panel, plot_panels};
use serde::{Deserialize, Serialize};

use super::common::{TrainFlags, load_json, load_meta, print_json_lines, save_json, save_model_dir};
use crate::CliResult;

/// Arguments of `kindling seq lm`.
#[derive(Args)]
pub struct LmArgs {
    #[command(subcommand)]
    command: LmCommand,
}

#[derive(Subcommand)]
enum LmCommand {
    /// Train a character LM; writes a run folder (config.json, metrics.json with validation and
    /// test bits per character and sampled text, samples.json, curves.png, checkpoint/, model/).
    Train(Box<TrainArgs>),
    /// Bits per character of a trained model on its test split (or on --data's); prints JSON.
    Eval(EvalArgs),
    /// Generate text after a seed text; prints it (or one JSON object with --json).
    Predict(PredictArgs),
}

/// Where the text comes from and how it is split.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct TextFlags {
    /// `moby-dick` (the opening chapters embedded in Kindling, 60k characters), the path of a
    /// UTF-8 text file (e.g. the whole Moby-Dick), or `brown:DIR`: the Brown corpus of a
    /// directory as running prose (6.0 M characters; e.g. to pre-train for `--init`).
    #[arg(long, default_value = "moby-dick")]
    pub data: String,
    /// Share of the characters, before the test part, held out for validation (best epoch).
    #[arg(long, default_value_t = 0.05)]
    pub val_fraction: f64,
    /// Share of the characters at the end held out for testing (0: none).
    #[arg(long, default_value_t = 0.05)]
    pub test_fraction: f64,
}

/// The text and its contiguous splits: `[train | validation | test]`.
struct TextSplits {
    text: Vec<char>,
    val: std::ops::Range<usize>,
    test: std::ops::Range<usize>,
}

impl TextFlags {
    fn load(&self) -> CliResult<String> {
        let text = if self.data == "moby-dick" {
            samples::moby_dick().to_string()
        } else if let Some(dir) = self.data.strip_prefix("brown:") {
            read_brown_text_dir(dir)?
        } else {
            read_text(&self.data)?
        };
        if text.chars().nth(100).is_none() {
            return Err(format!(
                "{}: {} characters of text, a language model needs at least 100",
                self.data,
                text.chars().count()
            )
            .into());
        }
        Ok(text)
    }

    fn splits(&self, text: &str) -> CliResult<TextSplits> {
        for (name, v) in [("--val-fraction", self.val_fraction), ("--test-fraction", self.test_fraction)] {
            if !(0.0..0.5).contains(&v) {
                return Err(format!("{name} must be in [0, 0.5), got {v}").into());
            }
        }
        let text: Vec<char> = text.chars().collect();
        let n = text.len();
        let test_start = n - (n as f64 * self.test_fraction).round() as usize;
        let val_start = test_start - (n as f64 * self.val_fraction).round() as usize;
        Ok(TextSplits { val: val_start..test_start, test: test_start..n, text })
    }
}

/// Model and sampling flags.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ModelFlags {
    /// Character embedding width.
    #[arg(long, default_value_t = 64)]
    pub embedding_dim: usize,
    /// Hidden size of each recurrent layer.
    #[arg(long, default_value_t = 512)]
    pub hidden: usize,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Recurrence: lstm, gru or rnn.
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Dropout on embeddings, between layers and before the head.
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
    /// Weight dropout: share of the recurrent matrices' entries zeroed in training, one mask per
    /// batch (DropConnect, as in AWD-LSTM; 0: none).
    #[arg(long, default_value_t = 0.0)]
    pub weight_dropout: f64,
    /// Truncated-BPTT length: steps back-propagated per batch.
    #[arg(long, default_value_t = 100)]
    pub bptt: usize,
    #[command(flatten)]
    pub sampling: SampleFlags,
}

/// How text is generated.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SampleFlags {
    /// Text the generation continues.
    #[arg(long, default_value = "Call me Ishmael. ")]
    pub seed_text: String,
    /// Characters generated.
    #[arg(long, default_value_t = 400)]
    pub length: usize,
    /// Softmax temperature (0: always the most likely character).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    /// Sample among the k most likely characters only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 7)]
    pub sample_seed: u64,
}

/// Arguments of `kindling seq lm train`.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: TextFlags,
    /// Start from this trained LM (run folder or its model/ folder) instead of random weights:
    /// fine-tuning a model pre-trained on other text. Its vocabulary and architecture are kept
    /// (--hidden, --layers, --embedding-dim and --cell are then ignored; --dropout and
    /// --weight-dropout apply), and every character of --data must be in its vocabulary.
    #[arg(long)]
    init: Option<PathBuf>,
    #[command(flatten)]
    model: ModelFlags,
    #[command(flatten)]
    train: TrainFlags,
}

/// Arguments of `kindling seq lm eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Run folder (or its model/ folder); repeat it to measure the mixture of the models (the
    /// mean of their next-character probabilities; vocabularies may differ, e.g. a model
    /// fine-tuned from `--init` beside one trained from scratch).
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Text to measure (default: the run's); its test split, see --split.
    #[arg(long)]
    data: Option<String>,
    /// Which characters: test, validation or all.
    #[arg(long, default_value = "test")]
    split: String,
    /// Measure at most this many characters (the first ones of the split).
    #[arg(long)]
    max_eval: Option<usize>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Arguments of `kindling seq lm predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Run folder (or its model/ folder).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    sampling: SampleFlags,
    /// Print one JSON object (seed, text, settings) instead of the plain text.
    #[arg(long)]
    json: bool,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `model/model.json`.
#[derive(Serialize, Deserialize)]
struct ModelMeta {
    task: String,
    model: CharLmConfig,
    data: TextFlags,
    bptt: usize,
    eval_streams: usize,
}

/// Streams the held-out text is read in: long streams keep the carried context.
const EVAL_STREAMS: usize = 8;

fn encode(vocab: &CharVocab, chars: &[char], origin: &str) -> CliResult<Vec<usize>> {
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vocab
                .id(*c)
                .ok_or_else(|| format!("{origin}: character {c:?} (at {i}) is not in the model's vocabulary").into())
        })
        .collect()
}

/// Bits per character of `ids` (`None` when too short to measure).
fn bpc(model: &CharLm, ids: &[usize], meta: &ModelMeta, device: &Device) -> CliResult<Option<serde_json::Value>> {
    if ids.len() < 2 {
        return Ok(None);
    }
    Ok(Some(stats_json(&model.evaluate_text(ids, meta.eval_streams, meta.bptt.max(1) * 2, device)?)))
}

/// The JSON record of a measurement.
fn stats_json(s: &EvalStats) -> serde_json::Value {
    serde_json::json!({
        "bits_per_char": s.extra["bits_per_char"], "nats_per_char": s.loss, "accuracy": s.accuracy, "characters": s.count,
    })
}

/// Bits per character of the mixture of `models` on `chars` (their shared alphabet: the union of
/// their vocabularies; every character must be in each).
fn mixture_bpc(
    models: &[(CharLm, ModelMeta, CharVocab)],
    chars: &[char],
    origin: &str,
    device: &Device,
) -> CliResult<Option<serde_json::Value>> {
    if chars.len() < 2 {
        return Ok(None);
    }
    let mut alphabet = std::collections::BTreeMap::new();
    for (_, _, vocab) in models {
        for &c in vocab.chars() {
            let next = alphabet.len();
            alphabet.entry(c).or_insert(next);
        }
    }
    let ids = models.iter().map(|(_, _, v)| encode(v, chars, origin)).collect::<CliResult<Vec<_>>>()?;
    let shared: Vec<Vec<usize>> =
        models.iter().map(|(_, _, v)| v.chars().iter().map(|c| alphabet[c]).collect()).collect();
    let members: Vec<MixtureMember<'_>> = models
        .iter()
        .zip(&ids)
        .zip(&shared)
        .map(|(((model, _, _), ids), shared)| MixtureMember { model, ids, shared })
        .collect();
    let meta = &models[0].1;
    Ok(Some(stats_json(&evaluate_mixture(&members, alphabet.len(), meta.eval_streams, meta.bptt.max(1) * 2, device)?)))
}

fn generate(model: &CharLm, vocab: &CharVocab, s: &SampleFlags, device: &Device) -> CliResult<String> {
    let seed_chars: Vec<char> = s.seed_text.chars().collect();
    if seed_chars.is_empty() {
        return Err("--seed-text must not be empty".into());
    }
    let seed = encode(vocab, &seed_chars, "--seed-text")?;
    let config = SamplingConfig::new().with_temperature(s.temperature).with_top_k(s.top_k);
    let mut rng = seeded_rng(derive_seed(s.sample_seed, "lm/sample"));
    let ids = model.sample(&seed, s.length, &config, &mut rng, device)?;
    Ok(vocab.decode(&ids)?)
}

/// `curves.png`: loss (nats per character) and bits per character per epoch.
fn write_curves(path: &Path, epochs: &[EpochStats]) -> CliResult {
    let curve = |label: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| Curve {
        label: label.into(),
        points: epochs.iter().filter_map(|e| f(e).map(|v| (e.epoch as f64 + 1.0, v))).collect(),
    };
    let ln2 = std::f64::consts::LN_2;
    let panel = |name: &str, curves| Panel {
        title: format!("char LM: {name}"),
        x_label: "epoch".into(),
        y_label: name.into(),
        curves,
    };
    plot_panels(
        path,
        &[
            panel(
                "bits per character",
                vec![
                    curve("train", &|e| Some(e.train_loss / ln2)),
                    curve("validation", &|e| e.val.as_ref().map(|v| v.loss / ln2)),
                ],
            ),
            panel(
                "next-character accuracy",
                vec![
                    curve("train", &|e| Some(e.train_accuracy)),
                    curve("validation", &|e| e.val.as_ref().map(|v| v.accuracy)),
                ],
            ),
        ],
    )?;
    Ok(())
}

fn train(args: TrainArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.train.device)?;
    let text = args.data.load()?;
    let splits = args.data.splits(&text)?;
    let m = &args.model;
    let (config, vocab, weights) = match &args.init {
        Some(path) => {
            let (dir, meta): (_, ModelMeta) = load_meta(path, "lm", "a language model")?;
            (
                meta.model.with_dropout(m.dropout).with_weight_dropout(m.weight_dropout),
                load_json(&dir.join("vocab.json"))?,
                Some(dir.join("model.bpk")),
            )
        }
        None => {
            let vocab = CharVocab::from_text(&text);
            let config = CharLmConfig::new(vocab.len())
                .with_embedding_dim(m.embedding_dim)
                .with_hidden_size(m.hidden)
                .with_num_layers(m.layers)
                .with_cell(m.cell.parse::<CellKind>()?)
                .with_dropout(m.dropout)
                .with_weight_dropout(m.weight_dropout);
            (config, vocab, None)
        }
    };
    let all = encode(&vocab, &splits.text, &args.data.data)?;
    let mut train_ids = all[..splits.val.start].to_vec();
    if let Some(m) = args.train.max_examples {
        train_ids.truncate(m.max(2));
    }
    let cap = |r: &std::ops::Range<usize>| {
        let ids = &all[r.clone()];
        ids[..args.train.max_eval.map_or(ids.len(), |m| m.min(ids.len()))].to_vec()
    };
    let (val_ids, test_ids) = (cap(&splits.val), cap(&splits.test));
    let streams = args.train.batch_size.unwrap_or(32);
    let chunks = tbptt_chunks(train_ids.len(), streams, m.bptt);
    if chunks.is_empty() {
        return Err(format!(
            "{}: {} training characters are too few for {streams} streams",
            args.data.data,
            train_ids.len()
        )
        .into());
    }
    let trainer_config = args.train.train_config(chunks.len(), 5, 32, 3e-3)?.with_monitor(Monitor::Loss);
    let (out, options) = args.train.run_options("runs/seq-lm", "lm")?;
    let meta = ModelMeta {
        task: "lm".into(),
        model: config.clone(),
        data: args.data.clone(),
        bptt: m.bptt,
        eval_streams: EVAL_STREAMS,
    };
    save_json(
        &out.join("config.json"),
        &serde_json::json!({
            "command": "seq lm train", "data": args.data, "model_flags": m, "train_flags": args.train, "init": args.init,
            "model": config, "trainer": trainer_config, "streams": streams,
        }),
    )?;
    kindling_core::seed_everything(args.train.seed, &device);
    let model = match &weights {
        // The pre-trained weights under this run's dropout (dropout holds no parameters).
        Some(file) => load_module(config.init(&device)?, file)?,
        None => config.init(&device)?,
    };
    let eval = |model: &CharLm| {
        if val_ids.len() < 2 {
            return Ok(None);
        }
        model.evaluate_text(&val_ids, EVAL_STREAMS, m.bptt.max(1) * 2, &device).map(Some)
    };
    let carry = StateCarry::new();
    let fit = Trainer::new(trainer_config).with_options(options).with_batch_plan(tbptt_plan(streams)).fit(
        model,
        &chunks,
        |items: &[&TbpttChunk], d: &Device| collate_chunks(items, &train_ids, d),
        |model: &CharLm, b| model.tbptt_step(b, &carry),
        eval,
        &device,
    )?;
    save_model_dir(&out, &fit.model, &meta, Some(&vocab))?;

    let val = bpc(&fit.model, &val_ids, &meta, &device)?;
    let test = bpc(&fit.model, &test_ids, &meta, &device)?;
    let mut samples = Vec::new();
    let mut temps = vec![m.sampling.temperature, 0.5, 1.0];
    temps.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    for (i, &t) in temps.iter().enumerate() {
        if i > 0 && (t - m.sampling.temperature).abs() < 1e-9 {
            continue;
        }
        let s = SampleFlags { temperature: t, ..m.sampling.clone() };
        let text = generate(&fit.model, &vocab, &s, &device)?;
        samples.push(serde_json::json!({"seed_text": s.seed_text, "temperature": t, "top_k": s.top_k, "text": text}));
    }
    save_json(&out.join("samples.json"), &samples)?;
    let report = serde_json::json!({
        "task": "lm",
        "data": args.data.data,
        "characters": {"train": train_ids.len(), "validation": val_ids.len(), "test": test_ids.len(), "vocabulary": vocab.len()},
        "streams": streams, "bptt": m.bptt, "steps_per_epoch": chunks.len().div_ceil(streams),
        "epochs": fit.history.epochs,
        "best_epoch": fit.history.best_epoch().map(|e| e.epoch),
        "stopped_early": fit.history.stopped_early,
        "validation": val,
        "test": test,
        "sample": samples[0],
        "train_seconds": fit.seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    save_json(&out.join("metrics.json"), &report)?;
    write_curves(&out.join("curves.png"), &fit.history.epochs)?;
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref().map_or("-".into(), |v| format!("{:.4}", v["bits_per_char"].as_f64().unwrap_or(f64::NAN)))
    };
    println!(
        "validation {} / test {} bits per character; {:.1} s; run folder {}",
        show(&val),
        show(&test),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn load(path: &Path, device: &Device) -> CliResult<(CharLm, ModelMeta, CharVocab)> {
    let (dir, meta): (_, ModelMeta) = load_meta(path, "lm", "a language model")?;
    let model = load_module(meta.model.init(device)?, &dir.join("model.bpk"))?;
    let vocab: CharVocab = load_json(&dir.join("vocab.json"))?;
    Ok((model, meta, vocab))
}

fn eval(args: EvalArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.device)?;
    let mut models = Vec::new();
    for path in &args.model {
        models.push(load(path, &device)?);
    }
    let (model, meta, vocab) = &models[0];
    let mut data = meta.data.clone();
    if let Some(d) = &args.data {
        data.data = d.clone();
    }
    let text = data.load()?;
    let splits = data.splits(&text)?;
    let range = match args.split.as_str() {
        "test" => splits.test,
        "validation" => splits.val,
        "all" => 0..splits.text.len(),
        o => return Err(format!("unknown --split `{o}`: expected test, validation or all").into()),
    };
    let chars = &splits.text[range.start..args.max_eval.map_or(range.end, |m| range.end.min(range.start + m))];
    let mut record = if models.len() == 1 {
        bpc(model, &encode(vocab, chars, &data.data)?, meta, &device)?
    } else {
        mixture_bpc(&models, chars, &data.data, &device)?
    }
    .ok_or_else(|| format!("{}: the {} split is empty", data.data, args.split))?;
    record["models"] = models.len().into();
    record["split"] = args.split.into();
    record["data"] = data.data.into();
    record["seconds"] = started.elapsed().as_secs_f64().into();
    print_json_lines(&[record])
}

fn predict(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, _, vocab) = load(&args.model, &device)?;
    let text = generate(&model, &vocab, &args.sampling, &device)?;
    if args.json {
        let s = &args.sampling;
        return print_json_lines(&[serde_json::json!({
            "seed_text": s.seed_text, "text": text, "temperature": s.temperature, "top_k": s.top_k, "seed": s.sample_seed,
        })]);
    }
    println!("{}{text}", args.sampling.seed_text);
    Ok(())
}

/// Runs `kindling seq lm`.
pub fn run(args: LmArgs) -> CliResult {
    match args.command {
        LmCommand::Train(a) => train(*a),
        LmCommand::Eval(a) => eval(a),
        LmCommand::Predict(a) => predict(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_contiguous_tail_parts() {
        let flags = TextFlags { data: "moby-dick".into(), val_fraction: 0.05, test_fraction: 0.05 };
        let text = flags.load().unwrap();
        let s = flags.splits(&text).unwrap();
        let n = s.text.len();
        assert_eq!(s.test.end, n);
        assert_eq!(s.val.end, s.test.start);
        assert!((s.test.len() as f64 / n as f64 - 0.05).abs() < 1e-3);
        assert!((s.val.len() as f64 / n as f64 - 0.05).abs() < 1e-3);
        let none = TextFlags { test_fraction: 0.0, ..flags };
        assert!(none.splits(&text).unwrap().test.is_empty());
    }

    #[test]
    fn brown_directories_load_as_prose() {
        let dir = tempfile::tempdir().unwrap();
        let sentence = "\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n\n";
        std::fs::write(dir.path().join("ca01"), sentence.repeat(10)).unwrap();
        let flags =
            TextFlags { data: format!("brown:{}", dir.path().display()), val_fraction: 0.1, test_fraction: 0.1 };
        let text = flags.load().unwrap();
        assert!(text.starts_with("The jury said \"no\".\n\nThe jury"), "{text}");
        let missing = TextFlags { data: "brown:/no/such/dir".into(), ..flags };
        assert!(missing.load().unwrap_err().to_string().contains("/no/such/dir"));
    }
}
