//! `cargo xtask fixtures`: regenerates the committed parity fixtures with the Python scripts in
//! `scripts/fixtures/` (PyTorch + torchvision from pip; never needed by `cargo test`).

use std::process::Command;

use crate::{Result, python, root, run_cmd};

pub fn run(args: &[String]) -> Result {
    let dir = root().join("scripts/fixtures");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .collect();
    scripts.sort();
    let wanted: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let mut ran = 0;
    for script in scripts {
        let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if !wanted.is_empty() && !wanted.iter().any(|w| stem.contains(w.as_str())) {
            continue;
        }
        run_cmd(Command::new(python()).arg(&script))?;
        ran += 1;
    }
    if ran == 0 {
        return Err(format!("no fixture script matched {wanted:?} in {}", dir.display()));
    }
    Ok(())
}
