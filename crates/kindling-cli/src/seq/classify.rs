//! `kindling seq classify train|eval|predict`: many-to-one sequence classification of sentences
//! (sentiment TSV) or multivariate time series (UCR `.ts`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use clap::{Args, Subcommand};
use kindling_data::series::{TsDataset, TsItem, samples as series_samples};
use kindling_data::text::{
    Decoding, LabeledText, Vocab, VocabConfig, binarize, in_holdout, read_sentiment, samples, split_by_text,
    word_tokenize,
};
use kindling_seq::CellKind;
use kindling_seq::classifier::{
    ClassifierBatch, InputKind, Pooling, SequenceClassifier, SequenceClassifierConfig, Standardize, TokenExample,
    collate_series, collate_tokens,
};
use kindling_seq::train::{RunOptions, TrainConfig, TrainHistory, Trainer, evaluate, load_module};
use kindling_transfer::Metrics;
use kindling_transfer::report::plot_confusion;
use serde::{Deserialize, Serialize};

use super::common::{
    TrainFlags, cap, input_lines, load_json, model_dir, print_json_lines, save_json, save_model_dir, write_curves,
};
use crate::CliResult;

/// Arguments of `kindling seq classify`.
#[derive(Args)]
pub struct ClassifyArgs {
    #[command(subcommand)]
    command: ClassifyCommand,
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Train a classifier; writes a run folder (config.json, metrics.json, curves.png,
    /// confusion.png, checkpoint/, model/) and reports test accuracy.
    Train(Box<TrainArgs>),
    /// Evaluate a trained classifier on its test split (or on --data); prints JSON metrics.
    Eval(EvalArgs),
    /// Classify sentences (arguments or stdin lines) or series (--input FILE.ts, or stdin lines
    /// in .ts case syntax `v,v,…:v,v,…`); one JSON object per input.
    Predict(PredictArgs),
}

/// Where the data comes from and how it is split.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct DataFlags {
    /// Built-in data when --data is not given: `sentiment` (embedded 624-sentence sample) or
    /// `japanese-vowels` (embedded, the full official split).
    #[arg(long, default_value = "sentiment")]
    pub dataset: String,
    /// A sentiment TSV (`id<TAB>valence<TAB>text`, e.g. movieReviewSnippets_GroundTruth.txt) or
    /// a UCR `.ts` training file (e.g. JapaneseVowels_TRAIN.ts).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The `.ts` test file (default: the --data path with `_TRAIN` replaced by `_TEST`).
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Sentiment: label = sign of the valence; sentences with |valence| below this are dropped.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Sentiment: fraction held out for testing (by a hash of the text: fixed for --split-seed).
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Fraction of the training part held out for validation (best-epoch selection, early
    /// stopping). Default: 0.1 for sentences; 0 for series, whose official training splits are
    /// small (JapaneseVowels: 270), so the model of the last epoch is kept.
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Seed of the held-out splits (independent of the training --seed).
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
}

/// Model flags; unset ones take the input kind's defaults.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ModelFlags {
    /// Recurrence: lstm, gru or rnn.
    #[arg(long)]
    pub cell: Option<String>,
    /// Hidden size per direction.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked layers.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Read in both directions (true/false).
    #[arg(long)]
    pub bidirectional: Option<bool>,
    /// Pooling over time: last, mean or max.
    #[arg(long)]
    pub pooling: Option<String>,
    /// Text: embedding width.
    #[arg(long)]
    pub embedding_dim: Option<usize>,
    /// Dropout before the head.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Dropout on embeddings / features.
    #[arg(long)]
    pub input_dropout: Option<f64>,
    /// Text: probability of replacing a word by <unk> in training.
    #[arg(long)]
    pub word_dropout: Option<f64>,
    /// Text: words seen fewer times in training are <unk>.
    #[arg(long, default_value_t = 2)]
    pub min_freq: usize,
    /// Text: largest vocabulary (special tokens included).
    #[arg(long)]
    pub max_vocab: Option<usize>,
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
    /// Run folder (or its model/ folder).
    #[arg(long)]
    model: PathBuf,
    /// Evaluate on this data instead of the training run's (same format and split settings).
    #[arg(long)]
    data: Option<PathBuf>,
    /// `.ts` test file for --data.
    #[arg(long)]
    test: Option<PathBuf>,
    /// Test on at most this many examples.
    #[arg(long)]
    max_eval: Option<usize>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

#[derive(Args)]
struct PredictArgs {
    /// Run folder (or its model/ folder).
    #[arg(long)]
    model: PathBuf,
    /// Series models: a `.ts` file to classify.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Sentences (text models) or `.ts` cases; stdin lines when none.
    inputs: Vec<String>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `model/model.json`: everything needed to rebuild and feed the model.
#[derive(Serialize, Deserialize)]
struct ModelMeta {
    task: String,
    classes: Vec<String>,
    model: SequenceClassifierConfig,
    data: DataFlags,
}

/// The examples of a run, split.
enum Splits {
    Text { train: Vec<LabeledText>, val: Vec<LabeledText>, test: Vec<LabeledText> },
    Series { train: Vec<TsItem>, val: Vec<TsItem>, test: Vec<TsItem>, classes: Vec<String>, dims: usize },
}

const SENTIMENT_CLASSES: [&str; 2] = ["negative", "positive"];

fn is_series_file(p: &Path) -> bool {
    let name = p.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".ts") || name.ends_with(".ts.gz")
}

fn load_splits(d: &DataFlags) -> CliResult<Splits> {
    for (name, f) in [("--test-fraction", Some(d.test_fraction)), ("--val-fraction", d.val_fraction)] {
        if let Some(f) = f.filter(|f| !(0.0..1.0).contains(f)) {
            return Err(format!("{name} must be in [0, 1), got {f}").into());
        }
    }
    let series = |train: TsDataset, test: TsDataset| -> CliResult<Splits> {
        if train.classes() != test.classes() || train.dims() != test.dims() {
            return Err("the .ts training and test files declare different classes or dimensions".into());
        }
        let (val, tr): (Vec<_>, Vec<_>) = train
            .items()
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| in_holdout(&i.to_string(), d.val_fraction.unwrap_or(0.0), d.split_seed));
        let strip = |v: Vec<(usize, TsItem)>| v.into_iter().map(|(_, x)| x).collect();
        Ok(Splits::Series {
            train: strip(tr),
            val: strip(val),
            test: test.items().to_vec(),
            classes: train.classes().to_vec(),
            dims: train.dims(),
        })
    };
    let text = |rows: Vec<kindling_data::text::SentimentExample>| {
        let (rest, test) = split_by_text(binarize(&rows, d.threshold), d.test_fraction, d.split_seed);
        let (train, val) = split_by_text(rest, d.val_fraction.unwrap_or(0.1), d.split_seed + 1);
        Splits::Text { train, val, test }
    };
    match &d.data {
        Some(p) if is_series_file(p) => {
            let test = match &d.test {
                Some(t) => t.clone(),
                None => {
                    let name =
                        p.file_name().map(|n| n.to_string_lossy().replace("_TRAIN", "_TEST")).unwrap_or_default();
                    let guess = p.with_file_name(name);
                    if guess == *p || !guess.exists() {
                        return Err(format!("no test file for {}: pass --test FILE.ts", p.display()).into());
                    }
                    guess
                }
            };
            series(TsDataset::read(p)?, TsDataset::read(test)?)
        }
        Some(p) => Ok(text(read_sentiment(p, Decoding::Utf8OrWindows1252)?)),
        None => match d.dataset.as_str() {
            "sentiment" => Ok(text(samples::sentiment()?)),
            "japanese-vowels" | "vowels" => {
                series(series_samples::japanese_vowels_train()?, series_samples::japanese_vowels_test()?)
            }
            other => Err(format!("unknown --dataset `{other}`: expected sentiment or japanese-vowels").into()),
        },
    }
}

fn encode(vocab: &Vocab, rows: &[LabeledText]) -> Vec<TokenExample> {
    rows.iter().map(|r| TokenExample { ids: vocab.encode(&word_tokenize(&r.text)), label: r.label }).collect()
}

/// Model configuration from the flags and the input kind's defaults.
fn model_config(m: &ModelFlags, input: InputKind, classes: usize) -> CliResult<SequenceClassifierConfig> {
    let text = matches!(input, InputKind::Tokens { .. });
    let cell: CellKind = m.cell.as_deref().unwrap_or("lstm").parse()?;
    let pooling: Pooling = m.pooling.as_deref().unwrap_or(if text { "max" } else { "last" }).parse()?;
    let input = match input {
        InputKind::Tokens { vocab_size, .. } => {
            InputKind::Tokens { vocab_size, embedding_dim: m.embedding_dim.unwrap_or(128) }
        }
        other => other,
    };
    Ok(SequenceClassifierConfig::new(input, classes)
        .with_cell(cell)
        .with_hidden_size(m.hidden.unwrap_or(if text { 128 } else { 64 }))
        .with_num_layers(m.layers.unwrap_or(1))
        .with_bidirectional(m.bidirectional.unwrap_or(text))
        .with_pooling(pooling)
        .with_dropout(m.dropout.unwrap_or(if text { 0.5 } else { 0.2 }))
        .with_input_dropout(m.input_dropout.unwrap_or(if text { 0.3 } else { 0.0 }))
        .with_word_dropout(if text { m.word_dropout.unwrap_or(0.1) } else { 0.0 }))
}

/// Logits `[N * C]` of `items` in order.
fn logits_of<I>(
    model: &SequenceClassifier,
    items: &[I],
    collate: impl Fn(&[&I], &Device) -> kindling_seq::Result<ClassifierBatch>,
    device: &Device,
) -> CliResult<Vec<f32>> {
    let mut out = Vec::new();
    for chunk in items.chunks(64) {
        let refs: Vec<&I> = chunk.iter().collect();
        let b = collate(&refs, device)?;
        out.extend(kindling_core::tensor::to_vec_f32(model.forward(b.input, &b.lengths)?)?);
    }
    Ok(out)
}

/// Test metrics (accuracy, per class, confusion) from logits.
fn metrics(logits: &[f32], labels: &[usize], classes: &[String]) -> Metrics {
    let c = classes.len();
    let loss = logits
        .chunks(c)
        .zip(labels)
        .map(|(row, &y)| -f64::from(kindling_core::tensor::softmax(row)[y].max(1e-30)).ln())
        .sum::<f64>()
        / labels.len().max(1) as f64;
    Metrics::from_logits(logits, labels, classes, loss)
}

/// Items sorted by length (tighter evaluation batches; metrics do not depend on order).
fn by_length<I: Clone>(items: &[I], len: impl Fn(&I) -> usize) -> Vec<I> {
    let mut v = items.to_vec();
    v.sort_by_key(|i| len(i));
    v
}

/// Trains on any item type and reports; returns the trained model and test metrics.
#[allow(clippy::too_many_arguments)]
fn fit_and_test<I: Clone>(
    model: SequenceClassifier,
    train: &[I],
    val: &[I],
    test: &[I],
    collate: fn(&[&I], &Device) -> kindling_seq::Result<ClassifierBatch>,
    length: fn(&I) -> usize,
    label: fn(&I) -> usize,
    config: TrainConfig,
    options: &RunOptions,
    classes: &[String],
    device: &Device,
) -> CliResult<(SequenceClassifier, TrainHistory, Metrics, f64)> {
    let val = by_length(val, length);
    let step = |m: &SequenceClassifier, b| m.step(b);
    let eval = |m: &SequenceClassifier| {
        if val.is_empty() { Ok(None) } else { evaluate(m, &val, 64, collate, step, device).map(Some) }
    };
    let fit = Trainer::new(config)
        .with_options(options.clone())
        .with_length(length)
        .fit(model, train, collate, step, eval, device)?;
    let test = by_length(test, length);
    let logits = logits_of(&fit.model, &test, collate, device)?;
    let labels: Vec<usize> = test.iter().map(label).collect();
    Ok((fit.model, fit.history, metrics(&logits, &labels, classes), fit.seconds))
}

fn train(args: TrainArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.train.device)?;
    let splits = load_splits(&args.data)?;
    let name = match (&splits, &args.data.data) {
        (Splits::Text { .. }, _) => "sentiment",
        (Splits::Series { .. }, _) => "series",
    };
    let run = args.train.run_options(&format!("runs/seq-classify-{name}"), &format!("classify {name}"))?;
    let out = run.0.clone();
    kindling_core::seed_everything(args.train.seed, &device);
    let (model, meta, vocab, history, test, seconds, counts) = match splits {
        Splits::Text { train, val, test } => {
            let train = cap(train, args.train.max_examples);
            let (val, test) = (cap(val, args.train.max_eval), cap(test, args.train.max_eval));
            let vocab = VocabConfig::new()
                .with_min_freq(args.model.min_freq)
                .with_max_size(args.model.max_vocab)
                .build(train.iter().map(|t| word_tokenize(&t.text)));
            let input = InputKind::Tokens { vocab_size: vocab.len(), embedding_dim: 0 };
            let config = model_config(&args.model, input, 2)?;
            let classes: Vec<String> = SENTIMENT_CLASSES.iter().map(|s| s.to_string()).collect();
            let trainer = args.train.train_config(train.len(), 10, 32, 2e-3)?;
            write_config(&out, &args, &config, &trainer)?;
            let model = config.init(&device)?;
            let (tr, va, te) = (encode(&vocab, &train), encode(&vocab, &val), encode(&vocab, &test));
            let (m, h, t, s) = fit_and_test(
                model,
                &tr,
                &va,
                &te,
                collate_tokens,
                |e: &TokenExample| e.ids.len(),
                |e: &TokenExample| e.label,
                trainer,
                &run.1,
                &classes,
                &device,
            )?;
            let meta = ModelMeta { task: "classify".into(), classes, model: config, data: args.data.clone() };
            (m, meta, Some(vocab), h, t, s, (tr.len(), va.len(), te.len()))
        }
        Splits::Series { train, val, test, classes, dims } => {
            let train = cap(train, args.train.max_examples);
            let (val, test) = (cap(val, args.train.max_eval), cap(test, args.train.max_eval));
            let config = model_config(&args.model, InputKind::Features { size: dims }, classes.len())?;
            let trainer = args.train.train_config(train.len(), 30, 16, 5e-3)?;
            write_config(&out, &args, &config, &trainer)?;
            let standardize = Standardize::fit(train.iter().map(|i| &i.values[..]), dims, &device)?;
            let model = config.init(&device)?.with_standardize(standardize)?;
            let (m, h, t, s) = fit_and_test(
                model,
                &train,
                &val,
                &test,
                collate_series,
                |e: &TsItem| e.len,
                |e: &TsItem| e.label,
                trainer,
                &run.1,
                &classes,
                &device,
            )?;
            let meta = ModelMeta { task: "classify".into(), classes, model: config, data: args.data.clone() };
            (m, meta, None, h, t, s, (train.len(), val.len(), test.len()))
        }
    };
    save_model_dir(&out, &model, &meta, vocab.as_ref())?;
    let report = serde_json::json!({
        "task": "classify",
        "data": name,
        "examples": {"train": counts.0, "validation": counts.1, "test": counts.2},
        "epochs": history.epochs,
        "best_epoch": history.best_epoch().map(|e| e.epoch),
        "stopped_early": history.stopped_early,
        "test": test,
        "train_seconds": seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    save_json(&out.join("metrics.json"), &report)?;
    write_curves(&out.join("curves.png"), &format!("classify {name}"), &history.epochs, "accuracy")?;
    plot_confusion(&out.join("confusion.png"), &format!("classify {name} (test)"), &test)?;
    println!(
        "test accuracy {:.4} on {} examples (train {}, validation {}); {:.1} s; run folder {}",
        test.accuracy,
        test.count,
        counts.0,
        counts.1,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn write_config(out: &Path, args: &TrainArgs, model: &SequenceClassifierConfig, config: &TrainConfig) -> CliResult {
    save_json(
        &out.join("config.json"),
        &serde_json::json!({
            "command": "seq classify train",
            "data": args.data,
            "model_flags": args.model,
            "train_flags": args.train,
            "model": model,
            "trainer": config,
        }),
    )
}

/// A trained model with its metadata (and vocabulary for text).
fn load(path: &Path, device: &Device) -> CliResult<(SequenceClassifier, ModelMeta, Option<Vocab>)> {
    let dir = model_dir(path);
    let meta: ModelMeta = load_json(&dir.join("model.json"))?;
    let model = load_module(meta.model.init(device)?, &dir.join("model.bpk"))?;
    let vocab = match meta.model.input {
        InputKind::Tokens { .. } => Some(Vocab::load(dir.join("vocab.json"))?),
        InputKind::Features { .. } => None,
    };
    Ok((model, meta, vocab))
}

fn eval(args: EvalArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, meta, vocab) = load(&args.model, &device)?;
    let mut data = meta.data.clone();
    if args.data.is_some() {
        data.data = args.data.clone();
        data.test = args.test.clone();
    }
    let (logits, labels) = match (load_splits(&data)?, &vocab) {
        (Splits::Text { test, .. }, Some(vocab)) => {
            let test = encode(vocab, &cap(test, args.max_eval));
            (logits_of(&model, &test, collate_tokens, &device)?, test.iter().map(|e| e.label).collect())
        }
        (Splits::Series { test, .. }, None) => {
            let test = cap(test, args.max_eval);
            (logits_of(&model, &test, collate_series, &device)?, test.iter().map(|e| e.label).collect::<Vec<_>>())
        }
        _ => return Err("the data does not match the model's input (text vs series)".into()),
    };
    let m = metrics(&logits, &labels, &meta.classes);
    print_json_lines(&[serde_json::json!({
        "accuracy": m.accuracy, "count": m.count, "loss": m.loss, "macro_f1": m.macro_f1,
        "per_class": m.per_class, "confusion": m.confusion,
    })])
}

/// Parses one series in `.ts` case syntax (`v,v,…:v,v,…`, an optional trailing `:label`).
fn parse_case(line: &str, dims: usize, classes: &[String], n: usize) -> CliResult<TsItem> {
    let mut parts: Vec<&str> = line.trim().split(':').collect();
    if parts.len() == dims + 1 && classes.iter().any(|c| c == parts[dims].trim()) {
        parts.pop();
    }
    if parts.len() != dims {
        return Err(format!("input {n}: expected {dims} dimensions separated by `:`, found {}", parts.len()).into());
    }
    let cols: Vec<Vec<f32>> = parts
        .iter()
        .map(|p| p.split(',').map(|v| v.trim().parse::<f32>()).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("input {n}: {e}"))?;
    let len = cols[0].len();
    if cols.iter().any(|c| c.len() != len) {
        return Err(format!("input {n}: the dimensions have different lengths").into());
    }
    let values = (0..len).flat_map(|t| cols.iter().map(move |c| c[t])).collect();
    Ok(TsItem { values, len, dims, label: 0 })
}

fn predict(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, meta, vocab) = load(&args.model, &device)?;
    let mut records = Vec::new();
    let mut emit = |batch: ClassifierBatch, info: Vec<serde_json::Value>| -> CliResult {
        let probs = model.probabilities(batch.input, &batch.lengths)?;
        for (p, mut rec) in probs.into_iter().zip(info) {
            let best = kindling_core::tensor::argmax_chunks(&p, p.len())[0];
            rec["label"] = meta.classes[best].clone().into();
            rec["probabilities"] = meta.classes.iter().cloned().zip(p.iter().map(|&x| f64::from(x))).collect();
            records.push(rec);
        }
        Ok(())
    };
    match (meta.model.input, &vocab) {
        (InputKind::Tokens { .. }, Some(vocab)) => {
            for line in input_lines(&args.inputs)? {
                let ex = TokenExample { ids: vocab.encode(&word_tokenize(&line)), label: 0 };
                emit(collate_tokens(&[&ex], &device)?, vec![serde_json::json!({ "text": line })])?;
            }
        }
        (InputKind::Features { size }, None) => {
            let items: Vec<(TsItem, serde_json::Value)> = match &args.input {
                Some(p) => TsDataset::read(p)?
                    .items()
                    .iter()
                    .enumerate()
                    .map(|(i, it)| {
                        (it.clone(), serde_json::json!({ "index": i, "true_label": meta.classes.get(it.label) }))
                    })
                    .collect(),
                None => input_lines(&args.inputs)?
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        parse_case(l, size, &meta.classes, i + 1).map(|it| (it, serde_json::json!({ "index": i })))
                    })
                    .collect::<CliResult<_>>()?,
            };
            for (item, info) in items {
                emit(collate_series(&[&item], &device)?, vec![info])?;
            }
        }
        _ => return Err("corrupt model folder: input kind and vocabulary disagree".into()),
    }
    print_json_lines(&records)
}

/// Runs `kindling seq classify`.
pub fn run(args: ClassifyArgs) -> CliResult {
    match args.command {
        ClassifyCommand::Train(a) => train(*a),
        ClassifyCommand::Eval(a) => eval(a),
        ClassifyCommand::Predict(a) => predict(a),
    }
}
