//! Kindling's side of the heads benchmark: fits heads on two feature files and prints one JSON line per
//! head, in the same shape as `bench/reference/heads.py`.
//!
//! ```text
//! cargo run --release -p kindling-heads --example fit_heads -- TRAIN.safetensors TEST.safetensors \
//!     [--heads svm-linear,svm-rbf,logreg,gbdt] [--c 1] [--gamma G] [--rounds 100] [--depth 6] \
//!     [--learning-rate 0.3] [--repeat 1] [--solver precomputed|linfa] [--multiclass ovo|ovr]
//! ```
//! `fit_seconds` is the best wall time of `--repeat` fits.
use kindling_heads::{
    FeatureSet, FittedHead, GbdtParams, HeadKind, HeadParams, LogRegParams, Multiclass, SvmParams, SvmSolver,
    fit_and_evaluate,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let train = FeatureSet::load(&args[0])?;
    let test = FeatureSet::load(&args[1])?;
    let heads = opt("--heads").unwrap_or_else(|| "svm-linear,svm-rbf,logreg,gbdt".into());
    let c: f64 = opt("--c").map_or(Ok(1.0), |s| s.parse())?;
    let gamma: Option<f64> = opt("--gamma").map(|s| s.parse()).transpose()?;
    let rounds: usize = opt("--rounds").map_or(Ok(100), |s| s.parse())?;
    let depth: usize = opt("--depth").map_or(Ok(6), |s| s.parse())?;
    let lr: f64 = opt("--learning-rate").map_or(Ok(0.3), |s| s.parse())?;
    let repeat: usize = opt("--repeat").map_or(Ok(1), |s| s.parse())?;
    let solver = match opt("--solver").as_deref() {
        Some("linfa") => SvmSolver::Linfa,
        _ => SvmSolver::Precomputed,
    };
    let multiclass = match opt("--multiclass").as_deref() {
        Some("ovr") => Multiclass::OneVsRest,
        _ => Multiclass::OneVsOne,
    };
    for head in heads.split(',') {
        let kind: HeadKind = head.parse()?;
        let params = match kind {
            HeadKind::SvmLinear | HeadKind::SvmRbf => {
                let p = if kind == HeadKind::SvmLinear { SvmParams::linear() } else { SvmParams::rbf() };
                let p = p.c(c).solver(solver).multiclass(multiclass);
                HeadParams::Svm(match (kind, gamma) {
                    (HeadKind::SvmRbf, Some(g)) => p.gamma(g),
                    _ => p,
                })
            }
            HeadKind::Gbdt => HeadParams::Gbdt(GbdtParams::new().rounds(rounds).max_depth(depth).learning_rate(lr)),
            HeadKind::LogReg => HeadParams::LogReg(LogRegParams::new().c(c)),
        };
        let mut best: Option<(kindling_heads::FitReport, kindling_heads::SavedHead)> = None;
        for _ in 0..repeat.max(1) {
            let (h, r) = fit_and_evaluate(std::slice::from_ref(&params), None, &train, &test)?;
            if best.as_ref().is_none_or(|b| r.fit_seconds < b.0.fit_seconds) {
                best = Some((r, h));
            }
        }
        let (report, head) = best.expect("at least one fit");
        let mut v = serde_json::to_value(report)?;
        v["impl"] = "kindling-heads".into();
        if let FittedHead::Svm(svm) = &head.head {
            // where an SVM fit spends its time: full kernel matrix, then the SMO problems
            let (kernel, smo) = svm.timings();
            v["svm_kernel_matrix_seconds"] = kernel.into();
            v["svm_problems_seconds"] = smo.into();
            v["svm_smo_iterations"] = svm.iterations().iter().sum::<usize>().into();
        }
        println!("{v}");
    }
    Ok(())
}
