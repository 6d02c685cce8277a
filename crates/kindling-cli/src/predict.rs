//! `kindling predict`: top-k classes of images (or of a normalised input tensor) as JSON lines.

use std::io::Write;
use std::path::PathBuf;

use crate::CliResult;
use kindling_data::transform::{Normalize, Pipeline, Transform};
use kindling_vision::predict::{self, PredictInput, PredictOptions};
use kindling_vision::pretrained::PretrainedSpec;
use kindling_vision::weights::{self, LayerKind};
use kindling_vision::{Arch, Family, VisionModel, VisionModelConfig, fetch};

/// Arguments of `kindling predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// Architecture: resnet18 … resnet152, vgg11 … vgg19, vgg11_bn … vgg19_bn (torchvision names),
    /// efficientnet_lite0 … efficientnet_lite4.
    #[arg(long)]
    pub model: String,
    /// Use the architecture's ImageNet weights: shipped with Kindling (efficientnet_lite0) or the
    /// cached official torchvision file (`kindling weights fetch <model>`); an error if unavailable.
    #[arg(long, conflicts_with = "weights")]
    pub pretrained: bool,
    /// Weights: a torchvision `.pth` state_dict or a safetensors file with torchvision keys.
    /// Default: the cached official weights (`kindling weights fetch <model>`), else random init.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Number of classes (default: read from the weights' classifier, else 1000).
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// ResNet small-input stem (3×3 stride-1 convolution, no max-pool).
    #[arg(long)]
    pub small_input: bool,
    /// Class names, one per line (default: ImageNet's for 1000 classes, else the index).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Classes reported per input.
    #[arg(long, default_value_t = 5)]
    pub topk: usize,
    /// Also print the raw logits.
    #[arg(long)]
    pub logits: bool,
    /// A safetensors file with a tensor `input`, f32 [N, 3, H, W], already normalised.
    #[arg(long, conflicts_with = "images", required_unless_present = "images")]
    pub input_tensor: Option<PathBuf>,
    /// Image files (JPEG, PNG).
    #[arg(value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Resize the shorter side to this many pixels first (0: no resize). Default: the model's
    /// (256 for torchvision models and EfficientNet-Lite0, native resolution + 32 for Lite1–4).
    #[arg(long)]
    pub resize: Option<u32>,
    /// Centre crop to this square size (0: no crop). Default: 224, or the EfficientNet's resolution.
    #[arg(long)]
    pub crop: Option<u32>,
    /// Channel means for normalisation (R,G,B on the 0–1 scale). Default: ImageNet's
    /// 0.485,0.456,0.406 for torchvision models, 127/255 for EfficientNet-Lite.
    #[arg(long, value_delimiter = ',', num_args = 3)]
    pub mean: Option<Vec<f32>>,
    /// Channel standard deviations for normalisation. Default: ImageNet's 0.229,0.224,0.225 for
    /// torchvision models, 128/255 for EfficientNet-Lite.
    #[arg(long, value_delimiter = ',', num_args = 3)]
    pub std: Option<Vec<f32>>,
    /// Skip normalisation (pixels stay in 0–1).
    #[arg(long)]
    pub no_normalize: bool,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Device: cpu, ndarray, cuda[:N].
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// A classical head saved by `kindling fit-head --save`: classify the model's features with it
    /// instead of the model's own classifier (the head's preprocessing is reused unless overridden).
    #[arg(long, conflicts_with_all = ["input_tensor", "logits", "labels"])]
    pub head: Option<PathBuf>,
}

impl PredictArgs {
    /// The image preprocessing the flags describe, with the architecture's defaults
    /// ([`Arch::preprocessing`]) for every flag not given.
    pub fn pipeline(&self, arch: Arch) -> Pipeline {
        let (resize, crop, norm) = arch.preprocessing();
        let mut steps = Vec::new();
        if let r @ 1.. = self.resize.unwrap_or(resize) {
            steps.push(Transform::Resize(r));
        }
        if let c @ 1.. = self.crop.unwrap_or(crop) {
            steps.push(Transform::CenterCrop(c));
        }
        steps.push(Transform::GrayToRgb);
        let pipeline = Pipeline::new(steps);
        if self.no_normalize {
            return pipeline;
        }
        let three = |v: &Option<Vec<f32>>, default: [f32; 3]| v.as_ref().map_or(default, |v| [v[0], v[1], v[2]]);
        pipeline.with_normalize(Normalize { mean: three(&self.mean, norm.mean), std: three(&self.std, norm.std) })
    }
}

/// Builds the model the arguments describe, loading weights when given or cached.
pub fn load_model(args: &PredictArgs, device: &burn::tensor::Device) -> CliResult<VisionModel> {
    let arch: Arch = args.model.parse()?;
    let config = |n: usize| VisionModelConfig::new(arch).with_num_classes(n).with_small_input(args.small_input);
    let shipped = || PretrainedSpec::get(arch.name()).and_then(|spec| spec.resolve());
    let weights_path = match &args.weights {
        Some(p) => Some(p.clone()),
        None if args.pretrained => Some(match arch.family() {
            Family::EfficientNet => shipped()?,
            _ => fetch::cached(fetch::weights_for(arch, None)?, &fetch::cache_dir()).ok_or_else(|| {
                format!("no cached ImageNet weights for {arch}: run `kindling weights fetch {arch}` first")
            })?,
        }),
        None if args.num_classes.unwrap_or(1000) == 1000 && !args.small_input => match arch.family() {
            Family::EfficientNet => shipped().ok(),
            _ => fetch::weights_for(arch, None).ok().and_then(|spec| fetch::cached(spec, &fetch::cache_dir())),
        },
        None => None,
    };
    let Some(path) = weights_path else {
        eprintln!(
            "warning: no --weights given and none cached: using randomly initialised weights (see `kindling weights fetch {arch}`)"
        );
        return Ok(config(args.num_classes.unwrap_or(1000)).init(device)?);
    };
    if args.weights.is_none() {
        eprintln!("using ImageNet weights {}", path.display());
    }
    let state = weights::read_state_dict(&path)?;
    let num_classes = match args.num_classes {
        Some(n) => n,
        None => {
            // The classifier's output width: the first dimension of the last linear weight.
            let layout = weights::torchvision_layout(&config(1000).init(device)?)?;
            let head = layout.iter().rev().find(|p| p.kind == LayerKind::Linear && p.key.ends_with(".weight"));
            head.and_then(|p| state.get(&p.key)).map(|t| t.shape[0]).unwrap_or(1000)
        }
    };
    Ok(weights::load_state_dict(config(num_classes).init(device)?, state, &path)?)
}

/// Runs `kindling predict`, printing one JSON object per input and line on stdout.
pub fn run(args: PredictArgs) -> CliResult {
    let device = kindling_core::device_from_str(&args.device)?;
    let model = load_model(&args, &device)?;
    let arch: Arch = args.model.parse()?;
    if let Some(head) = &args.head {
        return crate::predict_head::run(&args, head, model, arch, &device);
    }
    let labels = args.labels.as_ref().map(predict::read_labels).transpose()?;
    let options = PredictOptions {
        topk: args.topk,
        logits: args.logits,
        labels,
        pipeline: args.pipeline(arch),
        batch_size: args.batch_size,
    };
    let input = match &args.input_tensor {
        Some(path) => PredictInput::TensorFile(path.clone()),
        None => PredictInput::Images(args.images.clone()),
    };
    let records = predict::predict(&model, &input, &options, &device)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for record in &records {
        writeln!(out, "{}", serde_json::to_string(record)?)?;
    }
    out.flush()?;
    Ok(())
}
