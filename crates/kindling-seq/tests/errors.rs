//! Typed errors: weight import, configuration and forward inputs.

mod common;

use burn::tensor::{Distribution, Tensor};
use common::Case;
use kindling_seq::{CellKind, RecurrentConfig, RecurrentState, SeqError, StateDict};

fn lstm_bi2() -> (Case, kindling_seq::Recurrent) {
    let case = Case::load("lstm_bi2");
    let rnn = case.config.init(&kindling_core::default_device()).expect("init");
    (case, rnn)
}

#[test]
fn missing_key_is_named() {
    let (case, rnn) = lstm_bi2();
    let mut dict = case.dict.clone();
    assert!(dict.remove("rnn.bias_hh_l1_reverse"));
    match rnn.load_state_dict(&dict, "rnn") {
        Err(SeqError::MissingKey { file, key, expected }) => {
            assert!(file.ends_with("lstm_bi2.safetensors"), "{file}");
            assert_eq!(key, "rnn.bias_hh_l1_reverse");
            assert_eq!(expected, vec![28]);
        }
        other => panic!("expected MissingKey, got {other:?}"),
    }
}

#[test]
fn wrong_prefix_reports_the_first_missing_key() {
    let (case, rnn) = lstm_bi2();
    let err = rnn.load_state_dict(&case.dict, "encoder.rnn").expect_err("wrong prefix");
    assert!(matches!(err, SeqError::MissingKey { ref key, .. } if key == "encoder.rnn.weight_ih_l0"), "{err}");
}

#[test]
fn mis_shaped_key_is_named_with_both_shapes() {
    let (case, rnn) = lstm_bi2();
    let mut dict = case.dict.clone();
    dict.insert("rnn.weight_hh_l1", vec![28, 6], vec![0.0; 28 * 6]).expect("insert");
    let err = rnn.load_state_dict(&dict, "rnn.").expect_err("bad shape");
    match &err {
        SeqError::ShapeMismatch { key, expected, found, .. } => {
            assert_eq!(key, "rnn.weight_hh_l1");
            assert_eq!((expected.as_slice(), found.as_slice()), (&[28, 7][..], &[28, 6][..]));
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("rnn.weight_hh_l1") && err.to_string().contains("[28, 6]"), "{err}");
}

#[test]
fn configuration_mismatches_are_unexpected_keys() {
    let device = kindling_core::default_device();
    let case = Case::load("lstm_bi2");
    let cfg = || RecurrentConfig::new(CellKind::Lstm, 5, 7);
    let reason = |rnn: kindling_seq::Recurrent| match rnn.load_state_dict(&case.dict, "rnn") {
        Err(SeqError::UnexpectedKey { key, reason, .. }) => (key, reason),
        other => panic!("expected UnexpectedKey, got {other:?}"),
    };
    // A unidirectional config meets `_reverse` keys.
    let (key, why) = reason(cfg().with_num_layers(2).init(&device).expect("init"));
    assert!(key.ends_with("_reverse") && why.contains("not bidirectional"), "{key}: {why}");
    // A bias-free config meets biases.
    let (key, why) =
        reason(cfg().with_num_layers(2).with_bidirectional(true).with_bias(false).init(&device).expect("init"));
    assert!(key.contains("bias") && why.contains("bias = false"), "{key}: {why}");
    // One layer meets `l1` keys (the second layer's input size differs, so build one layer).
    let one = RecurrentConfig::new(CellKind::Lstm, 5, 7).with_bidirectional(true).init(&device).expect("init");
    let (key, why) = reason(one);
    assert!(key.contains("_l1") && why.contains("num_layers = 1"), "{key}: {why}");
    // LSTM projections are refused by name.
    let mut dict = case.dict.clone();
    dict.insert("rnn.weight_hr_l0", vec![3, 7], vec![0.0; 21]).expect("insert");
    let err =
        cfg().with_num_layers(2).with_bidirectional(true).init(&device).expect("init").load_state_dict(&dict, "rnn");
    assert!(matches!(err, Err(SeqError::UnexpectedKey { ref reason, .. }) if reason.contains("proj_size")));
    // Keys outside the prefix (the rest of a model) are ignored.
    let mut dict = case.dict.clone();
    dict.insert("fc.weight", vec![2, 14], vec![0.0; 28]).expect("insert");
    dict.insert("weight_ih_l9", vec![1], vec![0.0]).expect("insert");
    assert!(
        cfg()
            .with_num_layers(2)
            .with_bidirectional(true)
            .init(&device)
            .expect("init")
            .load_state_dict(&dict, "rnn")
            .is_ok()
    );
}

#[test]
fn kind_mismatch_is_a_shape_error() {
    let device = kindling_core::default_device();
    let case = Case::load("gru_bi2");
    let lstm = RecurrentConfig::new(CellKind::Lstm, 5, 7)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init(&device)
        .expect("init");
    let err = lstm.load_state_dict(&case.dict, "rnn").expect_err("gru weights in an lstm");
    assert!(
        matches!(err, SeqError::ShapeMismatch { ref expected, ref found, .. } if expected == &[28, 5] && found == &[21, 5])
    );
}

#[test]
fn non_float_tensor_is_a_dtype_error() {
    let case = Case::load("rnn_uni1");
    // `lengths` is int64 and converts; bools do not.
    assert_eq!(case.dict.get_f32("lengths").expect("ints convert").1, vec![4.0, 6.0, 2.0]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bool.safetensors");
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::BOOL, vec![2], &[1u8, 0]).expect("view");
    safetensors::serialize_to_file([("flag", view)], None, &path).expect("write");
    let dict = StateDict::from_safetensors(&path).expect("readable");
    assert!(matches!(dict.get_f32("flag"), Err(SeqError::DType { ref key, .. }) if key == "flag"));
}

#[test]
fn unreadable_files_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent.pth");
    let err = StateDict::from_file(&missing).expect_err("missing file");
    assert!(
        matches!(err, SeqError::Core(kindling_core::Error::Io { .. })) && err.to_string().contains("absent.pth"),
        "{err}"
    );
    for name in ["junk.safetensors", "junk.pth"] {
        let p = dir.path().join(name);
        std::fs::write(&p, b"definitely not tensors").expect("write");
        let err = StateDict::from_file(&p).expect_err("junk file");
        assert!(matches!(err, SeqError::Read { .. }) && err.to_string().contains(name), "{err}");
    }
}

#[test]
fn bad_configurations_and_inputs_are_typed_errors() {
    let device = kindling_core::default_device();
    for cfg in [
        RecurrentConfig::new(CellKind::Rnn, 0, 4),
        RecurrentConfig::new(CellKind::Rnn, 3, 4).with_num_layers(0),
        RecurrentConfig::new(CellKind::Rnn, 3, 4).with_dropout(-0.1),
        RecurrentConfig::new(CellKind::Rnn, 3, 4).with_dropout(f64::NAN),
    ] {
        assert!(matches!(cfg.init(&device), Err(SeqError::Config(_))), "{cfg:?}");
    }
    assert!(matches!("transformer".parse::<CellKind>(), Err(SeqError::Config(_))));

    let gru = RecurrentConfig::new(CellKind::Gru, 3, 4).with_num_layers(2).init(&device).expect("init");
    let x = || Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &device);
    let input_err = |r: kindling_seq::Result<(Tensor<3>, RecurrentState)>| match r {
        Err(SeqError::Input(m)) => m,
        other => panic!("expected Input error, got {:?}", other.map(|_| ())),
    };
    let wrong_features = Tensor::<3>::zeros([2, 5, 4], &device);
    assert!(input_err(gru.forward(wrong_features, None, None)).contains("[batch, time, 3]"));
    assert!(input_err(gru.forward(x(), Some(&[5]), None)).contains("1 lengths"));
    assert!(input_err(gru.forward(x(), Some(&[5, 6]), None)).contains("length 6 of sequence 1"));
    let bad_h = RecurrentState::new(Tensor::zeros([1, 2, 4], &device), None);
    assert!(input_err(gru.forward(x(), None, Some(bad_h))).contains("expected [2, 2, 4]"));
    let with_c = RecurrentState::new(Tensor::zeros([2, 2, 4], &device), Some(Tensor::zeros([2, 2, 4], &device)));
    assert!(input_err(gru.forward(x(), None, Some(with_c))).contains("no cell state"));
}
