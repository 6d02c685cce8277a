//! PyTorch parity: outputs, final states and gradients of nn.RNN / nn.LSTM / nn.GRU.

mod common;

use burn::tensor::{Device, Tensor};
use common::{Case, all_cases, max_diff};
use kindling_seq::{Recurrent, RecurrentState};

const TOL: f32 = 1e-5;

fn initial_state(case: &Case, device: &Device, track: bool) -> Option<RecurrentState> {
    let mark = |t: Tensor<3>| if track { t.require_grad() } else { t };
    case.has("h_0").then(|| {
        RecurrentState::new(mark(case.tensor("h_0", device)), case.has("c_0").then(|| mark(case.tensor("c_0", device))))
    })
}

fn run(case: &Case, rnn: &Recurrent, input: Tensor<3>, state: Option<RecurrentState>) -> (Tensor<3>, RecurrentState) {
    let lengths = case.lengths();
    rnn.forward(input, lengths.as_deref(), state).expect("forward")
}

#[test]
fn outputs_and_final_states_match_pytorch() {
    let device = kindling_core::default_device();
    for name in all_cases() {
        let case = Case::load(&name);
        let rnn = case.model(&device);
        let (out, state) = run(&case, &rnn, case.tensor("input", &device), initial_state(&case, &device, false));
        let d_out = max_diff(out, &case.values("output"));
        let d_h = max_diff(state.h, &case.values("h_n"));
        eprintln!("{name}: output max|diff| {d_out:e}, h_n {d_h:e}");
        assert!(d_out <= TOL && d_h <= TOL, "{name}: output max|diff| {d_out:e}, h_n {d_h:e}");
        match (state.c, case.has("c_n")) {
            (Some(c), true) => {
                let d_c = max_diff(c, &case.values("c_n"));
                assert!(d_c <= TOL, "{name}: c_n max|diff| {d_c:e}");
            }
            (None, false) => {}
            (c, _) => panic!("{name}: cell state presence mismatch ({})", c.is_some()),
        }
    }
}

#[test]
fn gradients_match_pytorch() {
    let device = kindling_core::default_device().autodiff();
    for name in all_cases() {
        let case = Case::load(&name);
        let rnn = case.model(&device);
        let x: Tensor<3> = case.tensor::<3>("input", &device).require_grad();
        let state = initial_state(&case, &device, true);
        let (h0, c0) = state.as_ref().map(|s| (s.h.clone(), s.c.clone())).unzip();
        let (out, fin) = run(&case, &rnn, x.clone(), state);
        let mut loss =
            (out * case.tensor::<3>("r_out", &device)).sum() + (fin.h * case.tensor::<3>("r_h", &device)).sum();
        if let Some(c) = fin.c {
            loss = loss + (c * case.tensor::<3>("r_c", &device)).sum();
        }
        let grads = loss.backward();
        let mut worst = (0.0f32, String::new());
        let mut check = |key: &str, g: Option<Tensor<3>>| {
            let g = g.unwrap_or_else(|| panic!("{name}: no gradient for {key}"));
            let d = max_diff(g, &case.values(key));
            if d > worst.0 {
                worst = (d, key.to_string());
            }
        };
        check("grad.input", x.grad(&grads));
        if let Some(h0) = h0 {
            check("grad.h_0", h0.grad(&grads));
        }
        if let Some(Some(c0)) = c0 {
            check("grad.c_0", c0.grad(&grads));
        }
        for (l, layer) in rnn.layers.iter().enumerate() {
            let cells = std::iter::once((&layer.forward, "")).chain(layer.reverse.as_ref().map(|c| (c, "_reverse")));
            for (cell, sfx) in cells {
                let as3 = |t: Option<Tensor<2>>| t.map(|t| t.unsqueeze::<3>());
                let as3b = |t: Option<Tensor<1>>| t.map(|t| t.unsqueeze::<3>());
                check(&format!("grad.rnn.weight_ih_l{l}{sfx}"), as3(cell.weight_ih.val().grad(&grads)));
                check(&format!("grad.rnn.weight_hh_l{l}{sfx}"), as3(cell.weight_hh.val().grad(&grads)));
                if let (Some(bi), Some(bh)) = (&cell.bias_ih, &cell.bias_hh) {
                    check(&format!("grad.rnn.bias_ih_l{l}{sfx}"), as3b(bi.val().grad(&grads)));
                    check(&format!("grad.rnn.bias_hh_l{l}{sfx}"), as3b(bh.val().grad(&grads)));
                }
            }
        }
        eprintln!("{name}: gradient max|diff| {:e} at {}", worst.0, worst.1);
        assert!(worst.0 <= TOL, "{name}: gradient max|diff| {:e} at {}", worst.0, worst.1);
    }
}

#[test]
fn training_and_inference_paths_agree() {
    // With autodiff the input is projected step by step; without, in one matmul.
    let plain = kindling_core::default_device();
    let ad = plain.clone().autodiff();
    for name in ["lstm_bi2", "gru_bi2_init", "rnn_uni1"] {
        let case = Case::load(name);
        let (a, sa) =
            run(&case, &case.model(&plain), case.tensor("input", &plain), initial_state(&case, &plain, false));
        let (b, sb) = run(&case, &case.model(&ad), case.tensor("input", &ad), initial_state(&case, &ad, false));
        assert!(max_diff(a, &common::to_vec(b)) <= 1e-6, "{name}: outputs");
        assert!(max_diff(sa.h, &common::to_vec(sb.h)) <= 1e-6, "{name}: h_n");
    }
}

#[test]
fn pth_checkpoint_loads_like_safetensors() {
    let device = kindling_core::default_device();
    let case = Case::load("lstm_bi2");
    let dict = kindling_seq::StateDict::from_file(common::fixture_path("lstm_bi2.pth")).expect("pth reads");
    let rnn = case.config.init(&device).expect("test value").load_state_dict(&dict, "").expect("bare nn.LSTM keys");
    let (out, state) = run(&case, &rnn, case.tensor("input", &device), None);
    assert!(max_diff(out, &case.values("output")) <= TOL);
    assert!(max_diff(state.h, &case.values("h_n")) <= TOL);
}
