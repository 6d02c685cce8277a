//! `kindling extract`: CNN features of a dataset split to a safetensors file.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use kindling_core::DeviceSpec;
use kindling_data::transform::{Pipeline, Transform};
use kindling_data::{DataSource, Split};
use kindling_heads::{ExtractConfig, FeatureExtractor, extract_features};
use kindling_vision::efficientnet::EfficientNetLiteConfig;
use kindling_vision::pretrained::{self, PretrainedSpec};

use crate::CliResult;

/// Arguments of `kindling extract`.
#[derive(Args)]
pub struct ExtractArgs {
    /// Feature extractor: efficientnet_lite0.
    #[arg(long, default_value = "efficientnet_lite0")]
    model: String,
    /// PyTorch-keyed weight file (.pth or .safetensors) to load instead of the pretrained weights.
    #[arg(long, conflicts_with = "pretrained")]
    weights: Option<PathBuf>,
    /// Use the pretrained ImageNet weights (the default when --weights is not given).
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
    device: DeviceSpec,
}

/// Builds the extractor named `model` and its evaluation preprocessing.
///
/// Note for the lead: extend this with the generic vision model (VGG/ResNet) once it lands; every model
/// with a `forward_features` fits `kindling_heads::FeatureExtractor` through `FnExtractor`.
pub fn load_extractor(
    model: &str,
    weights: Option<&std::path::Path>,
    device: &burn::tensor::Device,
) -> CliResult<(Box<dyn FeatureExtractor>, Pipeline)> {
    let spec = PretrainedSpec::get(model)?;
    let net = match weights {
        None => pretrained::efficientnet_lite0(device)?,
        Some(path) => {
            let net = EfficientNetLiteConfig::lite(0).init(device);
            let map = net.torch_key_map();
            pretrained::load_torch_keyed(net, path, &map)?
        }
    };
    Ok((Box::new(net), spec.preprocessing()))
}

/// `spec`'s steps with the resize and crop replaced by `size`.
pub fn resized(pipeline: Pipeline, size: u32) -> Pipeline {
    let mut steps = vec![Transform::Resize(size), Transform::CenterCrop(size)];
    steps.extend(pipeline.steps.into_iter().filter(|s| !matches!(s, Transform::Resize(_) | Transform::CenterCrop(_))));
    Pipeline { steps, normalize: pipeline.normalize }
}

pub fn run(args: ExtractArgs) -> CliResult {
    let device = args.device.device()?;
    let (extractor, pipeline) = load_extractor(&args.model, args.weights.as_deref(), &device)?;
    let pipeline = match args.image_size {
        Some(s) => resized(pipeline, s),
        None => pipeline,
    };
    let source: DataSource = args.data.parse()?;
    let mut data = source.load(args.split)?;
    if !args.classes.is_empty() {
        let labels = data.labels();
        data = data.subset(&(0..labels.len()).filter(|&i| args.classes.contains(&labels[i])).collect::<Vec<_>>());
    }
    if let Some(per) = args.per_class {
        data = data.subset(&kindling_data::split::first_per_class(&data.labels(), per));
    }
    let config = ExtractConfig::new(pipeline).with_batch_size(args.batch_size);
    let start = std::time::Instant::now();
    let features = extract_features(extractor.as_ref(), &data, data.classes(), &config, &device, |done, total| {
        eprint!("\rextracting {} {}: {done}/{total}", source, args.split.name());
        let _ = std::io::stderr().flush();
    })?;
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());
    let features = features.with_metadata("source", source.to_string()).with_metadata("split", args.split.name());
    features.save(&args.out)?;
    eprintln!("wrote {} ({} x {}, model {})", args.out.display(), features.len(), features.dim(), features.model);
    Ok(())
}
