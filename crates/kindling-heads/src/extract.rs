//! Feature extraction: a CNN without its classifier, run over a dataset in batches.

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorData};
use kindling_core::derive_seed;
use kindling_data::ImageItem;
use kindling_data::transform::Pipeline;
use kindling_vision::efficientnet::EfficientNetLite;
use kindling_vision::{Arch, FusedModel, VisionModel};
use ndarray::Array2;
use rayon::prelude::*;

use crate::error::{HeadsError, Result};
use crate::features::FeatureSet;

/// A network that maps images `[B, 3, H, W]` to feature vectors `[B, D]` (a CNN minus its output layer).
///
/// Implemented for [`EfficientNetLite`] and for any closure through [`FnExtractor`], so any model with a
/// `forward_features` can be plugged in.
///
/// ```
/// use kindling_heads::FeatureExtractor;
/// let device = kindling_core::default_device();
/// let net = kindling_vision::efficientnet::EfficientNetLiteConfig::lite(0).init(&device);
/// let x = burn::tensor::Tensor::<4>::zeros([2, 3, 32, 32], &device);
/// assert_eq!(net.features(x).dims(), [2, net.num_features()]);
/// assert_eq!(FeatureExtractor::num_features(&net), 1280);
/// ```
pub trait FeatureExtractor: Sync {
    /// Name written into feature files (`model` metadata).
    fn name(&self) -> String;
    /// Width `D` of the feature vectors.
    fn num_features(&self) -> usize;
    /// Features `[B, D]` of a batch of preprocessed images `[B, C, H, W]`.
    fn features(&self, images: Tensor<4>) -> Tensor<2>;
}

impl FeatureExtractor for EfficientNetLite {
    fn name(&self) -> String {
        // Lite0..4 differ in block count (depth) and in the width of the last stage.
        let stages = self.stages();
        let blocks: usize = stages.iter().map(|s| s.len()).sum();
        let last = stages[6].last().map_or(0, |b| b.project.conv.weight.dims()[0]);
        match (blocks, last) {
            (16, 320) => "efficientnet_lite0",
            (21, 320) => "efficientnet_lite1",
            (21, 352) => "efficientnet_lite2",
            (24, 384) => "efficientnet_lite3",
            (30, 448) => "efficientnet_lite4",
            _ => "efficientnet_lite",
        }
        .to_string()
    }

    fn num_features(&self) -> usize {
        EfficientNetLite::num_features(self)
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_features(images)
    }
}

/// Any Kindling vision model (VGG, ResNet, EfficientNet-Lite) as a feature extractor: the input of its
/// last linear layer ([`VisionModel::forward_pre_logits`]: pooled features for ResNet and EfficientNet,
/// the 4096-wide `fc2` activation for VGG), named after its architecture.
///
/// [`VisionExtractor::new`] also prepares the fused CPU inference engine ([`VisionModel::fuse`]:
/// BatchNorm folded into the convolutions, NHWC, fused activations) where it computes these
/// features — ResNet and EfficientNet-Lite on burn-flex — and uses it: the same features to float
/// rounding, several times faster (BENCHMARKS.md).
///
/// ```
/// use kindling_heads::{FeatureExtractor, VisionExtractor};
/// use kindling_vision::Arch;
/// let device = kindling_core::default_device();
/// let ex = VisionExtractor::new(Arch::Resnet18, Arch::Resnet18.init(10, &device), &device)?;
/// assert!(ex.fused.is_some());
/// assert_eq!((ex.name(), ex.num_features()), ("resnet18".to_string(), 512));
/// let x = burn::tensor::Tensor::<4>::zeros([2, 3, 32, 32], &device);
/// assert_eq!(ex.features(x).dims(), [2, 512]);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
#[derive(Debug)]
pub struct VisionExtractor {
    /// The architecture (its name goes into feature files).
    pub arch: Arch,
    /// The model, with its weights.
    pub model: VisionModel,
    /// `model` through the fused engine, used for images on burn-flex (`None`: the model's modules).
    pub fused: Option<FusedModel>,
}

impl VisionExtractor {
    /// `model` as an extractor on `device`, with the fused engine where it applies (ResNet and
    /// EfficientNet-Lite on burn-flex; a VGG's `fc2` features come from its modules).
    ///
    /// # Errors
    /// If fusing the model fails ([`VisionModel::fuse`]).
    pub fn new(arch: Arch, model: VisionModel, device: &Device) -> Result<Self> {
        let fusable = *device == Device::flex() && !matches!(model, VisionModel::Vgg(_));
        let fused = if fusable { Some(model.fuse()?) } else { None };
        Ok(Self { arch, model, fused })
    }
}

impl FeatureExtractor for VisionExtractor {
    fn name(&self) -> String {
        self.arch.name().to_string()
    }
    fn num_features(&self) -> usize {
        self.model.num_pre_logits()
    }
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        match &self.fused {
            Some(fused) if images.device() == Device::flex() => match fused.forward_features(images.clone()) {
                Ok(features) => features,
                // A shape the engine rejects: the modules give burn's own diagnosis.
                Err(_) => self.model.forward_pre_logits(images),
            },
            _ => self.model.forward_pre_logits(images),
        }
    }
}

/// A [`FeatureExtractor`] made of a name, a width and a closure.
///
/// ```
/// use kindling_heads::{FeatureExtractor, FnExtractor};
/// let device = kindling_core::default_device();
/// let net = kindling_vision::efficientnet::EfficientNetLiteConfig::lite(0).init(&device);
/// let ex = FnExtractor::new("lite0-random", 1280, move |x| net.forward_features(x));
/// assert_eq!(ex.name(), "lite0-random");
/// ```
pub struct FnExtractor<F> {
    name: String,
    dim: usize,
    f: F,
}

impl<F: Fn(Tensor<4>) -> Tensor<2> + Sync> FnExtractor<F> {
    /// Wraps `f`, which must return `[B, dim]`.
    pub fn new(name: &str, dim: usize, f: F) -> Self {
        FnExtractor { name: name.to_string(), dim, f }
    }
}

impl<F: Fn(Tensor<4>) -> Tensor<2> + Sync> FeatureExtractor for FnExtractor<F> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn num_features(&self) -> usize {
        self.dim
    }
    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        (self.f)(images)
    }
}

/// How to run an extraction.
///
/// ```
/// use kindling_heads::ExtractConfig;
/// use kindling_data::transform::Pipeline;
/// let cfg = ExtractConfig::new(Pipeline::imagenet_eval(64, 64)).with_batch_size(32);
/// assert_eq!(cfg.batch_size, 32);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractConfig {
    /// Preprocessing of every image (should be deterministic: no random steps).
    pub pipeline: Pipeline,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Seed for the pipeline's random steps, if any.
    pub seed: u64,
}

impl ExtractConfig {
    /// Batches of 64 with `pipeline`.
    pub fn new(pipeline: Pipeline) -> Self {
        ExtractConfig { pipeline, batch_size: 64, seed: 0 }
    }

    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
}

/// Runs `extractor` over every image of `dataset` and collects a [`FeatureSet`].
///
/// `progress(done, total)` is called after every batch. Images are preprocessed in parallel.
///
/// ```
/// use kindling_heads::{ExtractConfig, extract_features};
/// use kindling_data::{Embedded, transform::{Pipeline, Transform, Normalize}};
/// let device = kindling_core::default_device();
/// let net = kindling_vision::efficientnet::EfficientNetLiteConfig::lite(0).init(&device);
/// let data = Embedded::FashionMnist.test()?.subset(&[0, 1, 2]);
/// let cfg = ExtractConfig::new(
///     Pipeline::new(vec![Transform::GrayToRgb, Transform::Resize(32)]).with_normalize(Normalize::tensorflow_lite()),
/// );
/// let mut calls = 0;
/// let fs = extract_features(&net, &data, data.classes().to_vec(), &cfg, &device, |_, _| calls += 1)?;
/// assert_eq!((fs.len(), fs.dim(), calls), (3, 1280, 1));
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
pub fn extract_features<D, P>(
    extractor: &dyn FeatureExtractor,
    dataset: &D,
    classes: Vec<String>,
    config: &ExtractConfig,
    device: &Device,
    mut progress: P,
) -> Result<FeatureSet>
where
    D: Dataset<ImageItem> + ?Sized,
    P: FnMut(usize, usize),
{
    if config.batch_size == 0 {
        return Err(HeadsError::InvalidParam("batch size must be at least 1".into()));
    }
    let n = dataset.len();
    let dim = extractor.num_features();
    let mut features = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + config.batch_size).min(n);
        let items = (start..end)
            .into_par_iter()
            .map(|i| {
                let item = dataset
                    .get(i)
                    .map_err(|e| HeadsError::Data(format!("cannot read image {i} of the dataset: {e}")))?;
                let mut rng = kindling_core::seeded_rng(derive_seed(config.seed, &i.to_string()));
                Ok((config.pipeline.apply(item.image, &mut rng), item.label))
            })
            .collect::<Result<Vec<_>>>()?;
        let (c, h, w) = (items[0].0.channels, items[0].0.height, items[0].0.width);
        let mut pixels = Vec::with_capacity(items.len() * c * h * w);
        for (i, (img, label)) in items.iter().enumerate() {
            if (img.channels, img.height, img.width) != (c, h, w) {
                return Err(HeadsError::Data(format!(
                    "image {} is {}x{}x{} after preprocessing but image {start} is {c}x{h}x{w}: \
                     add a resize and center crop to the pipeline",
                    start + i,
                    img.channels,
                    img.height,
                    img.width
                )));
            }
            pixels.extend_from_slice(&img.data);
            labels.push(*label);
        }
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [items.len(), c, h, w]), device);
        let f = extractor.features(x);
        let [b, d] = f.dims();
        if b != items.len() || d != dim {
            return Err(HeadsError::Data(format!(
                "{} returned features [{b}, {d}] for a batch of {}; expected [{}, {dim}]",
                extractor.name(),
                items.len(),
                items.len()
            )));
        }
        features.extend(kindling_core::tensor::to_vec_f32(f)?);
        start = end;
        progress(start, n);
    }
    let features = Array2::from_shape_vec((n, dim), features).map_err(|e| HeadsError::Data(e.to_string()))?;
    let pipeline = serde_json::to_string(&config.pipeline).unwrap_or_default();
    Ok(FeatureSet::new(features, labels, classes, &extractor.name())?.with_metadata("preprocessing", pipeline))
}
