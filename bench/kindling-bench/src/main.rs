//! `kindling-bench`: runs one Kindling benchmark workload and prints one JSON line.
//!
//! `cargo xtask bench` drives it side by side with `bench/reference/torch_workloads.py`, each run in
//! its own process so that the peak resident memory of a process belongs to one workload.
//!
//! ```text
//! kindling-bench list                                   # the workloads, as JSON lines
//! kindling-bench run NAME [--reps N] [--warmup N] [--plain]
//! kindling-bench peak                                   # measured fp32 FMA peak, JSON
//! kindling-bench gemm M,K,N[,A_RS,A_CS,B_RS,B_CS]...    # one product shape alone, JSON lines
//! ```
//!
//! With `KINDLING_GEMM_PROFILE` set, `run` also prints the time per matrix product shape
//! (`kindling_core::cpu::profile`) to standard error.

mod flops;
mod gemm;
mod peak;
mod workloads;

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use workloads::{Kind, Variant, WORKLOADS};

fn usage() -> ExitCode {
    eprintln!("usage: kindling-bench list | run NAME [--reps N] [--warmup N] [--plain] | peak | gemm SHAPE...");
    ExitCode::FAILURE
}

/// Peak resident set size of this process in MiB (`VmHWM`), where the OS reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn run(name: &str, args: &[String]) -> Result<(), String> {
    let mut reps = 5usize;
    let mut warmup = 2usize;
    let mut variant = Variant::Kindling;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |flag: &str| -> Result<usize, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or(format!("{flag} needs a number"))
        };
        match a.as_str() {
            "--reps" => reps = num("--reps")?.max(1),
            "--warmup" => warmup = num("--warmup")?,
            "--plain" => variant = Variant::Plain,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let workload = WORKLOADS.iter().find(|w| w.name == name).ok_or(format!("unknown workload `{name}`"))?;
    let setup = Instant::now();
    let mut prepared = workloads::prepare(name, variant).ok_or(format!("workload `{name}` has no runner"))?;
    let mut checksum = 0.0;
    for _ in 0..warmup {
        checksum = (prepared.step)();
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        checksum = (prepared.step)();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let line = json!({
        "workload": workload.name,
        "impl": "kindling",
        "variant": match prepared.variant { Variant::Kindling => "kindling", Variant::Plain => "plain" },
        "threads": threads(),
        "warmup": warmup,
        "times_ms": times,
        "setup_and_warmup_s": setup_s,
        "flops_per_iter": prepared.flops,
        "items_per_iter": workload.items,
        "peak_rss_mib": peak_rss_mib(),
        "checksum": checksum,
    });
    println!("{line}");
    if kindling_core::cpu::profile::enabled() {
        eprint!("{}", kindling_core::cpu::profile::report());
    }
    Ok(())
}

/// The allocator of Kindling's binaries (`kindling_core::alloc`).
#[global_allocator]
static GLOBAL: kindling_core::alloc::MiMalloc = kindling_core::alloc::MiMalloc;

fn main() -> ExitCode {
    kindling_core::alloc::keep_freed_memory();
    // As the `kindling` binary does: kernels called from this thread run partly on it.
    kindling_core::cpu::join_global_pool();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("list") => {
            for w in WORKLOADS {
                let kind = match w.kind {
                    Kind::Inference => "inference",
                    Kind::Training => "training",
                };
                let line = json!({
                    "name": w.name, "description": w.description, "items": w.items, "unit": w.unit,
                    "kind": kind, "conv_heavy": w.conv_heavy,
                });
                println!("{line}");
            }
            Ok(())
        }
        Some("run") => match args.get(1) {
            Some(name) => run(name, &args[2..]),
            None => return usage(),
        },
        Some("gemm") => gemm::run(&args[1..], 0.5),
        Some("peak") => {
            println!("{}", peak::measure());
            Ok(())
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kindling-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
