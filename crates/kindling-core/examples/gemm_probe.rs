//! GFLOP/s of [`kindling_core::cpu::matmul`] (the `gemm` crate) on the product shapes of a
//! ResNet-18 training step at 224×224 (per image: forward, weight gradient, input gradient) and of
//! the LSTM benchmark, single-threaded or split over rayon's threads (`par`):
//!
//! ```text
//! cargo run --release -p kindling-core --example gemm_probe [par]
//! ```
use std::time::Instant;

use kindling_core::cpu::{View, matmul, matmul_add};

fn main() {
    // (label, m, k, n, left operand transposed, right operand transposed, accumulate)
    let shapes: &[(&str, usize, usize, usize, bool, bool, bool)] = &[
        ("fwd conv1", 64, 147, 12544, false, false, false),
        ("fwd l1", 64, 576, 3136, false, false, false),
        ("fwd l2", 128, 1152, 784, false, false, false),
        ("fwd l3", 256, 2304, 196, false, false, false),
        ("fwd l4", 512, 4608, 49, false, false, false),
        ("dw l1", 64, 3136, 576, false, true, true),
        ("dw l2", 128, 784, 1152, false, true, true),
        ("dw l3", 256, 196, 2304, false, true, true),
        ("dw l4", 512, 49, 4608, false, true, true),
        ("dx l1", 576, 64, 3136, true, false, false),
        ("dx l2", 1152, 128, 784, true, false, false),
        ("dx l3", 2304, 256, 196, true, false, false),
        ("dx l4", 4608, 512, 49, true, false, false),
        ("lstm", 32, 256, 1024, false, false, true),
    ];
    let parallel = std::env::args().nth(1).as_deref() == Some("par");
    for &(label, m, k, n, a_t, b_t, accumulate) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0).collect();
        let mut c = vec![0f32; m * n];
        let av = if a_t { View { data: &a, rs: 1, cs: m } } else { View::rows(&a, k) };
        let bv = if b_t { View { data: &b, rs: 1, cs: k } } else { View::rows(&b, n) };
        let mut run = || {
            if accumulate {
                matmul_add(m, k, n, &mut c, n, av, bv, parallel);
            } else {
                matmul(m, k, n, &mut c, n, av, bv, parallel);
            }
        };
        (0..3).for_each(|_| run());
        let flop = 2.0 * (m * k * n) as f64;
        let reps = ((2e10 / flop) as usize).clamp(3, 2000);
        let start = Instant::now();
        (0..reps).for_each(|_| run());
        let secs = start.elapsed().as_secs_f64() / reps as f64;
        println!("{label:10} m={m:5} k={k:5} n={n:6}  {:8.3} ms  {:6.1} GFLOP/s", secs * 1e3, flop / secs / 1e9);
    }
}
