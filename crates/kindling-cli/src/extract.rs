//! `kindling extract`: CNN features of a dataset split to a safetensors file.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use kindling_data::{DataSource, Split};
use kindling_heads::{ExtractConfig, VisionExtractor, extract_features};
use kindling_vision::Arch;

use crate::CliResult;
use crate::predict::{PredictArgs, load_model};

/// Arguments of `kindling extract`.
#[derive(Args)]
pub struct ExtractArgs {
    /// Feature extractor: resnet18 … resnet152, vgg11 … vgg19_bn, efficientnet_lite0 … efficientnet_lite4.
    #[arg(long, default_value = "efficientnet_lite0")]
    model: String,
    /// Weights: a torchvision-keyed `.pth` or safetensors file (any number of classes: the classifier is
    /// not used). Default: the shipped or cached ImageNet weights, as `kindling predict`.
    #[arg(long, conflicts_with = "pretrained")]
    weights: Option<PathBuf>,
    /// Use the architecture's ImageNet weights; an error if they are not available.
    #[arg(long)]
    pretrained: bool,
    /// Dataset: fashion-mnist, mnist, idx:DIR, folder:DIR.
    #[arg(long, short)]
    data: String,
    /// Split to extract.
    #[arg(long, default_value = "train")]
    split: Split,
    /// Output file (.safetensors): `features` f32 [N, D], `labels` i64 [N].
    #[arg(long, short)]
    out: PathBuf,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Resize (shorter side) and center-crop to this size instead of the model's native preprocessing
    /// (e.g. 96 for 28x28 Fashion-MNIST: much faster than 224).
    #[arg(long)]
    image_size: Option<u32>,
    /// Keep only the first N images of each class.
    #[arg(long)]
    per_class: Option<usize>,
    /// Keep only these class indices (comma-separated); labels and class names stay as in the dataset.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<usize>,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// The model and preprocessing `kindling predict` would use for the same flags.
fn predict_args(args: &ExtractArgs) -> PredictArgs {
    PredictArgs {
        model: args.model.clone(),
        pretrained: args.pretrained,
        weights: args.weights.clone(),
        num_classes: None,
        small_input: false,
        labels: None,
        topk: 1,
        logits: false,
        input_tensor: None,
        images: Vec::new(),
        resize: args.image_size,
        crop: args.image_size,
        mean: None,
        std: None,
        no_normalize: false,
        batch_size: args.batch_size,
        device: args.device.clone(),
        head: None,
    }
}

/// Runs `kindling extract`: progress on stderr, the feature file at `--out`.
pub fn run(args: ExtractArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let arch: Arch = args.model.parse()?;
    let pargs = predict_args(&args);
    let extractor = VisionExtractor::new(arch, load_model(&pargs, &device)?, &device)?;
    let source: DataSource = args.data.parse()?;
    let mut data = source.load(args.split)?;
    if !args.classes.is_empty() {
        let labels = data.labels();
        data = data.subset(&(0..labels.len()).filter(|&i| args.classes.contains(&labels[i])).collect::<Vec<_>>());
    }
    if let Some(per) = args.per_class {
        data = data.subset(&kindling_data::split::first_per_class(&data.labels(), per));
    }
    let config = ExtractConfig::new(pargs.pipeline(arch)).with_batch_size(args.batch_size);
    let start = std::time::Instant::now();
    let features = extract_features(&extractor, &data, data.classes(), &config, &device, |done, total| {
        eprint!("\rextracting {} {}: {done}/{total}", source, args.split.name());
        let _ = std::io::stderr().flush();
    })?;
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());
    let features = features.with_metadata("source", source.to_string()).with_metadata("split", args.split.name());
    features.save(&args.out)?;
    eprintln!("wrote {} ({} x {}, model {})", args.out.display(), features.len(), features.dim(), features.model);
    Ok(())
}
