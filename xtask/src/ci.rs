//! `cargo xtask ci`: the checks `.ci/run` runs, in order, stopping at the first failure.

use std::time::Instant;

use crate::{Result, cargo, run_cmd};

type Step<'a> = (&'static str, Box<dyn Fn() -> Result + 'a>);

pub fn run(args: &[String]) -> Result {
    let skip_tests = args.iter().any(|a| a == "--no-tests");
    let steps: Vec<Step<'_>> = vec![
        ("fmt", Box::new(|| run_cmd(cargo().args(["fmt", "--all", "--", "--check"])))),
        (
            "clippy",
            Box::new(|| run_cmd(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))),
        ),
        (
            // burn-cuda's build script downloads LLVM; under DOCS_RS it skips that, so the
            // feature can be type-checked on a machine without network or GPU.
            "cuda type-check",
            Box::new(|| {
                run_cmd(
                    cargo()
                        .env("DOCS_RS", "1")
                        .env("CARGO_TARGET_DIR", crate::root().join("target/cuda-check"))
                        .args(["check", "-p", "kindling-core", "--features", "cuda"]),
                )
            }),
        ),
        ("tests", Box::new(move || if skip_tests { Ok(()) } else { run_cmd(cargo().args(["test", "--workspace"])) })),
    ];
    for (name, step) in steps {
        let t = Instant::now();
        eprintln!("== xtask ci: {name}");
        step()?;
        eprintln!("== xtask ci: {name} ok ({:.1} s)", t.elapsed().as_secs_f64());
    }
    Ok(())
}
