//! Ragged batches: padding never changes outputs, final states or gradients.

mod common;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use common::{Case, max_diff, to_vec};
use kindling_seq::{CellKind, RecurrentConfig, RecurrentState};

const CASES: [&str; 3] = ["rnn_bi2", "lstm_bi2", "gru_bi2_init"];

/// The fixture input padded to `steps` with garbage (finite, NaN and inf) in every padded slot.
fn repadded(case: &Case, steps: usize, device: &Device) -> Tensor<3> {
    let (shape, x) = case.dict.get_f32("input").expect("input");
    let [b, t, i] = [shape[0], shape[1], shape[2]];
    let lengths = case.lengths().expect("ragged case");
    let garbage = [1e3, f32::NAN, -7.5, f32::INFINITY, 0.25, f32::NEG_INFINITY];
    let mut v = Vec::with_capacity(b * steps * i);
    for (bi, &len) in lengths.iter().enumerate() {
        for s in 0..steps {
            for f in 0..i {
                v.push(if s < len { x[(bi * t + s) * i + f] } else { garbage[(s + f + bi) % garbage.len()] });
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [b, steps, i]), device)
}

fn state(case: &Case, device: &Device) -> Option<RecurrentState> {
    case.has("h_0")
        .then(|| RecurrentState::new(case.tensor("h_0", device), case.has("c_0").then(|| case.tensor("c_0", device))))
}

#[test]
fn extra_padding_and_pad_values_change_nothing() {
    let plain = kindling_core::default_device();
    for device in [plain.clone(), plain.autodiff()] {
        for name in CASES {
            let case = Case::load(name);
            let rnn = case.model(&device);
            let lengths = case.lengths().expect("ragged");
            let (out_a, st_a) =
                rnn.forward(case.tensor("input", &device), Some(&lengths), state(&case, &device)).expect("forward");
            let (out_b, st_b) =
                rnn.forward(repadded(&case, 10, &device), Some(&lengths), state(&case, &device)).expect("forward");
            let [b, steps, f] = out_a.dims();
            assert_eq!(out_b.dims(), [b, 10, f]);
            // Bit-identical where both have steps, exactly zero on the extra steps.
            assert_eq!(to_vec(out_b.clone().narrow(1, 0, steps)), to_vec(out_a), "{name}: outputs");
            assert!(to_vec(out_b.narrow(1, steps, 10 - steps)).iter().all(|&v| v == 0.0), "{name}: extra steps");
            assert_eq!(to_vec(st_b.h), to_vec(st_a.h), "{name}: h_n");
            assert_eq!(st_b.c.map(to_vec), st_a.c.map(to_vec), "{name}: c_n");
        }
    }
}

#[test]
fn padded_positions_get_zero_output_and_gradients_ignore_padding() {
    let device = kindling_core::default_device().autodiff();
    let case = Case::load("lstm_bi2");
    let lengths = case.lengths().expect("ragged");
    let grads_for = |x: Tensor<3>| {
        let rnn = case.model(&device);
        let x = x.require_grad();
        let (out, st) = rnn.forward(x.clone(), Some(&lengths), None).expect("forward");
        let out6 = out.narrow(1, 0, 6);
        let loss = (out6.clone() * case.tensor::<3>("r_out", &device)).sum() + st.h.sum();
        let g = loss.backward();
        let gx = to_vec(x.grad(&g).expect("input grad").narrow(1, 0, 6));
        let gw = to_vec(rnn.layers[0].reverse.as_ref().expect("bidirectional").weight_hh.val().grad(&g).expect("grad"));
        (to_vec(out6), gx, gw)
    };
    let (out_a, gx_a, gw_a) = grads_for(case.tensor("input", &device));
    let (out_b, gx_b, gw_b) = grads_for(repadded(&case, 9, &device));
    assert_eq!(out_a, out_b);
    assert_eq!(gw_a, gw_b, "weight gradients depend on padding");
    assert_eq!(gx_a, gx_b, "input gradients depend on padding");
    // Padded positions: zero output and zero input gradient.
    let (f, i) = (14, 5);
    for (b, &len) in lengths.iter().enumerate() {
        for s in len..6 {
            assert!(out_a[(b * 6 + s) * f..(b * 6 + s + 1) * f].iter().all(|&v| v == 0.0));
            assert!(gx_a[(b * 6 + s) * i..(b * 6 + s + 1) * i].iter().all(|&v| v == 0.0));
        }
    }
}

#[test]
fn each_sequence_alone_matches_its_row_in_the_ragged_batch() {
    let device = kindling_core::default_device();
    for name in CASES {
        let case = Case::load(name);
        let rnn = case.model(&device);
        let lengths = case.lengths().expect("ragged");
        let x = case.tensor::<3>("input", &device);
        let st0 = state(&case, &device);
        let (out, st) = rnn.forward(x.clone(), Some(&lengths), st0.clone()).expect("forward");
        for (b, &len) in lengths.iter().enumerate() {
            let xb = x.clone().narrow(0, b, 1).narrow(1, 0, len);
            let sb = st0.clone().map(|s| RecurrentState::new(s.h.narrow(1, b, 1), s.c.map(|c| c.narrow(1, b, 1))));
            let (ob, stb) = rnn.forward(xb, None, sb).expect("forward");
            let row = out.clone().narrow(0, b, 1).narrow(1, 0, len);
            assert!(max_diff(ob, &to_vec(row)) <= 1e-6, "{name}: sequence {b} outputs");
            assert!(max_diff(stb.h, &to_vec(st.h.clone().narrow(1, b, 1))) <= 1e-6, "{name}: sequence {b} h_n");
            if let (Some(cb), Some(c)) = (stb.c, &st.c) {
                assert!(max_diff(cb, &to_vec(c.clone().narrow(1, b, 1))) <= 1e-6, "{name}: sequence {b} c_n");
            }
        }
    }
}

#[test]
fn full_lengths_equal_no_lengths_and_empty_sequences_keep_their_state() {
    let device = kindling_core::default_device();
    let rnn = RecurrentConfig::new(CellKind::Lstm, 3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init(&device)
        .expect("init");
    let x = Tensor::<3>::random([2, 5, 3], Distribution::Normal(0.0, 1.0), &device);
    let (a, sa) = rnn.forward(x.clone(), None, None).expect("forward");
    let (b, sb) = rnn.forward(x.clone(), Some(&[5, 5]), None).expect("forward");
    assert_eq!(to_vec(a), to_vec(b));
    assert_eq!(to_vec(sa.h), to_vec(sb.h));

    let h0 = Tensor::<3>::random([4, 2, 4], Distribution::Normal(0.0, 1.0), &device);
    let c0 = Tensor::<3>::random([4, 2, 4], Distribution::Normal(0.0, 1.0), &device);
    let init = RecurrentState::new(h0.clone(), Some(c0.clone()));
    let (out, st) = rnn.forward(x.clone(), Some(&[0, 3]), Some(init.clone())).expect("forward");
    let row0 = to_vec(out.clone().narrow(0, 0, 1));
    assert!(row0.iter().all(|&v| v == 0.0), "empty sequence has zero outputs");
    assert_eq!(to_vec(st.h.narrow(1, 0, 1)), to_vec(h0.clone().narrow(1, 0, 1)), "empty sequence keeps h_0");
    let (out, st) = rnn.forward(x, Some(&[0, 0]), Some(init)).expect("forward");
    assert!(to_vec(out).iter().all(|&v| v == 0.0));
    assert_eq!(to_vec(st.h), to_vec(h0));
    assert_eq!(st.c.map(to_vec), Some(to_vec(c0)));
}
