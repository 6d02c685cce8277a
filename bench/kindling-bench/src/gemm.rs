//! `kindling-bench gemm SHAPE...`: one matrix product shape at a time, alone, on one thread,
//! through `kindling_core::cpu::matmul` (the gemm crate), as JSON lines: the rate a shape reaches
//! with warm caches, to set beside what `KINDLING_GEMM_PROFILE` reports for it inside a workload.
//!
//! A shape is `M,K,N` (row-major operands) or `M,K,N,A_RS,A_CS,B_RS,B_CS` (the strides of the
//! profile's report).

use std::time::Instant;

use kindling_core::cpu::{View, matmul};
use serde_json::json;

/// Parses `M,K,N[,A_RS,A_CS,B_RS,B_CS]`.
fn parse(spec: &str) -> Result<[usize; 7], String> {
    let v: Vec<usize> = spec
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("shape `{spec}`: `{s}` is not a size")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [m, k, n] => Ok([m, k, n, k, 1, n, 1]),
        [m, k, n, ars, acs, brs, bcs] => Ok([m, k, n, ars, acs, brs, bcs]),
        _ => Err(format!("shape `{spec}`: want M,K,N or M,K,N,A_RS,A_CS,B_RS,B_CS")),
    }
}

/// Times every shape of `args` for about `seconds` each.
pub fn run(args: &[String], seconds: f64) -> Result<(), String> {
    if args.is_empty() {
        return Err("gemm: give at least one shape M,K,N[,A_RS,A_CS,B_RS,B_CS]".into());
    }
    for spec in args {
        let [m, k, n, ars, acs, brs, bcs] = parse(spec)?;
        if m == 0 || k == 0 || n == 0 {
            return Err(format!("shape `{spec}`: sizes must be positive"));
        }
        let a: Vec<f32> = (0..(m - 1) * ars + (k - 1) * acs + 1).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..(k - 1) * brs + (n - 1) * bcs + 1).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let (av, bv) = (View { data: &a, rs: ars, cs: acs }, View { data: &b, rs: brs, cs: bcs });
        matmul(m, k, n, &mut c, n, av, bv, false);
        let flop = 2.0 * (m * k * n) as f64;
        let reps = ((seconds * 1e11 / flop) as usize).max(3);
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            matmul(m, k, n, &mut c, n, av, bv, false);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let line = json!({
            "shape": [m, k, n], "a_strides": [ars, acs], "b_strides": [brs, bcs], "reps": reps,
            "median_ms": median * 1e3, "gflops": flop / median / 1e9,
        });
        println!("{line}");
    }
    Ok(())
}
