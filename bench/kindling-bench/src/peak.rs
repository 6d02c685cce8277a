//! Measured fp32 peak: independent chains of packed FMAs (12 accumulators hide the FMA latency),
//! with the widest instruction set the CPU has (AVX-512F, else AVX2+FMA).
//!
//! The `% of peak` column uses `single_thread_gflops × threads`: what every core reaches alone.
//! `all_threads_gflops` (every thread at once) is lower when other jobs share the machine.
#![allow(unsafe_code)] // std::arch intrinsics; each call is guarded by runtime feature detection.

use std::time::Instant;

use serde_json::{Value, json};

const ACC: usize = 12;
const ITERS: u64 = 50_000_000;

/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); ACC];
    let a = _mm512_set1_ps(0.999_999_9);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let mut s = _mm512_set1_ps(0.0);
    for v in acc {
        s = _mm512_add_ps(s, v);
    }
    _mm512_reduce_add_ps(s)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); ACC];
    let a = _mm256_set1_ps(0.999_999_9);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut s = _mm256_set1_ps(0.0);
    for v in acc {
        s = _mm256_add_ps(s, v);
    }
    // SAFETY: `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// (instruction set, lanes, kernel) of the widest FMA this CPU runs.
#[allow(clippy::type_complexity)]
fn kernel() -> Option<(&'static str, usize, fn(u64) -> f32)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return Some(("avx512f", 16, |n| unsafe { fma512(n) }));
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return Some(("avx2+fma", 8, |n| unsafe { fma256(n) }));
        }
    }
    None
}

/// Best GFLOP/s of `trials` runs of `threads` concurrent FMA loops.
fn gflops(f: fn(u64) -> f32, lanes: usize, threads: usize, trials: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..trials {
        let t = Instant::now();
        let handles: Vec<_> = (0..threads).map(|_| std::thread::spawn(move || f(ITERS))).collect();
        let sink: f32 = handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum();
        std::hint::black_box(sink);
        let flops = (threads as u64 * ITERS * (ACC * lanes * 2) as u64) as f64;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Measures the peak and returns it as JSON.
pub fn measure() -> Value {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    match kernel() {
        Some((isa, lanes, f)) => {
            let single = gflops(f, lanes, 1, 5);
            let all = gflops(f, lanes, threads, 5);
            json!({
                "isa": isa, "lanes": lanes, "threads": threads,
                "single_thread_gflops": single, "all_threads_gflops": all,
                "peak_gflops": single * threads as f64,
            })
        }
        None => json!({ "isa": "none", "threads": threads, "peak_gflops": null }),
    }
}
