//! End-to-end tests of `kindling seq caption|lm|translate train|eval|predict` on small cuts of the
//! embedded samples: the run folder, eval agreeing with training's test metric, predict's
//! output, and typed errors for bad input.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn kindling(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kindling")).args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "should fail: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_run_folder(dir: &Path, epochs: usize) -> serde_json::Value {
    for f in [
        "config.json",
        "metrics.json",
        "samples.json",
        "checkpoint/state.json",
        "checkpoint/model.bpk",
        "model/model.json",
        "model/model.bpk",
        "model/vocab.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(&std::fs::read(dir.join("curves.png")).unwrap()[1..4], b"PNG");
    let metrics = json(&dir.join("metrics.json"));
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), epochs);
    metrics
}

#[test]
fn caption_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let args = [
        "seq",
        "caption",
        "train",
        "--out",
        r,
        "--epochs",
        "2",
        "--progress",
        "plain",
        "--train-strips",
        "160",
        "--val-strips",
        "16",
        "--test-strips",
        "40",
        "--base-width",
        "4",
        "--stages",
        "2",
        "--hidden",
        "24",
        "--embedding-dim",
        "8",
        "--batch-size",
        "16",
        "--beam",
        "2",
    ];
    let stdout = ok(&kindling(&args));
    assert!(stdout.contains("test exact match"), "{stdout}");
    let metrics = assert_run_folder(&run, 2);
    assert_eq!(metrics["examples"]["test_strips"], 40);
    // Test compositions of two or more digits are never training ones.
    assert_eq!(metrics["test_multi_digit_sequences_seen_in_training"], 0);
    let exact = metrics["test"]["beam"]["rates"]["exact_match"].as_f64().unwrap();
    let token = metrics["test"]["beam"]["rates"]["token_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&exact) && token <= 1.0, "{exact} {token}");
    assert!(metrics["epochs"][1]["val"]["extra"]["token_accuracy"].is_number());
    let sample = &json(&run.join("samples.json"))[0];
    for key in ["digits", "truth", "predicted", "correct"] {
        assert!(!sample[key].is_null(), "{key} missing in {sample}");
    }

    // eval re-draws the same test strips and reproduces the training run's figure.
    let out = lines(&ok(&kindling(&["seq", "caption", "eval", "--model", r, "--beam", "2"])));
    assert_eq!(out[0]["strips"], 40);
    assert!((out[0]["exact_match"].as_f64().unwrap() - exact).abs() < 1e-12);
    assert!((out[0]["token_accuracy"].as_f64().unwrap() - token).abs() < 1e-12);
    // Also for a captioner saved before its decoder config had weight dropout.
    let older = saved_before_weight_dropout(&run, &dir.path().join("older"), "decoder");
    let out = lines(&ok(&kindling(&["seq", "caption", "eval", "--model", older.to_str().unwrap(), "--beam", "2"])));
    assert!((out[0]["exact_match"].as_f64().unwrap() - exact).abs() < 1e-12);

    // predict on random strips, saved as PNG, then on those files: the same captions.
    let strips = dir.path().join("strips");
    let s = strips.to_str().unwrap();
    let random =
        lines(&ok(&kindling(&["seq", "caption", "predict", "--model", r, "--random", "3", "--save-strips", s])));
    assert_eq!(random.len(), 3);
    assert!(random.iter().all(|v| v["truth"].is_string() && v["caption"].is_string()));
    let files: Vec<String> = (0..3).map(|i| strips.join(format!("strip-{i:03}.png")).display().to_string()).collect();
    let mut args = vec!["seq", "caption", "predict", "--model", r];
    args.extend(files.iter().map(String::as_str));
    let from_files = lines(&ok(&kindling(&args)));
    for (a, b) in random.iter().zip(&from_files) {
        assert_eq!(a["caption"], b["caption"]);
    }

    // Bad input: a missing image, a missing model, a folder that is not MNIST.
    let missing = dir.path().join("nope.png");
    let err = failed(&kindling(&["seq", "caption", "predict", "--model", r, missing.to_str().unwrap()]));
    assert!(err.contains("nope.png"), "{err}");
    let err = failed(&kindling(&["seq", "caption", "eval", "--model", dir.path().join("none").to_str().unwrap()]));
    assert!(err.contains("model.json"), "{err}");
    let err = failed(&kindling(&["seq", "caption", "eval", "--model", r, "--data", "idx:/no/such/dir"]));
    assert!(err.contains("/no/such/dir"), "{err}");
}

/// A copy of the model of `run` at `to` as saved before weight dropout existed: its model.json
/// without the setting in the config `object`.
fn saved_before_weight_dropout(run: &Path, to: &Path, object: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(to.join("model")).unwrap();
    for file in std::fs::read_dir(run.join("model")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, to.join("model").join(file.file_name().unwrap())).unwrap();
    }
    let mut meta = json(&run.join("model/model.json"));
    assert!(meta[object].as_object_mut().unwrap().remove("weight_dropout").is_some());
    std::fs::write(to.join("model/model.json"), meta.to_string()).unwrap();
    to.to_path_buf()
}

#[test]
fn lm_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let args = [
        "seq",
        "lm",
        "train",
        "--out",
        r,
        "--epochs",
        "3",
        "--progress",
        "plain",
        "--max-examples",
        "12000",
        "--hidden",
        "48",
        "--layers",
        "1",
        "--embedding-dim",
        "16",
        "--batch-size",
        "16",
        "--bptt",
        "32",
        "--lr",
        "0.01",
        "--length",
        "50",
        "--dropout",
        "0",
    ];
    let stdout = ok(&kindling(&args));
    assert!(stdout.contains("bits per character"), "{stdout}");
    let metrics = assert_run_folder(&run, 3);
    let test_bpc = metrics["test"]["bits_per_char"].as_f64().unwrap();
    let val_bpc = metrics["validation"]["bits_per_char"].as_f64().unwrap();
    // Learning: well below the uniform log2(69) ≈ 6.1 bits of the embedded text's characters.
    assert!(val_bpc < 4.5 && test_bpc < 4.5, "{val_bpc} {test_bpc}");
    assert_eq!(metrics["characters"]["vocabulary"], 69);
    let sample = metrics["sample"]["text"].as_str().unwrap();
    assert_eq!(sample.chars().count(), 50);

    // eval reproduces the training run's test bits per character, also for a model saved before
    // weight dropout existed (its model.json without the setting).
    let out = lines(&ok(&kindling(&["seq", "lm", "eval", "--model", r])));
    assert!((out[0]["bits_per_char"].as_f64().unwrap() - test_bpc).abs() < 1e-6, "{out:?} {test_bpc}");
    let older = saved_before_weight_dropout(&run, &dir.path().join("older"), "model");
    let out = lines(&ok(&kindling(&["seq", "lm", "eval", "--model", older.to_str().unwrap()])));
    assert!((out[0]["bits_per_char"].as_f64().unwrap() - test_bpc).abs() < 1e-6, "{out:?} {test_bpc}");

    // predict: plain text after the seed, reproducible for a seed; JSON on request.
    let p = ["seq", "lm", "predict", "--model", r, "--seed-text", "Call me", "--length", "40", "--temperature", "0.8"];
    let text = ok(&kindling(&p));
    assert!(text.starts_with("Call me") && text.trim_end_matches('\n').chars().count() >= 40, "{text:?}");
    assert_eq!(text, ok(&kindling(&p)));
    let mut pj = p.to_vec();
    pj.extend(["--top-k", "1", "--json"]);
    let greedy = lines(&ok(&kindling(&pj)));
    let mut p0 = p[..p.len() - 2].to_vec();
    p0.extend(["--temperature", "0", "--json"]);
    // top-k 1 is greedy, whatever the temperature.
    assert_eq!(greedy[0]["text"], lines(&ok(&kindling(&p0)))[0]["text"]);

    // Fine-tuning from the trained model (--init): its first epoch starts where the run ended,
    // below the first epoch of the run from random weights.
    let tuned = dir.path().join("tuned");
    let t = tuned.to_str().unwrap();
    let mut ft: Vec<&str> = args.to_vec();
    let at = ft.iter().position(|a| *a == "--out").unwrap();
    ft[at + 1] = t;
    for (flag, value) in [("--epochs", "1"), ("--hidden", "8")] {
        let at = ft.iter().position(|a| *a == flag).unwrap();
        ft[at + 1] = value; // --hidden is ignored: the architecture comes from --init
    }
    // Fine-tuning with weight dropout on the recurrent matrices (kept in the model's config).
    ft.extend(["--init", r, "--weight-dropout", "0.2"]);
    ok(&kindling(&ft));
    let first = |m: &serde_json::Value| m["epochs"][0]["val"]["loss"].as_f64().unwrap();
    let tuned_metrics = assert_run_folder(&tuned, 1);
    assert!(first(&tuned_metrics) < first(&metrics), "{} vs {}", first(&tuned_metrics), first(&metrics));
    let tuned_model = json(&tuned.join("model/model.json"));
    assert_eq!(tuned_model["model"]["hidden_size"], 48);
    assert_eq!(tuned_model["model"]["weight_dropout"], 0.2);
    // The two as a mixture: never worse than their mean bits per character.
    let bpc = |models: &[&str]| {
        let mut a = vec!["seq", "lm", "eval"];
        models.iter().for_each(|m| a.extend(["--model", m]));
        lines(&ok(&kindling(&a)))[0]["bits_per_char"].as_f64().unwrap()
    };
    let (alone, tuned_alone, mixed) = (bpc(&[r]), bpc(&[t]), bpc(&[r, t]));
    assert!(mixed <= (alone + tuned_alone) / 2.0 + 1e-9, "{mixed} {alone} {tuned_alone}");
    let foreign = dir.path().join("foreign.txt");
    std::fs::write(&foreign, "日本語のテキスト。".repeat(20)).unwrap();
    ft.extend(["--data", foreign.to_str().unwrap()]);
    let err = failed(&kindling(&ft));
    assert!(err.contains("foreign.txt") && err.contains("vocabulary"), "{err}");

    // Bad input: missing file, empty text, an unknown seed character.
    let missing = dir.path().join("missing.txt");
    let err = failed(&kindling(&["seq", "lm", "eval", "--model", r, "--data", missing.to_str().unwrap()]));
    assert!(err.contains("missing.txt"), "{err}");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = failed(&kindling(&["seq", "lm", "train", "--out", r, "--data", empty.to_str().unwrap()]));
    assert!(err.contains("empty.txt"), "{err}");
    let err = failed(&kindling(&["seq", "lm", "predict", "--model", r, "--seed-text", "日本"]));
    assert!(err.contains("--seed-text"), "{err}");
}

#[test]
fn translate_train_eval_predict_and_ensembles() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let small = ["--hidden", "32", "--embedding-dim", "16", "--batch-size", "32", "--lr", "0.01", "--beam", "2"];
    let mut args = vec!["seq", "translate", "train", "--out", r, "--epochs", "2", "--progress", "plain"];
    args.extend(["--max-examples", "1500", "--max-eval", "150", "--weight-dropout", "0.1"]);
    args.extend(small);
    let stdout = ok(&kindling(&args));
    assert!(stdout.contains("test WER"), "{stdout}");
    assert_eq!(json(&run.join("model/model.json"))["model"]["weight_dropout"], 0.1);
    let metrics = assert_run_folder(&run, 2);
    let (wer, per) = (&metrics["test"]["beam"]["rates"]["wer"], &metrics["test"]["beam"]["rates"]["per"]);
    let (wer, per) = (wer.as_f64().unwrap(), per.as_f64().unwrap());
    assert!(per < 0.9, "two epochs of a tiny model on 1,500 words: phonemes start to come right ({per})");

    // eval reproduces the training run's test WER; the run twice as an ensemble decodes alike.
    let eval = |models: &[&str]| {
        let mut a = vec!["seq", "translate", "eval", "--max-eval", "150", "--beam", "2"];
        for m in models {
            a.extend(["--model", m]);
        }
        lines(&ok(&kindling(&a))).remove(0)
    };
    let single = eval(&[r]);
    assert_eq!(single["wer"].as_f64().unwrap(), wer, "{single}");
    let older = saved_before_weight_dropout(&run, &dir.path().join("older"), "model");
    assert_eq!(eval(&[older.to_str().unwrap()])["wer"].as_f64().unwrap(), wer, "a model saved before weight dropout");
    let listed = dir.path().join("predictions.jsonl");
    let l = listed.to_str().unwrap();
    ok(&kindling(&["seq", "translate", "eval", "--model", r, "--max-eval", "150", "--beam", "2", "--predictions", l]));
    let rows = lines(&std::fs::read_to_string(&listed).unwrap());
    assert_eq!(rows.len(), 150);
    let wrong = rows.iter().filter(|p| p["correct"] == false).count();
    assert_eq!(wrong as f64 / 150.0, wer);
    let twice = eval(&[r, r]);
    assert_eq!(twice["models"], 2);
    assert!((twice["wer"].as_f64().unwrap() - wer).abs() <= 0.01, "{twice} vs {wer}");
    assert!((twice["per"].as_f64().unwrap() - per).abs() <= 0.01, "{twice} vs {per}");

    let p = ["seq", "translate", "predict", "--model", r, "--model", r, "--nbest", "2", "cat", "house"];
    let out = lines(&ok(&kindling(&p)));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["source"], "cat");
    assert_eq!(out[0]["nbest"].as_array().unwrap().len(), 2);

    // Models with other vocabularies cannot form an ensemble: a typed error naming both runs.
    let tsv = dir.path().join("pairs.tsv");
    std::fs::write(&tsv, "a b\tx y\nb a\ty x\na a\tx x\nb b\ty y\n".repeat(10)).unwrap();
    let other = dir.path().join("other");
    let o = other.to_str().unwrap();
    let mut args = vec!["seq", "translate", "train", "--out", o, "--epochs", "1", "--progress", "quiet"];
    args.extend(["--data", tsv.to_str().unwrap()]);
    args.extend(small);
    ok(&kindling(&args));
    let err = failed(&kindling(&["seq", "translate", "eval", "--model", r, "--model", o]));
    assert!(err.contains("different vocabularies") && err.contains("other"), "{err}");
}
