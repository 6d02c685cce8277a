//! Times fine-tuning steps of EfficientNet-Lite0 on embedded Fashion-MNIST at a given input size.
//!
//! `cargo run --release -p kindling-transfer --example finetune_timing -- 96 32 200 stage3`
//! (input side, batch size, images, freeze-until stage)

use kindling_data::Embedded;
use kindling_data::transform::{Normalize, Pipeline, Transform};
use kindling_transfer::{FineTuneConfig, FreezePolicy, ProgressMode, RunOptions, TrainData, fit};
use kindling_vision::pretrained;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let side: u32 = args.first().map_or(Ok(96), |s| s.parse())?;
    let batch: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let n: usize = args.get(2).map_or(Ok(320), |s| s.parse())?;
    let until = args.get(3).cloned();
    let device = kindling_core::default_device();
    let train = Embedded::FashionMnist.train()?;
    let idx = kindling_data::split::first_per_class(train.labels(), n / 10);
    let pipeline = Pipeline::new(vec![Transform::ResizeExact { height: side, width: side }, Transform::GrayToRgb])
        .with_normalize(Normalize::tensorflow_lite());
    let data = TrainData {
        classes: train.classes().to_vec(),
        train: train.subset(&idx),
        val: None,
        train_pipeline: pipeline.clone(),
        eval_pipeline: pipeline,
    };
    let model = pretrained::efficientnet_lite0(&device)?.with_num_classes(10);
    let cfg = FineTuneConfig::new(10)
        .with_epochs(1)
        .with_batch_size(batch)
        .with_val_fraction(0.0)
        .with_freeze(FreezePolicy { until, ..Default::default() });
    let opts = RunOptions { progress: ProgressMode::Plain, label: format!("lite0@{side}"), ..Default::default() };
    let out = fit(model, &data, &cfg, &opts, &device)?;
    let steps = n.div_ceil(batch);
    println!(
        "side {side} batch {batch}: {:.3} s/step, {:.1} img/s (train acc {:.3})",
        out.seconds / steps as f64,
        n as f64 / out.seconds,
        out.state.history[0].train_accuracy
    );
    Ok(())
}
