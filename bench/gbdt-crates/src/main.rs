//! forust-ml vs gbdt on CNN feature files: one-vs-rest log-loss boosters with the same depth, rounds and
//! learning rate, classes fitted in parallel for both. Prints one JSON line per crate.
//!
//! `cargo run --release --manifest-path bench/gbdt-crates/Cargo.toml -- TRAIN.safetensors TEST.safetensors [ROUNDS] [DEPTH]`
use std::time::Instant;

use rayon::prelude::*;
use safetensors::SafeTensors;

fn load(path: &str) -> (Vec<f32>, Vec<usize>, usize) {
    let bytes = std::fs::read(path).expect("read");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let f = st.tensor("features").expect("features");
    let d = f.shape()[1];
    let x = f.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let l = st.tensor("labels").expect("labels");
    let y = l.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as usize).collect();
    (x, y, d)
}

fn argmax(scores: &[Vec<f64>], i: usize) -> usize {
    (0..scores.len()).max_by(|&a, &b| scores[a][i].total_cmp(&scores[b][i])).unwrap_or(0)
}

fn accuracy(scores: &[Vec<f64>], y: &[usize]) -> f64 {
    (0..y.len()).filter(|&i| argmax(scores, i) == y[i]).count() as f64 / y.len() as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (xtr, ytr, d) = load(&args[0]);
    let (xte, yte, _) = load(&args[1]);
    let rounds: usize = args.get(2).map_or(100, |s| s.parse().expect("rounds"));
    let depth: usize = args.get(3).map_or(6, |s| s.parse().expect("depth"));
    let k = ytr.iter().max().map_or(0, |m| m + 1);
    let (ntr, nte) = (ytr.len(), yte.len());

    // forust-ml: column-major f64
    let colmajor = |x: &[f32], n: usize| -> Vec<f64> { (0..d).flat_map(|j| (0..n).map(move |i| f64::from(x[i * d + j]))).collect() };
    let (ctr, cte) = (colmajor(&xtr, ntr), colmajor(&xte, nte));
    let t = Instant::now();
    let boosters: Vec<forust_ml::GradientBooster> = (0..k)
        .into_par_iter()
        .map(|c| {
            let yc: Vec<f64> = ytr.iter().map(|&l| f64::from(u8::from(l == c))).collect();
            let mut b = forust_ml::GradientBooster::default()
                .set_iterations(rounds)
                .set_max_depth(depth)
                .set_learning_rate(0.3)
                .set_nbins(256);
            b.fit_unweighted(&forust_ml::Matrix::new(&ctr, ntr, d), &yc, None).expect("fit");
            b
        })
        .collect();
    let secs = t.elapsed().as_secs_f64();
    let m = forust_ml::Matrix::new(&cte, nte, d);
    let scores: Vec<Vec<f64>> = boosters.iter().map(|b| b.predict(&m, true)).collect();
    println!(
        "{}",
        serde_json::json!({"crate": "forust-ml 0.8.0", "fit_seconds": secs, "test_accuracy": accuracy(&scores, &yte),
            "rounds": rounds, "max_depth": depth, "learning_rate": 0.3, "multiclass": "one-vs-rest"})
    );

    // gbdt: row-wise Data records, labels +-1 for its log-likelihood loss
    let rows = |x: &[f32], y: &[usize], c: usize| -> Vec<gbdt::decision_tree::Data> {
        (0..y.len())
            .map(|i| gbdt::decision_tree::Data::new_training_data(x[i * d..(i + 1) * d].to_vec(), 1.0, if y[i] == c { 1.0 } else { -1.0 }, None))
            .collect()
    };
    let t = Instant::now();
    let models: Vec<gbdt::gradient_boost::GBDT> = (0..k)
        .into_par_iter()
        .map(|c| {
            let mut cfg = gbdt::config::Config::new();
            cfg.set_feature_size(d);
            cfg.set_max_depth(depth as u32);
            cfg.set_iterations(rounds);
            cfg.set_shrinkage(0.3);
            cfg.set_loss("LogLikelyhood");
            cfg.set_training_optimization_level(2);
            let mut g = gbdt::gradient_boost::GBDT::new(&cfg);
            let mut data = rows(&xtr, &ytr, c);
            g.fit(&mut data);
            g
        })
        .collect();
    let secs = t.elapsed().as_secs_f64();
    let test_rows = rows(&xte, &yte, 0);
    let scores: Vec<Vec<f64>> = models.iter().map(|g| g.predict(&test_rows).into_iter().map(f64::from).collect()).collect();
    println!(
        "{}",
        serde_json::json!({"crate": "gbdt 0.1.3", "fit_seconds": secs, "test_accuracy": accuracy(&scores, &yte),
            "rounds": rounds, "max_depth": depth, "learning_rate": 0.3, "multiclass": "one-vs-rest"})
    );
}
