//! `cargo xtask bench`: runs the criterion micro-benchmarks of every crate.

use crate::{Result, cargo, run_cmd};

pub fn run(args: &[String]) -> Result {
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace"]);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    run_cmd(&mut cmd)
}
