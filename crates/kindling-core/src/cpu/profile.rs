//! Time spent in [`matmul`](super::matmul) / [`matmul_add`](super::matmul_add) per product shape,
//! for finding which products of a workload run below the CPU's peak.
//!
//! Off unless the environment variable `KINDLING_GEMM_PROFILE` is set (to anything) when the
//! first product runs, or [`enable`] is called; when off, a product pays one relaxed atomic load.
//! Each entry is one shape (sizes, operand strides, whether gemm split it over the threads), with
//! its calls, the seconds the calling threads spent in them and the resulting GFLOP/s per thread
//! (products running side by side on several threads each count their own time).
//! `kindling-bench run WORKLOAD` prints [`report`] to standard error when the variable is set.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// A product's shape: `[m, k, n]`, the strides of `a` and `b` (`[rs, cs]`), and whether gemm
/// split it over the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of the result, inner dimension, columns of the result.
    pub mkn: [usize; 3],
    /// Row and column strides of the left operand.
    pub a: [usize; 2],
    /// Row and column strides of the right operand.
    pub b: [usize; 2],
    /// Whether the product itself ran on every thread.
    pub parallel: bool,
}

/// Calls and time of one [`Shape`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// The product's shape.
    pub shape: Shape,
    /// How many products of this shape ran.
    pub calls: usize,
    /// Seconds spent in them, summed over the calling threads.
    pub seconds: f64,
}

impl Entry {
    /// Floating-point operations (`2·m·k·n` per call) per second of the calling thread, in GFLOP/s.
    pub fn gflops(&self) -> f64 {
        let [m, k, n] = self.shape.mkn;
        2.0 * (m * k * n * self.calls) as f64 / self.seconds.max(1e-12) / 1e9
    }
}

/// 0: not decided yet, 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);
static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Turns the profile on (as `KINDLING_GEMM_PROFILE` does).
///
/// ```
/// use kindling_core::cpu::{View, matmul, profile};
/// profile::enable();
/// let mut c = [0.0f32; 4];
/// matmul(2, 3, 2, &mut c, 2, View::rows(&[1.0; 6], 3), View::rows(&[1.0; 6], 2), false);
/// let e = profile::entries().into_iter().find(|e| e.shape.mkn == [2, 3, 2]).expect("recorded");
/// assert!(e.calls >= 1 && e.seconds > 0.0);
/// assert!(profile::report().contains("2×3×2"));
/// ```
pub fn enable() {
    STATE.store(2, Ordering::Relaxed);
}

/// Whether products are being timed.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var_os("KINDLING_GEMM_PROFILE").is_some();
            // A concurrent `enable` wins over the environment's "off".
            let _ = STATE.compare_exchange(0, if on { 2 } else { 1 }, Ordering::Relaxed, Ordering::Relaxed);
            STATE.load(Ordering::Relaxed) == 2
        }
        state => state == 2,
    }
}

/// Adds one product of `shape` that took `seconds`.
pub(super) fn record(shape: Shape, seconds: f64) {
    let mut entries = ENTRIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match entries.iter_mut().find(|e| e.shape == shape) {
        Some(e) => {
            e.calls += 1;
            e.seconds += seconds;
        }
        None => entries.push(Entry { shape, calls: 1, seconds }),
    }
}

/// Every shape timed so far, most time first.
pub fn entries() -> Vec<Entry> {
    let mut all = ENTRIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    all.sort_by(|x, y| y.seconds.total_cmp(&x.seconds));
    all
}

/// [`entries`] as a text table, one shape per line.
pub fn report() -> String {
    let all = entries();
    let total: f64 = all.iter().map(|e| e.seconds).sum();
    let mut out = format!("matrix products: {total:.3} thread-seconds in {} shapes\n", all.len());
    out.push_str("m×k×n  a [rs, cs]  b [rs, cs]  threads  calls  seconds  share  GFLOP/s per thread\n");
    for e in &all {
        let ([m, k, n], s) = (e.shape.mkn, &e.shape);
        out.push_str(&format!(
            "{m}×{k}×{n}  {:?}  {:?}  {}  {}  {:.3}  {:.1}%  {:.1}\n",
            s.a,
            s.b,
            if s.parallel { "all" } else { "one" },
            e.calls,
            e.seconds,
            100.0 * e.seconds / total.max(1e-12),
            e.gflops()
        ));
    }
    out
}
