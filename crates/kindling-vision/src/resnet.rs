//! ResNet-18/34/50/101/152, structurally identical to torchvision's (v1.5: the stride of a
//! bottleneck sits on its 3×3 convolution), plus a small-input stem for 28–32 px images.

use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use kindling_core::Result;
use serde::{Deserialize, Serialize};

use crate::stages::{linear_dims, stage_group};

/// The residual block a ResNet is built from.
///
/// ```
/// use kindling_vision::{BlockKind, ResNetConfig};
/// assert_eq!(ResNetConfig::resnet50().block, BlockKind::Bottleneck);
/// assert_eq!(BlockKind::Bottleneck.expansion(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// Two 3×3 convolutions (ResNet-18/34).
    Basic,
    /// 1×1 → 3×3 → 1×1 convolutions with a 4× wider output (ResNet-50/101/152).
    Bottleneck,
}

impl BlockKind {
    /// Ratio of a block's output channels to its `planes`.
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// Configuration of a [`ResNet`].
///
/// ```
/// use kindling_vision::ResNetConfig;
/// let device = kindling_core::default_device();
/// let model = ResNetConfig::resnet18().with_num_classes(10).with_small_input(true).init(&device);
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 32, 32], &device);
/// assert_eq!(model.forward(x).dims(), [1, 10]);
/// ```
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// Block type.
    pub block: BlockKind,
    /// Number of blocks in `layer1`..`layer4`.
    pub layers: [usize; 4],
    /// Output classes of the `head`.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Small-input stem: a 3×3 stride-1 convolution and no max-pool (for 28–32 px images)
    /// instead of torchvision's 7×7 stride-2 convolution + 3×3 max-pool.
    #[config(default = false)]
    pub small_input: bool,
    /// Channels of the stem and `layer1` (torchvision: 64); `layer2..4` use 2×, 4×, 8×. Narrower
    /// networks (e.g. 16) train fast from scratch on small images; pretrained weights need 64.
    #[config(default = 64)]
    pub base_width: usize,
}

impl ResNetConfig {
    /// ResNet-18: basic blocks `[2, 2, 2, 2]`.
    pub fn resnet18() -> Self {
        Self::new(BlockKind::Basic, [2, 2, 2, 2])
    }
    /// ResNet-34: basic blocks `[3, 4, 6, 3]`.
    pub fn resnet34() -> Self {
        Self::new(BlockKind::Basic, [3, 4, 6, 3])
    }
    /// ResNet-50: bottlenecks `[3, 4, 6, 3]`.
    pub fn resnet50() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 6, 3])
    }
    /// ResNet-101: bottlenecks `[3, 4, 23, 3]`.
    pub fn resnet101() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 4, 23, 3])
    }
    /// ResNet-152: bottlenecks `[3, 8, 36, 3]`.
    pub fn resnet152() -> Self {
        Self::new(BlockKind::Bottleneck, [3, 8, 36, 3])
    }

    /// Creates the model with torchvision's initialisation (Kaiming-normal fan-out convolutions,
    /// BatchNorm γ = 1, β = 0). Parameters are lazy: loading weights right away skips the random fill.
    pub fn init(&self, device: &Device) -> ResNet {
        let w = self.base_width.max(1);
        let stem = if self.small_input {
            Stem { conv: conv(3, w, 3, 1, device), bn: bn(w, device), pool: None }
        } else {
            let pool = MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init();
            Stem { conv: conv(3, w, 7, 2, device), bn: bn(w, device), pool: Some(pool) }
        };
        let mut in_planes = w;
        let mut make_layer = |planes: usize, blocks: usize, stride: usize| {
            let layer: Vec<ResidualBlock> = (0..blocks)
                .map(|i| {
                    let block =
                        ResidualBlock::new(self.block, in_planes, planes, if i == 0 { stride } else { 1 }, device);
                    in_planes = planes * self.block.expansion();
                    block
                })
                .collect();
            layer
        };
        let layer1 = make_layer(w, self.layers[0], 1);
        let layer2 = make_layer(2 * w, self.layers[1], 2);
        let layer3 = make_layer(4 * w, self.layers[2], 2);
        let layer4 = make_layer(8 * w, self.layers[3], 2);
        let num_features = 8 * w * self.block.expansion();
        ResNet {
            stem,
            layer1,
            layer2,
            layer3,
            layer4,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: LinearConfig::new(num_features, self.num_classes).init(device),
        }
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal { gain: std::f64::consts::SQRT_2, fan_out_only: true })
        .init(device)
}

fn bn(c: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(c).init(device)
}

/// The stem: convolution, BatchNorm, ReLU and (standard stem only) 3×3 stride-2 max-pool.
///
/// ```
/// use kindling_vision::ResNetConfig;
/// let device = kindling_core::default_device();
/// let stem = ResNetConfig::resnet18().init(&device).stem;
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 64, 64], &device);
/// assert_eq!(stem.forward(x).dims(), [1, 64, 16, 16]);
/// ```
#[derive(Module, Debug)]
pub struct Stem {
    /// 7×7 stride 2 (standard) or 3×3 stride 1 (small input), 64 channels, no bias.
    pub conv: Conv2d,
    /// BatchNorm after `conv`.
    pub bn: BatchNorm,
    /// Max-pool of the standard stem; `None` for the small-input stem.
    pub pool: Option<MaxPool2d>,
}

impl Stem {
    /// `[N, 3, H, W]` → `[N, 64, H/4, W/4]` (standard) or `[N, 64, H, W]` (small input).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::batch_norm_relu(&self.bn, crate::conv2d(&self.conv, x));
        match &self.pool {
            Some(pool) => crate::max_pool2d(pool, x),
            None => x,
        }
    }
}

/// The projection shortcut of a block that changes shape: 1×1 convolution + BatchNorm.
///
/// ```
/// use kindling_vision::ResNetConfig;
/// let model = ResNetConfig::resnet18().init(&kindling_core::default_device());
/// assert!(model.layer1[0].downsample.is_none());
/// assert!(model.layer2[0].downsample.is_some());
/// ```
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1×1 convolution carrying the block's stride.
    pub conv: Conv2d,
    /// BatchNorm after `conv`.
    pub bn: BatchNorm,
}

/// A basic block (`conv3`/`bn3` absent) or a bottleneck, with torchvision's parameter names.
///
/// ```
/// use kindling_vision::{BlockKind, ResidualBlock};
/// let device = kindling_core::default_device();
/// let block = ResidualBlock::new(BlockKind::Bottleneck, 64, 64, 2, &device);
/// let x = burn::tensor::Tensor::<4>::zeros([1, 64, 8, 8], &device);
/// assert_eq!(block.forward(x).dims(), [1, 256, 4, 4]);
/// ```
#[derive(Module, Debug)]
pub struct ResidualBlock {
    /// 3×3 (basic, strided) or 1×1 (bottleneck) convolution.
    pub conv1: Conv2d,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm,
    /// 3×3 convolution (strided in a bottleneck).
    pub conv2: Conv2d,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm,
    /// Expanding 1×1 convolution of a bottleneck.
    pub conv3: Option<Conv2d>,
    /// BatchNorm after `conv3`.
    pub bn3: Option<BatchNorm>,
    /// Projection shortcut when stride or width changes.
    pub downsample: Option<Downsample>,
}

impl ResidualBlock {
    /// A block of `kind` taking `in_planes` channels to `planes * expansion`.
    pub fn new(kind: BlockKind, in_planes: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let out = planes * kind.expansion();
        let downsample = (stride != 1 || in_planes != out)
            .then(|| Downsample { conv: conv(in_planes, out, 1, stride, device), bn: bn(out, device) });
        match kind {
            BlockKind::Basic => ResidualBlock {
                conv1: conv(in_planes, planes, 3, stride, device),
                bn1: bn(planes, device),
                conv2: conv(planes, planes, 3, 1, device),
                bn2: bn(planes, device),
                conv3: None,
                bn3: None,
                downsample,
            },
            BlockKind::Bottleneck => ResidualBlock {
                conv1: conv(in_planes, planes, 1, 1, device),
                bn1: bn(planes, device),
                conv2: conv(planes, planes, 3, stride, device),
                bn2: bn(planes, device),
                conv3: Some(conv(planes, out, 1, 1, device)),
                bn3: Some(bn(out, device)),
                downsample,
            },
        }
    }

    /// `relu(residual(x) + shortcut(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => crate::batch_norm(&d.bn, crate::conv2d(&d.conv, x.clone())),
            None => x.clone(),
        };
        let out = crate::batch_norm_relu(&self.bn1, crate::conv2d(&self.conv1, x));
        // The residual addition and the final ReLU run inside the last BatchNorm's kernels.
        match (&self.conv3, &self.bn3) {
            (Some(conv3), Some(bn3)) => {
                let out = crate::batch_norm_relu(&self.bn2, crate::conv2d(&self.conv2, out));
                crate::batch_norm_add_relu(bn3, crate::conv2d(conv3, out), identity)
            }
            _ => crate::batch_norm_add_relu(&self.bn2, crate::conv2d(&self.conv2, out), identity),
        }
    }
}

/// A ResNet. Parameter paths start with the stage name: `stem.conv.weight`,
/// `layer1.0.conv1.weight`, `layer2.0.downsample.conv.weight`, `head.weight`, …
///
/// ```
/// use kindling_vision::ResNetConfig;
/// let device = kindling_core::default_device();
/// let model = ResNetConfig::resnet18().init(&device).with_num_classes(5);
/// assert_eq!((model.num_features(), model.num_classes()), (512, 5));
/// let x = burn::tensor::Tensor::<4>::zeros([2, 3, 64, 64], &device);
/// let maps = model.feature_maps(x.clone());
/// assert_eq!(maps[4].0, "layer4");
/// assert_eq!(maps[4].1.dims(), [2, 512, 2, 2]);
/// assert_eq!(model.forward_features(x).dims(), [2, 512]);
/// ```
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem (torchvision `conv1`, `bn1`, `maxpool`).
    pub stem: Stem,
    /// Stage 1 (64 planes, stride 1).
    pub layer1: Vec<ResidualBlock>,
    /// Stage 2 (128 planes, stride 2).
    pub layer2: Vec<ResidualBlock>,
    /// Stage 3 (256 planes, stride 2).
    pub layer3: Vec<ResidualBlock>,
    /// Stage 4 (512 planes, stride 2).
    pub layer4: Vec<ResidualBlock>,
    /// Global average pool.
    pub pool: AdaptiveAvgPool2d,
    /// Classifier (torchvision `fc`).
    pub head: Linear,
}

impl ResNet {
    /// Stage names in forward order; every parameter path starts with one of them.
    pub const STAGES: &'static [&'static str] = &["stem", "layer1", "layer2", "layer3", "layer4", "head"];

    /// Logits `[N, num_classes]` of images `[N, 3, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.forward_features(x))
    }

    /// Globally pooled features before the classifier, `[N, num_features]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.forward_stages(x, |_, _| {});
        self.pool.forward(x).flatten(1, 3)
    }

    /// Output of every convolutional stage (`stem`, `layer1`..`layer4`), in order.
    pub fn feature_maps(&self, x: Tensor<4>) -> Vec<(&'static str, Tensor<4>)> {
        let mut maps = Vec::with_capacity(5);
        self.forward_stages(x, |name, t| maps.push((name, t.clone())));
        maps
    }

    fn forward_stages(&self, x: Tensor<4>, mut tap: impl FnMut(&'static str, &Tensor<4>)) -> Tensor<4> {
        let mut x = self.stem.forward(x);
        tap("stem", &x);
        for (name, layer) in
            [("layer1", &self.layer1), ("layer2", &self.layer2), ("layer3", &self.layer3), ("layer4", &self.layer4)]
        {
            x = layer.iter().fold(x, |x, block| block.forward(x));
            tap(name, &x);
        }
        x
    }

    /// Width of [`forward_features`](Self::forward_features) (512 or 2048).
    pub fn num_features(&self) -> usize {
        linear_dims(&self.head).0
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        linear_dims(&self.head).1
    }

    /// The stage names, see [`ResNet::STAGES`].
    pub fn stage_names(&self) -> &'static [&'static str] {
        Self::STAGES
    }

    /// Replaces the head with a freshly initialised `num_features → n` layer, keeping the backbone.
    pub fn with_num_classes(mut self, n: usize) -> Self {
        let device = self.head.weight.lazy_device();
        self.head = LinearConfig::new(self.num_features(), n).init(&device);
        self
    }

    /// The parameters of the named stages, for freezing or per-group learning rates.
    ///
    /// An unknown stage name gives [`kindling_core::Error::Config`].
    pub fn stage_param_group(&self, stages: &[&str]) -> Result<ParamGroup> {
        stage_group("", stages, Self::STAGES)
    }

    /// Freezes the named stages (no gradients, BatchNorm statistics kept).
    pub fn freeze_stages(self, stages: &[&str]) -> Result<Self> {
        let group = self.stage_param_group(stages)?;
        Ok(self.freeze_group(group))
    }
}

impl crate::weights::TorchvisionNames for ResNet {
    fn torchvision_names(&self) -> Vec<(String, String)> {
        let mut names = vec![
            ("stem.conv".to_string(), "conv1".to_string()),
            ("stem.bn".to_string(), "bn1".to_string()),
            ("head".to_string(), "fc".to_string()),
        ];
        for (stage, layer) in
            [("layer1", &self.layer1), ("layer2", &self.layer2), ("layer3", &self.layer3), ("layer4", &self.layer4)]
        {
            for i in 0..layer.len() {
                let block = format!("{stage}.{i}");
                for m in ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3"] {
                    names.push((format!("{block}.{m}"), format!("{block}.{m}")));
                }
                names.push((format!("{block}.downsample.conv"), format!("{block}.downsample.0")));
                names.push((format!("{block}.downsample.bn"), format!("{block}.downsample.1")));
            }
        }
        names
    }
}
