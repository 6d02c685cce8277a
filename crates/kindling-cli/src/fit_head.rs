//! `kindling fit-head`: a classical head on two feature files, one JSON line of results.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kindling_heads::{
    FeatureSet, GbdtParams, HeadKind, HeadParams, LogRegParams, Multiclass, SvmParams, SvmSolver, default_grid,
    fit_and_evaluate,
};

use crate::CliResult;

/// Head names on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum Head {
    #[value(name = "svm-linear")]
    SvmLinear,
    #[value(name = "svm-rbf")]
    SvmRbf,
    Gbdt,
    Logreg,
}

/// Arguments of `kindling fit-head`. Hyper-parameters accept comma-separated lists; several values
/// (or `--grid`) make a grid searched by `--cv K`-fold stratified cross-validation on the training file.
#[derive(Args)]
pub struct FitHeadArgs {
    /// Training features (from `kindling extract`).
    #[arg(long)]
    train: PathBuf,
    /// Test features.
    #[arg(long)]
    test: PathBuf,
    /// Head to fit.
    #[arg(long)]
    head: Head,
    /// SVM / logistic-regression penalty C.
    #[arg(long, value_delimiter = ',')]
    c: Vec<f64>,
    /// RBF kernel width (default: scikit-learn's "scale", 1/(D Var X)).
    #[arg(long, value_delimiter = ',')]
    gamma: Vec<f64>,
    /// SVM stopping tolerance.
    #[arg(long, default_value_t = 1e-3)]
    eps: f64,
    /// SVM multi-class strategy: ovo (one-vs-one) or ovr (one-vs-rest).
    #[arg(long, default_value = "ovo")]
    multiclass: String,
    /// SVM solver: precomputed (kernel matrix + SMO) or linfa (stock linfa-svm, slow).
    #[arg(long, default_value = "precomputed")]
    solver: String,
    /// Do not standardise features (SVM, logistic regression).
    #[arg(long)]
    no_standardize: bool,
    /// Boosting rounds.
    #[arg(long, value_delimiter = ',')]
    rounds: Vec<usize>,
    /// Tree depth.
    #[arg(long, value_delimiter = ',')]
    depth: Vec<usize>,
    /// Boosting learning rate.
    #[arg(long, value_delimiter = ',')]
    learning_rate: Vec<f64>,
    /// Boosting histogram bins.
    #[arg(long, default_value_t = 256)]
    bins: u16,
    /// Search the default grid of this head (C, C x gamma, or depth x rounds) unless lists are given.
    #[arg(long)]
    grid: bool,
    /// Folds of the cross-validated grid search.
    #[arg(long)]
    cv: Option<usize>,
    /// Save the fitted head here (.safetensors), for `kindling predict --head`.
    #[arg(long)]
    save: Option<PathBuf>,
}

/// Applies the options that are not searched (tolerance, strategy, solver, standardisation, bins).
fn with_options(p: HeadParams, args: &FitHeadArgs) -> CliResult<HeadParams> {
    let multiclass = match args.multiclass.as_str() {
        "ovo" | "one-vs-one" => Multiclass::OneVsOne,
        "ovr" | "one-vs-rest" => Multiclass::OneVsRest,
        other => return Err(format!("unknown --multiclass `{other}`: expected ovo or ovr").into()),
    };
    let solver = match args.solver.as_str() {
        "precomputed" => SvmSolver::Precomputed,
        "linfa" => SvmSolver::Linfa,
        other => return Err(format!("unknown --solver `{other}`: expected precomputed or linfa").into()),
    };
    Ok(match p {
        HeadParams::Svm(p) => {
            HeadParams::Svm(p.eps(args.eps).multiclass(multiclass).solver(solver).standardize(!args.no_standardize))
        }
        HeadParams::LogReg(p) => HeadParams::LogReg(p.standardize(!args.no_standardize)),
        HeadParams::Gbdt(p) => HeadParams::Gbdt(p.bins(args.bins)),
    })
}

/// Cartesian product of the explicit hyper-parameter lists (one default value where a list is empty).
fn explicit_grid(args: &FitHeadArgs) -> Vec<HeadParams> {
    let or = |v: &[f64], d: Option<f64>| if v.is_empty() { vec![d] } else { v.iter().map(|&x| Some(x)).collect() };
    let mut grid = Vec::new();
    match args.head {
        Head::SvmLinear | Head::SvmRbf => {
            for c in or(&args.c, None) {
                for g in or(&args.gamma, None) {
                    let mut p =
                        if matches!(args.head, Head::SvmLinear) { SvmParams::linear() } else { SvmParams::rbf() };
                    if let Some(c) = c {
                        p = p.c(c);
                    }
                    if let (Head::SvmRbf, Some(g)) = (args.head, g) {
                        p = p.gamma(g);
                    }
                    grid.push(HeadParams::Svm(p));
                }
            }
        }
        Head::Gbdt => {
            let depths: Vec<Option<usize>> =
                if args.depth.is_empty() { vec![None] } else { args.depth.iter().map(|&d| Some(d)).collect() };
            let rounds: Vec<Option<usize>> =
                if args.rounds.is_empty() { vec![None] } else { args.rounds.iter().map(|&d| Some(d)).collect() };
            for d in &depths {
                for r in &rounds {
                    for lr in or(&args.learning_rate, None) {
                        let mut p = GbdtParams::new();
                        if let Some(d) = d {
                            p = p.max_depth(*d);
                        }
                        if let Some(r) = r {
                            p = p.rounds(*r);
                        }
                        if let Some(lr) = lr {
                            p = p.learning_rate(lr);
                        }
                        grid.push(HeadParams::Gbdt(p));
                    }
                }
            }
        }
        Head::Logreg => {
            for c in or(&args.c, None) {
                let mut p = LogRegParams::new();
                if let Some(c) = c {
                    p = p.c(c);
                }
                grid.push(HeadParams::LogReg(p));
            }
        }
    }
    grid
}

pub fn run(args: FitHeadArgs) -> CliResult {
    let train = FeatureSet::load(&args.train)?;
    let test = FeatureSet::load(&args.test)?;
    let kind = match args.head {
        Head::SvmLinear => HeadKind::SvmLinear,
        Head::SvmRbf => HeadKind::SvmRbf,
        Head::Gbdt => HeadKind::Gbdt,
        Head::Logreg => HeadKind::LogReg,
    };
    let explicit = explicit_grid(&args);
    let grid = if args.grid && explicit.len() == 1 { default_grid(kind, train.dim()) } else { explicit };
    let grid = grid.into_iter().map(|p| with_options(p, &args)).collect::<CliResult<Vec<_>>>()?;
    let folds = match (args.cv, grid.len()) {
        (None, n) if n > 1 => return Err(format!("{n} hyper-parameter combinations need --cv K").into()),
        (cv, _) => cv,
    };
    let (saved, report) = fit_and_evaluate(&grid, folds, &train, &test)?;
    if let Some(path) = &args.save {
        saved.save(path)?;
        eprintln!("saved the head to {}", path.display());
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
