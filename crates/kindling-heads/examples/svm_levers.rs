//! Profile of stock linfa-svm on CNN features: which public levers move its fit time.
//!
//! `cargo run --release -p kindling-heads --example svm_levers -- TRAIN.safetensors TEST.safetensors [rbf|linear] [classes]`
//!
//! Prints one line per configuration: strategy, eps, float type, threads, fit seconds (best of 1), test
//! accuracy, and for one binary problem the share of time spent building the kernel matrix.
use std::time::Instant;

use kindling_heads::FeatureSet;
use linfa::prelude::*;
use linfa_kernel::{Kernel, KernelMethod};
use linfa_svm::Svm;
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;

fn standardize(train: &Array2<f64>, test: &Array2<f64>) -> (Array2<f64>, Array2<f64>) {
    let mean = train.mean_axis(Axis(0)).expect("rows");
    let std = train.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
    ((train - &mean) / &std, (test - &mean) / &std)
}

type Fitted = (usize, usize, Svm<f64, bool>);

fn fit_pair(x: &Array2<f64>, y: &[usize], a: usize, b: usize, eps: f64, rbf: Option<f64>) -> Fitted {
    let idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == a || y[i] == b).collect();
    let xs = x.select(Axis(0), &idx);
    let ys: Array1<bool> = idx.iter().map(|&i| y[i] == a).collect();
    let p = Svm::<f64, bool>::params().pos_neg_weights(1.0, 1.0).eps(eps);
    let p = match rbf {
        Some(g) => p.gaussian_kernel(1.0 / g),
        None => p.linear_kernel(),
    };
    (a, b, p.fit(&DatasetBase::new(xs, ys)).expect("fit"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let train = FeatureSet::load(&args[0])?;
    let test = FeatureSet::load(&args[1])?;
    let rbf = args.get(2).is_none_or(|k| k == "rbf");
    let k: usize = args.get(3).map_or(Ok(train.classes.len()), |s| s.parse())?;
    let keep = |fs: &FeatureSet| fs.select(&(0..fs.len()).filter(|&i| fs.labels[i] < k).collect::<Vec<_>>());
    let (train, test) = (keep(&train), keep(&test));
    let (xtr, xte) = standardize(&train.features.mapv(f64::from), &test.features.mapv(f64::from));
    let gamma = rbf.then_some(1.0 / xtr.ncols() as f64);
    let kernel = if rbf { "rbf" } else { "linear" };
    println!("{kernel}: train {:?}, test {:?}, {k} classes", xtr.dim(), xte.dim());

    // One binary problem: kernel construction vs the whole fit.
    let idx: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] < 2).collect();
    let xs = xtr.select(Axis(0), &idx);
    let method = match gamma {
        Some(g) => KernelMethod::Gaussian(1.0 / g),
        None => KernelMethod::Linear,
    };
    let t = Instant::now();
    let km = Kernel::params().method(method).transform(xs.view());
    let kt = t.elapsed().as_secs_f64();
    drop(km);
    let t = Instant::now();
    let (_, _, m) = fit_pair(&xtr, &train.labels, 0, 1, 1e-3, gamma);
    let ft = t.elapsed().as_secs_f64();
    println!("pair (0,1) n={}: kernel matrix {kt:.3}s of fit {ft:.3}s ({:.0}%); {m}", idx.len(), 100.0 * kt / ft);

    let pairs: Vec<(usize, usize)> = (0..k).flat_map(|a| (a + 1..k).map(move |b| (a, b))).collect();
    for (eps, parallel) in [(1e-3, false), (1e-3, true), (1e-7, true)] {
        let t = Instant::now();
        let models: Vec<Fitted> = if parallel {
            pairs.par_iter().map(|&(a, b)| fit_pair(&xtr, &train.labels, a, b, eps, gamma)).collect()
        } else {
            pairs.iter().map(|&(a, b)| fit_pair(&xtr, &train.labels, a, b, eps, gamma)).collect()
        };
        let secs = t.elapsed().as_secs_f64();
        let mut votes = Array2::<usize>::zeros((xte.nrows(), k));
        for (a, b, m) in &models {
            for (i, row) in xte.outer_iter().enumerate() {
                if m.predict(row) { votes[[i, *a]] += 1 } else { votes[[i, *b]] += 1 }
            }
        }
        let acc = votes
            .outer_iter()
            .zip(&test.labels)
            .filter(|(v, l)| {
                v.iter().enumerate().max_by_key(|&(c, n)| (*n, std::cmp::Reverse(c))).map(|p| p.0) == Some(**l)
            })
            .count() as f64
            / test.len() as f64;
        println!("one-vs-one eps={eps:e} parallel={parallel}: fit {secs:.2}s, test accuracy {acc:.4}");
    }
    let t = Instant::now();
    let ds = DatasetBase::new(xtr.clone(), Array1::from(train.labels.clone()));
    let models: Vec<(usize, Svm<f64, bool>)> = ds
        .one_vs_all()?
        .into_par_iter()
        .map(|(l, d)| {
            let p = Svm::<f64, bool>::params().pos_neg_weights(1.0, 1.0).eps(1e-3);
            let p = match gamma {
                Some(g) => p.gaussian_kernel(1.0 / g),
                None => p.linear_kernel(),
            };
            (l, p.fit(&d).expect("fit"))
        })
        .collect();
    let secs = t.elapsed().as_secs_f64();
    let acc = xte
        .outer_iter()
        .zip(&test.labels)
        .filter(|(row, l)| {
            let best = models
                .iter()
                .map(|(c, m)| (*c, m.weighted_sum(row) - m.rho))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|p| p.0);
            best == Some(**l)
        })
        .count() as f64
        / test.len() as f64;
    println!("one-vs-rest eps=1e-3 parallel=true: fit {secs:.2}s, test accuracy {acc:.4}");
    Ok(())
}
