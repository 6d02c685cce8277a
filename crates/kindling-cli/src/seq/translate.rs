//! `kindling seq translate train|eval|predict`: a recurrent encoder-decoder with attention on
//! CMUdict (grapheme-to-phoneme) or on parallel `source<TAB>target` pairs.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use clap::{Args, Subcommand};
use kindling_core::{derive_seed, seeded_rng};
use kindling_data::text::{CmuDict, Vocab, VocabConfig, in_holdout, read_parallel, samples, word_tokenize};
use kindling_seq::CellKind;
use kindling_seq::attention::AttentionKind;
use kindling_seq::decode::{BeamConfig, ErrorRates};
use kindling_seq::seq2seq::{
    PairExample, Seq2Seq, Seq2SeqConfig, TeacherForcing, beam_ensemble, collate_pairs, translate_ensemble,
};
use kindling_seq::train::{EpochStats, Trainer, evaluate, load_module};
use kindling_transfer::report::{Curve, Panel, plot_panels};
use serde::{Deserialize, Serialize};

use super::common::{TrainFlags, input_lines, load_json, load_meta, print_json_lines, save_json, save_model_dir};
use crate::CliResult;

/// Arguments of `kindling seq translate`.
#[derive(Args)]
pub struct TranslateArgs {
    #[command(subcommand)]
    command: TranslateCommand,
}

#[derive(Subcommand)]
enum TranslateCommand {
    /// Train an encoder-decoder; writes a run folder (config.json, metrics.json with test
    /// WER/PER, samples.json, curves.png, checkpoint/, model/).
    Train(Box<TrainArgs>),
    /// Evaluate a trained model on its test split (or on --data's); prints JSON error rates.
    Eval(EvalArgs),
    /// Translate sources (arguments or stdin lines); one JSON object per source.
    Predict(PredictArgs),
}

/// Where the pairs come from, how they are tokenized and split.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct DataFlags {
    /// `cmudict` (the CMUdict excerpt embedded in Kindling), `cmudict:PATH` (a CMUdict file:
    /// grapheme-to-phoneme), or a TSV of `source<TAB>target` lines (`tsv:PATH` or just PATH).
    #[arg(long, default_value = "cmudict")]
    pub data: String,
    /// Source tokens: chars, words (lower-cased, punctuation apart) or spaces (split on
    /// whitespace). Default: chars for CMUdict, words for TSV.
    #[arg(long)]
    pub source_tokens: Option<String>,
    /// Target tokens (same choices). Default: spaces (phonemes) for CMUdict, words for TSV.
    #[arg(long)]
    pub target_tokens: Option<String>,
    /// CMUdict: keep the stress digits of vowels (default: stripped, 39 phonemes as in
    /// Yao & Zweig 2015).
    #[arg(long)]
    pub keep_stress: bool,
    /// Share of the distinct sources held out for testing (all targets of a source land on one
    /// side: all the pronunciations of a word).
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Share of the other sources held out for validation (best epoch, early stopping).
    #[arg(long, default_value_t = 0.02)]
    pub val_fraction: f64,
    /// Seed of the split (fixed hash of the source: independent of the training --seed).
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
}

/// How a side of a pair splits into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tokens {
    Chars,
    Words,
    Spaces,
}

impl Tokens {
    fn parse(s: Option<&str>, default: Tokens) -> CliResult<Self> {
        match s {
            None => Ok(default),
            Some("chars") => Ok(Tokens::Chars),
            Some("words") => Ok(Tokens::Words),
            Some("spaces") => Ok(Tokens::Spaces),
            Some(o) => Err(format!("unknown token kind `{o}`: expected chars, words or spaces").into()),
        }
    }

    fn split(self, s: &str) -> Vec<String> {
        match self {
            Tokens::Chars => s.chars().map(String::from).collect(),
            Tokens::Words => word_tokenize(s),
            Tokens::Spaces => s.split_whitespace().map(String::from).collect(),
        }
    }

    fn join(self, tokens: &[&str]) -> String {
        if self == Tokens::Chars { tokens.concat() } else { tokens.join(" ") }
    }
}

/// A source and all its targets.
#[derive(Debug, Clone)]
struct Group {
    source: String,
    targets: Vec<String>,
}

/// The splits of a pair set.
struct Splits {
    train: Vec<Group>,
    val: Vec<Group>,
    test: Vec<Group>,
    source_tokens: Tokens,
    target_tokens: Tokens,
}

fn load_splits(d: &DataFlags) -> CliResult<Splits> {
    for (name, v) in [("--test-fraction", d.test_fraction), ("--val-fraction", d.val_fraction)] {
        if !(0.0..1.0).contains(&v) {
            return Err(format!("{name} must be in [0, 1), got {v}").into());
        }
    }
    let cmudict = |dict: CmuDict| {
        let dict = if d.keep_stress { dict } else { dict.without_stress() };
        dict.entries().iter().map(|e| (e.word.clone(), e.phonemes.join(" "))).collect::<Vec<_>>()
    };
    let (pairs, is_cmu) = if d.data == "cmudict" {
        (cmudict(samples::cmudict()?), true)
    } else if let Some(p) = d.data.strip_prefix("cmudict:") {
        (cmudict(CmuDict::read(p)?), true)
    } else {
        let path = d.data.strip_prefix("tsv:").unwrap_or(&d.data);
        (read_parallel(path)?.into_iter().map(|p| (p.source, p.target)).collect(), false)
    };
    let source_tokens = Tokens::parse(d.source_tokens.as_deref(), if is_cmu { Tokens::Chars } else { Tokens::Words })?;
    let target_tokens = Tokens::parse(d.target_tokens.as_deref(), if is_cmu { Tokens::Spaces } else { Tokens::Words })?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for (s, t) in pairs {
        let entry = groups.entry(s.clone()).or_default();
        if entry.is_empty() {
            order.push(s);
        }
        if !entry.contains(&t) {
            entry.push(t);
        }
    }
    let val_seed = derive_seed(d.split_seed, "validation");
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for source in order {
        let targets = groups.remove(&source).unwrap_or_default();
        let g = Group { source, targets };
        if in_holdout(&g.source, d.test_fraction, d.split_seed) {
            test.push(g);
        } else if in_holdout(&g.source, d.val_fraction, val_seed) {
            val.push(g);
        } else {
            train.push(g);
        }
    }
    Ok(Splits { train, val, test, source_tokens, target_tokens })
}

/// Model, decoding and teacher-forcing flags.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ModelFlags {
    /// Embedding width (source and target).
    #[arg(long, default_value_t = 64)]
    pub embedding_dim: usize,
    /// Hidden size of the encoder (per direction) and of the decoder.
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Encoder layers.
    #[arg(long, default_value_t = 1)]
    pub encoder_layers: usize,
    /// Decoder layers.
    #[arg(long, default_value_t = 1)]
    pub decoder_layers: usize,
    /// Recurrence: lstm, gru or rnn.
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Attention: general (Luong), dot or additive (Bahdanau).
    #[arg(long, default_value = "general")]
    pub attention: String,
    /// Luong input feeding (slower: the decoder then runs step by step in training).
    #[arg(long)]
    pub input_feeding: bool,
    /// Dropout.
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f64,
    /// Weight dropout on the recurrent matrices of encoder and decoder (DropConnect, one mask
    /// per batch; 0: none).
    #[arg(long, default_value_t = 0.0)]
    pub weight_dropout: f64,
    /// Teacher-forcing ratio at the first epoch (share of decoder steps fed the gold token).
    #[arg(long, default_value_t = 1.0)]
    pub tf_start: f64,
    /// Teacher-forcing ratio at the end of the decay (scheduled sampling below 1).
    #[arg(long, default_value_t = 1.0)]
    pub tf_end: f64,
    /// Epochs of the linear teacher-forcing decay.
    #[arg(long, default_value_t = 0)]
    pub tf_decay_epochs: usize,
    /// Label smoothing ε of the training loss (0: plain cross-entropy; validation stays plain).
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Beam width of the test decoding (1: greedy).
    #[arg(long, default_value_t = 5)]
    pub beam: usize,
    /// Length normalisation α of beam search (hypotheses rank by log p / len^α).
    #[arg(long, default_value_t = 0.0)]
    pub length_penalty: f64,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataFlags,
    #[command(flatten)]
    model: ModelFlags,
    #[command(flatten)]
    train: TrainFlags,
}

#[derive(Args)]
struct EvalArgs {
    /// Run folder (or its model/ folder); repeat it for an ensemble that decodes from the mean
    /// of the models' next-token probabilities (models trained on the same data: same vocabularies).
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Evaluate on this data's test split instead of the training run's (same syntax as train).
    #[arg(long)]
    data: Option<String>,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Length normalisation α.
    #[arg(long, default_value_t = 0.0)]
    length_penalty: f64,
    /// Test on at most this many sources.
    #[arg(long)]
    max_eval: Option<usize>,
    /// Also write every test source's prediction, references and whether it is right, one JSON
    /// object per line, to this file (error analysis).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Args)]
struct PredictArgs {
    /// Run folder (or its model/ folder); repeat it for an ensemble (as in `eval`).
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Sources; stdin lines when none.
    sources: Vec<String>,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Length normalisation α.
    #[arg(long, default_value_t = 0.0)]
    length_penalty: f64,
    /// Hypotheses printed per source.
    #[arg(long, default_value_t = 1)]
    nbest: usize,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `model/model.json`.
#[derive(Serialize, Deserialize)]
struct ModelMeta {
    task: String,
    model: Seq2SeqConfig,
    data: DataFlags,
}

/// The vocabularies of a run (`model/vocab.json`).
#[derive(Serialize, Deserialize)]
struct Vocabs {
    source: Vocab,
    target: Vocab,
}

impl Vocabs {
    fn source_ids(&self, splits_tokens: Tokens, s: &str) -> Vec<usize> {
        self.source.encode(&splits_tokens.split(s))
    }
}

/// Source ids and the token lists of every reference of each group.
fn encode_groups(v: &Vocabs, tokens: (Tokens, Tokens), groups: &[Group]) -> (Vec<Vec<usize>>, Vec<Vec<Vec<String>>>) {
    let sources = groups.iter().map(|g| v.source_ids(tokens.0, &g.source)).collect();
    let refs = groups.iter().map(|g| g.targets.iter().map(|t| tokens.1.split(t)).collect()).collect();
    (sources, refs)
}

fn pairs(v: &Vocabs, tokens: (Tokens, Tokens), groups: &[Group]) -> Vec<PairExample> {
    groups
        .iter()
        .flat_map(|g| {
            let source = v.source_ids(tokens.0, &g.source);
            g.targets
                .iter()
                .map(move |t| PairExample { source: source.clone(), target: v.target.encode(&tokens.1.split(t)) })
        })
        .filter(|p| !p.source.is_empty() && !p.target.is_empty())
        .collect()
}

/// Decodes `sources` (with one model or an ensemble) and scores them against `refs`: error
/// rates and the predicted token lists.
fn score(
    models: &[&Seq2Seq],
    v: &Vocabs,
    sources: &[Vec<usize>],
    refs: &[Vec<Vec<String>>],
    beam: &BeamConfig,
    device: &Device,
) -> CliResult<(ErrorRates, Vec<Vec<String>>)> {
    let out = translate_ensemble(models, sources, 256, beam, device)?;
    let predicted: Vec<Vec<String>> =
        out.iter().map(|ids| v.target.decode(ids).into_iter().map(String::from).collect()).collect();
    Ok((ErrorRates::score(&predicted, refs), predicted))
}

fn beam_config(width: usize, length_penalty: f64) -> BeamConfig {
    BeamConfig::new().with_width(width.max(1)).with_length_penalty(length_penalty).with_max_len(0)
}

/// `curves.png`: loss (train, validation) and validation WER / PER per epoch.
fn write_curves(path: &Path, title: &str, epochs: &[EpochStats]) -> CliResult {
    let curve = |label: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| Curve {
        label: label.into(),
        points: epochs.iter().filter_map(|e| f(e).map(|v| (e.epoch as f64 + 1.0, v))).collect(),
    };
    let extra = |k: &'static str| move |e: &EpochStats| e.val.as_ref().and_then(|v| v.extra.get(k).copied());
    let panel = |name: &str, curves| Panel {
        title: format!("{title}: {name}"),
        x_label: "epoch".into(),
        y_label: name.into(),
        curves,
    };
    plot_panels(
        path,
        &[
            panel(
                "loss per token",
                vec![curve("train", &|e| Some(e.train_loss)), curve("validation", &|e| e.val.as_ref().map(|v| v.loss))],
            ),
            panel("validation error rate (greedy)", vec![curve("WER", &extra("wer")), curve("PER", &extra("per"))]),
        ],
    )?;
    Ok(())
}

fn train(args: TrainArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.train.device)?;
    let splits = load_splits(&args.data)?;
    let tokens = (splits.source_tokens, splits.target_tokens);
    let mut train_groups = splits.train;
    if let Some(m) = args.train.max_examples {
        train_groups.truncate(m);
    }
    let cap = |mut g: Vec<Group>| {
        if let Some(m) = args.train.max_eval {
            g.truncate(m);
        }
        g
    };
    let (val_groups, test_groups) = (cap(splits.val), cap(splits.test));
    let vocabs = Vocabs {
        source: VocabConfig::new().build(train_groups.iter().map(|g| tokens.0.split(&g.source))),
        target: VocabConfig::new().build(train_groups.iter().flat_map(|g| g.targets.iter().map(|t| tokens.1.split(t)))),
    };
    let m = &args.model;
    let config = Seq2SeqConfig::new(vocabs.source.len(), vocabs.target.len())
        .with_embedding_dim(m.embedding_dim)
        .with_hidden_size(m.hidden)
        .with_encoder_layers(m.encoder_layers)
        .with_decoder_layers(m.decoder_layers)
        .with_cell(m.cell.parse::<CellKind>()?)
        .with_attention(m.attention.parse::<AttentionKind>()?)
        .with_input_feeding(m.input_feeding)
        .with_dropout(m.dropout)
        .with_weight_dropout(m.weight_dropout);
    let tf = TeacherForcing { start: m.tf_start, end: m.tf_end, decay_epochs: m.tf_decay_epochs };
    tf.validate()?;
    let smoothing = m.label_smoothing as f32;
    kindling_seq::attn_decoder::check_label_smoothing(smoothing)?;
    let train_pairs = pairs(&vocabs, tokens, &train_groups);
    let mut val_pairs = pairs(&vocabs, tokens, &val_groups);
    val_pairs.sort_by_key(|p| p.source.len());
    let trainer_config = args.train.train_config(train_pairs.len(), 10, 64, 2e-3)?;
    let (out, options) = args.train.run_options("runs/seq-translate", "translate")?;
    save_json(
        &out.join("config.json"),
        &serde_json::json!({
            "command": "seq translate train", "data": args.data, "model_flags": args.model, "train_flags": args.train,
            "model": config, "trainer": trainer_config, "teacher_forcing": tf,
        }),
    )?;
    kindling_core::seed_everything(args.train.seed, &device);
    let model = config.init(&device)?;
    let (val_sources, val_refs) = encode_groups(&vocabs, tokens, &val_groups);
    let greedy = beam_config(1, 0.0);
    let eval = |model: &Seq2Seq| {
        if val_pairs.is_empty() {
            return Ok(None);
        }
        let mut stats = evaluate(model, &val_pairs, 256, collate_pairs, |m: &Seq2Seq, b| m.step(b), &device)?;
        let (rates, _) = score(&[model], &vocabs, &val_sources, &val_refs, &greedy, &device)
            .map_err(|e| kindling_seq::SeqError::Input(e.to_string()))?;
        stats.extra.insert("token_accuracy".into(), stats.accuracy);
        stats.extra.insert("wer".into(), rates.wer());
        stats.extra.insert("per".into(), rates.per());
        stats.accuracy = 1.0 - rates.wer();
        Ok(Some(stats))
    };
    let (epoch, batch_no) = (Cell::new(0usize), Cell::new(0u64));
    let seed = args.train.seed;
    let collate = |items: &[&PairExample], d: &Device| {
        let batch = collate_pairs(items, d)?;
        let ratio = tf.ratio(epoch.get());
        let n = batch_no.replace(batch_no.get() + 1);
        let mut rng = seeded_rng(derive_seed(seed, &format!("teacher-forcing/{}/{n}", epoch.get())));
        Ok(batch.with_sampling(ratio, &mut rng))
    };
    let fit = Trainer::new(trainer_config)
        .with_options(options)
        .with_length(|p: &PairExample| p.source.len() + p.target.len())
        .with_epoch_start(|e| {
            epoch.set(e);
            batch_no.set(0);
        })
        .fit(model, &train_pairs, collate, |m: &Seq2Seq, b| m.step_smoothed(b, smoothing), eval, &device)?;
    save_model_dir(
        &out,
        &fit.model,
        &ModelMeta { task: "translate".into(), model: config, data: args.data.clone() },
        Some(&vocabs),
    )?;

    let test_started = Instant::now();
    let (test_sources, test_refs) = encode_groups(&vocabs, tokens, &test_groups);
    let (greedy_rates, _) = score(&[&fit.model], &vocabs, &test_sources, &test_refs, &greedy, &device)?;
    let beam = beam_config(m.beam, m.length_penalty);
    let (rates, predicted) = score(&[&fit.model], &vocabs, &test_sources, &test_refs, &beam, &device)?;
    let test_seconds = test_started.elapsed().as_secs_f64();
    let sample = |i: usize| {
        let p: Vec<&str> = predicted[i].iter().map(String::as_str).collect();
        serde_json::json!({
            "source": test_groups[i].source, "predicted": tokens.1.join(&p), "references": test_groups[i].targets,
            "correct": test_refs[i].contains(&predicted[i]),
        })
    };
    let samples: Vec<serde_json::Value> = (0..test_groups.len().min(40)).map(sample).collect();
    save_json(&out.join("samples.json"), &samples)?;
    let rate_json = |r: &ErrorRates| serde_json::json!({"wer": r.wer(), "per": r.per(), "counts": r});
    let report = serde_json::json!({
        "task": "translate",
        "data": args.data.data,
        "examples": {
            "train_sources": train_groups.len(), "train_pairs": train_pairs.len(),
            "validation_sources": val_groups.len(), "test_sources": test_groups.len(),
        },
        "vocabulary": {"source": vocabs.source.len(), "target": vocabs.target.len()},
        "epochs": fit.history.epochs,
        "best_epoch": fit.history.best_epoch().map(|e| e.epoch),
        "stopped_early": fit.history.stopped_early,
        "test": {
            "beam": {"width": beam.width, "length_penalty": beam.length_penalty, "rates": rate_json(&rates)},
            "greedy": rate_json(&greedy_rates),
            "decode_seconds": test_seconds,
        },
        "samples": &samples[..samples.len().min(10)],
        "train_seconds": fit.seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    save_json(&out.join("metrics.json"), &report)?;
    write_curves(&out.join("curves.png"), "translate", &fit.history.epochs)?;
    println!(
        "test WER {:.4} PER {:.4} (beam {}; greedy WER {:.4} PER {:.4}) on {} sources; {:.1} s; run folder {}",
        rates.wer(),
        rates.per(),
        beam.width,
        greedy_rates.wer(),
        greedy_rates.per(),
        test_groups.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn load(path: &Path, device: &Device) -> CliResult<(Seq2Seq, ModelMeta, Vocabs)> {
    let (dir, meta): (_, ModelMeta) = load_meta(path, "translate", "an encoder-decoder")?;
    let model = load_module(meta.model.init(device)?, &dir.join("model.bpk"))?;
    let vocabs: Vocabs = load_json(&dir.join("vocab.json"))?;
    Ok((model, meta, vocabs))
}

/// Loads the models of `paths` (one, or an ensemble); the metadata and vocabularies are the
/// first's, and every other model must have the same vocabularies and tokenization.
fn load_all(paths: &[PathBuf], device: &Device) -> CliResult<(Vec<Seq2Seq>, ModelMeta, Vocabs)> {
    let Some((first, rest)) = paths.split_first() else {
        return Err("--model is required".into());
    };
    let (model, meta, vocabs) = load(first, device)?;
    let mut models = vec![model];
    for path in rest {
        let (model, m, v) = load(path, device)?;
        let same_tokens = (&m.data.source_tokens, &m.data.target_tokens, m.data.keep_stress)
            == (&meta.data.source_tokens, &meta.data.target_tokens, meta.data.keep_stress);
        if v.source != vocabs.source || v.target != vocabs.target || !same_tokens {
            return Err(format!(
                "{} and {} have different vocabularies or tokenization: they cannot decode as an ensemble",
                first.display(),
                path.display()
            )
            .into());
        }
        models.push(model);
    }
    Ok((models, meta, vocabs))
}

fn eval(args: EvalArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.device)?;
    let (models, meta, vocabs) = load_all(&args.model, &device)?;
    let models: Vec<&Seq2Seq> = models.iter().collect();
    let mut data = meta.data.clone();
    if let Some(d) = &args.data {
        data.data = d.clone();
    }
    let splits = load_splits(&data)?;
    let mut test = splits.test;
    if let Some(m) = args.max_eval {
        test.truncate(m);
    }
    let (sources, refs) = encode_groups(&vocabs, (splits.source_tokens, splits.target_tokens), &test);
    let beam = beam_config(args.beam, args.length_penalty);
    let (rates, predicted) = score(&models, &vocabs, &sources, &refs, &beam, &device)?;
    if let Some(path) = &args.predictions {
        let target_tokens = splits.target_tokens;
        let lines: Vec<String> = test
            .iter()
            .zip(&predicted)
            .zip(&refs)
            .map(|((g, p), r)| {
                let words: Vec<&str> = p.iter().map(String::as_str).collect();
                serde_json::json!({
                    "source": g.source, "predicted": target_tokens.join(&words), "references": g.targets,
                    "correct": r.contains(p),
                })
                .to_string()
            })
            .collect();
        kindling_core::fs::write_atomic(path, (lines.join("\n") + "\n").as_bytes())?;
    }
    print_json_lines(&[serde_json::json!({
        "wer": rates.wer(), "per": rates.per(), "sources": test.len(), "counts": rates, "models": models.len(),
        "beam": beam.width, "length_penalty": beam.length_penalty, "seconds": started.elapsed().as_secs_f64(),
    })])
}

fn predict(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (models, meta, vocabs) = load_all(&args.model, &device)?;
    let models: Vec<&Seq2Seq> = models.iter().collect();
    let is_cmu = meta.data.data.starts_with("cmudict");
    let source_tokens =
        Tokens::parse(meta.data.source_tokens.as_deref(), if is_cmu { Tokens::Chars } else { Tokens::Words })?;
    let target_tokens =
        Tokens::parse(meta.data.target_tokens.as_deref(), if is_cmu { Tokens::Spaces } else { Tokens::Words })?;
    let beam = beam_config(args.beam.max(args.nbest), args.length_penalty);
    let mut records = Vec::new();
    for line in input_lines(&args.sources)? {
        let source = line.trim();
        let ids = vocabs.source_ids(source_tokens, source);
        if ids.is_empty() {
            continue;
        }
        let (x, lengths) = kindling_seq::batch::pad_tokens(&[&ids], &device)?;
        let hyps = beam_ensemble(&models, x, &lengths, &beam.clone().with_max_len(2 * ids.len() + 10))?.remove(0);
        let render = |t: &[usize]| target_tokens.join(&vocabs.target.decode(t));
        let nbest: Vec<serde_json::Value> = hyps
            .iter()
            .take(args.nbest.max(1))
            .map(|h| serde_json::json!({"target": render(&h.tokens), "log_prob": h.log_prob}))
            .collect();
        let unknown: Vec<String> =
            source_tokens.split(source).into_iter().filter(|t| vocabs.source.get(t).is_none()).collect();
        records.push(serde_json::json!({
            "source": source, "prediction": render(&hyps[0].tokens), "nbest": nbest, "unknown_tokens": unknown,
        }));
    }
    print_json_lines(&records)
}

/// Runs `kindling seq translate`.
pub fn run(args: TranslateArgs) -> CliResult {
    match args.command {
        TranslateCommand::Train(a) => train(*a),
        TranslateCommand::Eval(a) => eval(a),
        TranslateCommand::Predict(a) => predict(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_and_join() {
        assert_eq!(Tokens::Chars.split("ab'c"), ["a", "b", "'", "c"]);
        assert_eq!(Tokens::Chars.join(&["a", "b"]), "ab");
        assert_eq!(Tokens::Spaces.split(" K AE1  T "), ["K", "AE1", "T"]);
        assert_eq!(Tokens::Words.split("Hi, there!"), ["hi", ",", "there", "!"]);
        assert!(Tokens::parse(Some("bytes"), Tokens::Chars).is_err());
    }

    #[test]
    fn cmudict_split_keeps_pronunciations_together() {
        let flags = DataFlags {
            data: "cmudict".into(),
            source_tokens: None,
            target_tokens: None,
            keep_stress: false,
            test_fraction: 0.1,
            val_fraction: 0.05,
            split_seed: 42,
        };
        let s = load_splits(&flags).unwrap();
        let total = s.train.len() + s.val.len() + s.test.len();
        assert_eq!(total, samples::cmudict().unwrap().word_count());
        let frac = s.test.len() as f64 / total as f64;
        assert!((0.07..0.13).contains(&frac), "{frac}");
        assert!(s.train.iter().chain(&s.test).all(|g| !g.targets.is_empty()));
        assert!(s.train.iter().flat_map(|g| &g.targets).all(|t| !t.chars().any(|c| c.is_ascii_digit())));
        // The same words land on the test side whatever else the dictionary holds.
        let (_, test) = samples::cmudict().unwrap().split_by_word(0.1, 42);
        let words: std::collections::BTreeSet<&str> = test.entries().iter().map(|e| e.word.as_str()).collect();
        assert!(s.test.iter().all(|g| words.contains(g.source.as_str())));
    }
}
