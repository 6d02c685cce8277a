//! End-to-end tests of `kindling seq classify|tag train|eval|predict` on small cuts of the
//! embedded samples: the run folder, eval agreeing with training's test score, predict's JSON lines.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kindling(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kindling"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn assert_run_folder(dir: &Path, epochs: usize) -> serde_json::Value {
    for f in ["config.json", "metrics.json", "checkpoint/state.json", "checkpoint/model.bpk", "model/model.json"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    for png in ["curves.png", "confusion.png"] {
        let bytes = std::fs::read(dir.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    let metrics = json(&dir.join("metrics.json"));
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), epochs);
    metrics
}

#[test]
fn classify_sentiment_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    let cut = ["--max-examples", "64", "--max-eval", "24", "--hidden", "16", "--embedding-dim", "16"];
    let mut args = vec!["seq", "classify", "train", "--out", r, "--epochs", "1", "--progress", "plain"];
    args.extend(cut);
    let stdout = ok(&kindling(&args, None));
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let metrics = assert_run_folder(&run, 1);
    assert!(run.join("model/vocab.json").is_file());
    assert_eq!(metrics["examples"]["train"], 64);
    let test = &metrics["test"];
    assert_eq!(test["count"], 24);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(test["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 24);
    let config = json(&run.join("config.json"));
    assert_eq!(config["model"]["hidden_size"], 16);

    // eval on the same test cut gives the training run's test accuracy.
    let eval = lines(&ok(&kindling(&["seq", "classify", "eval", "--model", r, "--max-eval", "24"], None)));
    assert_eq!(eval[0]["accuracy"], test["accuracy"]);
    assert_eq!(eval[0]["confusion"], test["confusion"]);

    // predict: arguments, then stdin lines.
    let out = lines(&ok(&kindling(
        &["seq", "classify", "predict", "--model", r, "A gorgeous, moving film.", "Dull and lifeless."],
        None,
    )));
    assert_eq!(out.len(), 2);
    for rec in &out {
        assert!(["negative", "positive"].contains(&rec["label"].as_str().unwrap()));
        let p = &rec["probabilities"];
        let sum = p["negative"].as_f64().unwrap() + p["positive"].as_f64().unwrap();
        assert!((sum - 1.0).abs() < 1e-5);
    }
    assert_eq!(out[1]["text"], "Dull and lifeless.");
    let model = run.join("model");
    let piped = lines(&ok(&kindling(
        &["seq", "classify", "predict", "--model", model.to_str().unwrap()],
        Some("so bad\n\nso good\n"),
    )));
    assert_eq!(piped.len(), 2);

    // --resume continues the run: one more epoch on top of the checkpoint.
    let mut args = vec!["seq", "classify", "train", "--out", r, "--epochs", "2", "--resume", "--progress", "quiet"];
    args.extend(cut);
    ok(&kindling(&args, None));
    let resumed = assert_run_folder(&run, 2);
    assert_eq!(resumed["epochs"][0], metrics["epochs"][0], "the first epoch comes from the checkpoint");
}

#[test]
fn classify_japanese_vowels_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("vowels");
    let r = run.to_str().unwrap();
    let stdout = ok(&kindling(
        &[
            "seq",
            "classify",
            "train",
            "--dataset",
            "japanese-vowels",
            "--out",
            r,
            "--epochs",
            "2",
            "--max-examples",
            "60",
            "--max-eval",
            "40",
            "--hidden",
            "8",
            "--progress",
            "quiet",
        ],
        None,
    ));
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let metrics = assert_run_folder(&run, 2);
    assert_eq!(metrics["test"]["count"], 40);
    assert_eq!(metrics["test"]["per_class"].as_array().unwrap().len(), 9);
    let eval = lines(&ok(&kindling(&["seq", "classify", "eval", "--model", r, "--max-eval", "40"], None)));
    assert_eq!(eval[0]["accuracy"], metrics["test"]["accuracy"]);
    // Two 12-dimensional series of 3 steps in .ts case syntax, one with a trailing label.
    let dim = "0.1,0.2,0.3";
    let case = [dim; 12].join(":");
    let input = format!("{case}\n{case}:3\n");
    let out = lines(&ok(&kindling(&["seq", "classify", "predict", "--model", r], Some(&input))));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["label"], out[1]["label"]);
    assert_eq!(out[0]["probabilities"].as_object().unwrap().len(), 9);
    let bad = kindling(&["seq", "classify", "predict", "--model", r], Some("1,2:3,4\n"));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected 12 dimensions"));
}

#[test]
fn tag_train_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("tag");
    let r = run.to_str().unwrap();
    let stdout = ok(&kindling(
        &[
            "seq",
            "tag",
            "train",
            "--out",
            r,
            "--epochs",
            "1",
            "--max-examples",
            "60",
            "--max-eval",
            "20",
            "--hidden",
            "16",
            "--embedding-dim",
            "16",
            "--progress",
            "plain",
        ],
        None,
    ));
    assert!(stdout.contains("most-frequent-tag baseline"), "{stdout}");
    let metrics = assert_run_folder(&run, 1);
    let test = &metrics["test"];
    assert_eq!(test["per_tag"].as_array().unwrap().len(), 12);
    assert!(metrics["test_extra"]["per_tag_accuracy"]["NOUN"].is_number());
    let eval = lines(&ok(&kindling(&["seq", "tag", "eval", "--model", r, "--max-eval", "20"], None)));
    assert_eq!(eval[0]["accuracy"], test["accuracy"]);
    assert_eq!(eval[0]["tokens"], test["tokens"]);
    let out = lines(&ok(&kindling(&["seq", "tag", "predict", "--model", r, "The jury praised the city."], None)));
    let tokens = out[0]["tokens"].as_array().unwrap();
    let tags = out[0]["tags"].as_array().unwrap();
    assert_eq!(tokens.len(), 6);
    assert_eq!(tags.len(), 6);
    let names = ["NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X"];
    assert!(tags.iter().all(|t| names.contains(&t.as_str().unwrap())));
}

#[test]
fn bad_paths_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = kindling(&["seq", "classify", "eval", "--model", missing.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));
    let tsv = dir.path().join("bad.tsv");
    std::fs::write(&tsv, "1\t0.9\tfine\n2\tnot-a-number\tbad\n").unwrap();
    let out = kindling(
        &["seq", "classify", "train", "--data", tsv.to_str().unwrap(), "--out", dir.path().to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.tsv:2"), "{err}");
    let ts = dir.path().join("Only_TRAIN.ts");
    std::fs::write(&ts, "@classLabel true a b\n@data\n1,2:a\n").unwrap();
    let out = kindling(&["seq", "classify", "train", "--data", ts.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--test"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kindling(&["seq", "tag", "train", "--data", dir.path().to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Brown corpus files"));
}
