//! Extracts EfficientNet-Lite0 features of the embedded Fashion-MNIST sample.
//!
//! `cargo run --release -p kindling-heads --example extract_fmnist -- OUT_DIR [IMAGE_SIZE] [PER_CLASS_TRAIN] [PER_CLASS_TEST]`
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use kindling_data::transform::{Normalize, Pipeline, Transform};
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = std::path::PathBuf::from(args.first().map(String::as_str).unwrap_or("."));
    let size: u32 = args.get(1).map_or(Ok(96), |s| s.parse())?;
    let per_train: usize = args.get(2).map_or(Ok(200), |s| s.parse())?;
    let per_test: usize = args.get(3).map_or(Ok(100), |s| s.parse())?;
    let device = kindling_core::default_device();
    let net = kindling_vision::pretrained::efficientnet_lite0(&device)?;
    let pipeline = Pipeline::new(vec![Transform::GrayToRgb, Transform::ResizeExact { height: size, width: size }])
        .with_normalize(Normalize::tensorflow_lite());
    let cfg = kindling_heads::ExtractConfig::new(pipeline);
    for (split, data, per) in [
        ("train", kindling_data::Embedded::FashionMnist.train()?, per_train),
        ("test", kindling_data::Embedded::FashionMnist.test()?, per_test),
    ] {
        let idx = kindling_data::split::first_per_class(data.labels(), per);
        let data = data.subset(&idx);
        let t = std::time::Instant::now();
        let fs = kindling_heads::extract_features(&net, &data, data.classes().to_vec(), &cfg, &device, |d, n| {
            eprint!("\r{split}: {d}/{n}")
        })?;
        eprintln!(" {:.1}s", t.elapsed().as_secs_f64());
        fs.with_metadata("split", split).save(out.join(format!("fmnist_{split}.safetensors")))?;
    }
    Ok(())
}
