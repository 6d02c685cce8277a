//! The BiLSTM tagger on the embedded Brown files: it beats the most-frequent-tag baseline, and
//! its loss ignores padding.
#![allow(clippy::unwrap_used)]

mod common;

use kindling_data::text::{UniversalTag, samples};
use kindling_seq::tagger::{
    TagScores, TaggedExample, Tagger, TaggerConfig, TaggerVocab, collate_tagged, most_frequent_tag,
};
use kindling_seq::train::{ProgressMode, RunOptions, TrainConfig, Trainer};

fn tag_names() -> Vec<String> {
    UniversalTag::ALL.iter().map(|t| t.as_str().to_string()).collect()
}

#[test]
fn tagger_beats_most_frequent_tag_baseline_on_brown_sample() {
    let _rng = common::rng_lock();
    let device = kindling_core::default_device();
    kindling_core::seed_everything(11, &device);
    let sentences = samples::brown().unwrap();
    let pairs: Vec<Vec<(&str, &str)>> =
        sentences.iter().map(|s| s.iter().map(|t| (t.word.as_str(), t.tag.as_str())).collect()).collect();
    // Every 10th sentence held out.
    let (test, train): (Vec<_>, Vec<_>) = pairs.iter().enumerate().partition(|(i, _)| i % 10 == 9);
    let train: Vec<Vec<(&str, &str)>> = train.into_iter().map(|(_, s)| s.clone()).collect();
    let test: Vec<Vec<(&str, &str)>> = test.into_iter().map(|(_, s)| s.clone()).collect();
    let tags = tag_names();
    let vocab = TaggerVocab::build(&train, &tags, 2, 3, 2).unwrap();
    let enc =
        |s: &[Vec<(&str, &str)>]| -> Vec<TaggedExample> { s.iter().map(|s| vocab.encode_tagged(s).unwrap()).collect() };
    let (train_x, test_x) = (enc(&train), enc(&test));

    let model = TaggerConfig::new(vocab.words.len(), tags.len())
        .with_suffix_vocab_size(vocab.suffixes.len())
        .with_embedding_dim(32)
        .with_hidden_size(32)
        .init(&device)
        .unwrap();
    let start = std::time::Instant::now();
    let out = Trainer::new(TrainConfig::new().with_epochs(10).with_batch_size(16).with_lr(1e-2).with_seed(11))
        .with_options(RunOptions { progress: ProgressMode::Quiet, ..Default::default() })
        .with_length(|e: &TaggedExample| e.words.len())
        .fit(model, &train_x, collate_tagged, |m: &Tagger, b| m.step(b), |_| Ok(None), &device)
        .unwrap();
    let refs: Vec<&TaggedExample> = test_x.iter().collect();
    let predicted: Vec<Vec<usize>> =
        refs.chunks(32).flat_map(|c| out.model.predict(&collate_tagged(c, &device).unwrap()).unwrap()).collect();
    let gold: Vec<Vec<usize>> = test_x.iter().map(|e| e.tags.clone()).collect();
    let scores = TagScores::new(&predicted, &gold, &tags);

    let train_ids: Vec<Vec<(&str, usize)>> =
        train.iter().map(|s| s.iter().map(|(w, t)| (*w, vocab.tag_id(t).unwrap())).collect()).collect();
    let test_words: Vec<Vec<&str>> = test.iter().map(|s| s.iter().map(|(w, _)| *w).collect()).collect();
    let baseline = TagScores::new(&most_frequent_tag(&train_ids, &test_words), &gold, &tags);
    eprintln!(
        "brown sample: tagger {:.4} vs most-frequent-tag {:.4} on {} tokens ({:.1} s)",
        scores.accuracy,
        baseline.accuracy,
        scores.tokens,
        start.elapsed().as_secs_f64()
    );
    assert_eq!(scores.tokens, gold.iter().map(Vec::len).sum::<usize>());
    assert!(scores.accuracy > baseline.accuracy, "{} <= baseline {}", scores.accuracy, baseline.accuracy);
}

#[test]
fn loss_and_predictions_ignore_padding() {
    let _rng = common::rng_lock();
    let device = kindling_core::default_device();
    kindling_core::seed_everything(12, &device);
    let sentences = samples::brown().unwrap();
    let pairs: Vec<Vec<(&str, &str)>> =
        sentences[..40].iter().map(|s| s.iter().map(|t| (t.word.as_str(), t.tag.as_str())).collect()).collect();
    let tags = tag_names();
    let vocab = TaggerVocab::build(&pairs, &tags, 1, 3, 1).unwrap();
    let model = TaggerConfig::new(vocab.words.len(), tags.len())
        .with_suffix_vocab_size(vocab.suffixes.len())
        .with_embedding_dim(8)
        .with_hidden_size(8)
        .init(&device)
        .unwrap();
    let (a, b) = (vocab.encode_tagged(&pairs[0]).unwrap(), vocab.encode_tagged(&pairs[1]).unwrap());
    assert_ne!(a.words.len(), b.words.len());
    let loss = |items: &[&TaggedExample]| {
        let out = model.step(collate_tagged(items, &device).unwrap()).unwrap();
        (out.loss.into_scalar::<f32>() as f64, out.count)
    };
    let (la, na) = loss(&[&a]);
    let (lb, nb) = loss(&[&b]);
    let (lab, nab) = loss(&[&a, &b]);
    assert_eq!(nab, na + nb);
    let expected = (la * na as f64 + lb * nb as f64) / nab as f64;
    assert!((lab - expected).abs() < 1e-5, "batched loss {lab} vs token-weighted {expected}");
    let together = model.predict(&collate_tagged(&[&a, &b], &device).unwrap()).unwrap();
    let alone = [&a, &b].map(|e| model.predict(&collate_tagged(&[e], &device).unwrap()).unwrap().remove(0));
    assert_eq!(together, alone.to_vec());
    // Batches without tags cannot train.
    let untagged = vocab.encode(&["The", "jury"]);
    assert!(model.step(collate_tagged(&[&untagged], &device).unwrap()).is_err());
}
