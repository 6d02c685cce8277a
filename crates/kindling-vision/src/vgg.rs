//! VGG-11/13/16/19 with and without BatchNorm (torchvision's configurations A/B/D/E):
//! `features`, adaptive average pool to 7×7, and a 3-layer classifier with dropout.

use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use kindling_core::Result;

use crate::stages::{linear_dims, stage_group};

/// Output channels of the five VGG blocks.
pub const VGG_CHANNELS: [usize; 5] = [64, 128, 256, 512, 512];

/// Configuration of a [`Vgg`].
///
/// ```
/// use kindling_vision::VggConfig;
/// let c = VggConfig::vgg16().with_batch_norm(true);
/// assert_eq!(c.convs, [2, 2, 3, 3, 3]);
/// assert_eq!(c.depth(), 16);
/// ```
#[derive(Config, Debug)]
pub struct VggConfig {
    /// Number of 3×3 convolutions in each of the five blocks (channels [`VGG_CHANNELS`]).
    pub convs: [usize; 5],
    /// BatchNorm after every convolution (torchvision's `vggNN_bn`).
    #[config(default = false)]
    pub batch_norm: bool,
    /// Output classes of the classifier.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Dropout probability in the classifier.
    #[config(default = 0.5)]
    pub dropout: f64,
}

impl VggConfig {
    /// VGG-11 (configuration A).
    pub fn vgg11() -> Self {
        Self::new([1, 1, 2, 2, 2])
    }
    /// VGG-13 (configuration B).
    pub fn vgg13() -> Self {
        Self::new([2, 2, 2, 2, 2])
    }
    /// VGG-16 (configuration D).
    pub fn vgg16() -> Self {
        Self::new([2, 2, 3, 3, 3])
    }
    /// VGG-19 (configuration E).
    pub fn vgg19() -> Self {
        Self::new([2, 2, 4, 4, 4])
    }

    /// Weight layers: convolutions + 3 classifier layers.
    pub fn depth(&self) -> usize {
        self.convs.iter().sum::<usize>() + 3
    }

    /// Creates the model with torchvision's initialisation (Kaiming-normal fan-out convolutions,
    /// zero biases, N(0, 0.01) linear weights). Parameters are lazy.
    pub fn init(&self, device: &Device) -> Vgg {
        let mut cin = 3;
        let mut blocks = VGG_CHANNELS.iter().zip(self.convs).map(|(&cout, n)| {
            (0..n)
                .map(|_| {
                    let unit = ConvUnit::new(cin, cout, self.batch_norm, device);
                    cin = cout;
                    unit
                })
                .collect::<Vec<_>>()
        });
        let mut next = || blocks.next().unwrap_or_default();
        let (block1, block2, block3, block4, block5) = (next(), next(), next(), next(), next());
        Vgg {
            block1,
            block2,
            block3,
            block4,
            block5,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            head: VggClassifier {
                fc1: linear(512 * 7 * 7, 4096, device),
                fc2: linear(4096, 4096, device),
                fc3: linear(4096, self.num_classes, device),
                dropout: DropoutConfig::new(self.dropout).init(),
            },
        }
    }
}

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut l =
        LinearConfig::new(d_in, d_out).with_initializer(Initializer::Normal { mean: 0.0, std: 0.01 }).init(device);
    l.bias = Some(Initializer::Zeros.init([d_out], device));
    l
}

/// A 3×3 convolution (with bias), optional BatchNorm, then ReLU.
///
/// ```
/// let device = kindling_core::default_device();
/// let unit = kindling_vision::ConvUnit::new(3, 8, true, &device);
/// let x = burn::tensor::Tensor::<4>::ones([1, 3, 5, 5], &device);
/// assert_eq!(unit.forward(x).dims(), [1, 8, 5, 5]);
/// ```
#[derive(Module, Debug)]
pub struct ConvUnit {
    /// 3×3 convolution, padding 1.
    pub conv: Conv2d,
    /// BatchNorm of the `_bn` variants.
    pub bn: Option<BatchNorm>,
}

impl ConvUnit {
    /// A unit taking `cin` to `cout` channels.
    pub fn new(cin: usize, cout: usize, batch_norm: bool, device: &Device) -> Self {
        let mut conv = Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_initializer(Initializer::KaimingNormal { gain: std::f64::consts::SQRT_2, fan_out_only: true })
            .init(device);
        conv.bias = Some(Initializer::Zeros.init([cout], device));
        ConvUnit { conv, bn: batch_norm.then(|| BatchNormConfig::new(cout).init(device)) }
    }

    /// `relu(bn(conv(x)))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::conv2d(&self.conv, x);
        match &self.bn {
            Some(bn) => crate::batch_norm_relu(bn, x),
            None => relu(x),
        }
    }
}

/// torchvision's `classifier`: `fc1` → ReLU → dropout → `fc2` → ReLU → dropout → `fc3`.
///
/// ```
/// use kindling_vision::VggConfig;
/// let device = kindling_core::default_device();
/// let head = VggConfig::vgg11().with_num_classes(4).init(&device).head;
/// let features = burn::tensor::Tensor::<2>::zeros([2, 25088], &device);
/// assert_eq!(head.forward_hidden(features.clone()).dims(), [2, 4096]);
/// assert_eq!(head.forward(features).dims(), [2, 4]);
/// ```
#[derive(Module, Debug)]
pub struct VggClassifier {
    /// 25088 → 4096 (torchvision `classifier.0`).
    pub fc1: Linear,
    /// 4096 → 4096 (torchvision `classifier.3`).
    pub fc2: Linear,
    /// 4096 → classes (torchvision `classifier.6`).
    pub fc3: Linear,
    /// Dropout (active only on an autodiff device in training mode).
    pub dropout: Dropout,
}

impl VggClassifier {
    /// The 4096-wide activation that feeds `fc3`.
    pub fn forward_hidden(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.dropout.forward(relu(self.fc1.forward(x)));
        self.dropout.forward(relu(self.fc2.forward(x)))
    }

    /// Logits from pooled, flattened features.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc3.forward(self.forward_hidden(x))
    }
}

/// A VGG network. Parameter paths start with the stage name: `block1.0.conv.weight`,
/// `block3.2.bn.gamma`, `head.fc1.weight`, …
///
/// ```
/// use kindling_vision::VggConfig;
/// let device = kindling_core::default_device();
/// let model = VggConfig::vgg11().with_num_classes(3).init(&device);
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 32, 32], &device);
/// assert_eq!(model.forward(x.clone()).dims(), [1, 3]);
/// assert_eq!(model.forward_features(x).dims(), [1, 25088]);
/// assert_eq!(model.num_features(), 25088);
/// ```
#[derive(Module, Debug)]
pub struct Vgg {
    /// 64 channels, then 2×2 max-pool.
    pub block1: Vec<ConvUnit>,
    /// 128 channels, then 2×2 max-pool.
    pub block2: Vec<ConvUnit>,
    /// 256 channels, then 2×2 max-pool.
    pub block3: Vec<ConvUnit>,
    /// 512 channels, then 2×2 max-pool.
    pub block4: Vec<ConvUnit>,
    /// 512 channels, then 2×2 max-pool.
    pub block5: Vec<ConvUnit>,
    /// The 2×2 stride-2 max-pool closing every block.
    pub pool: MaxPool2d,
    /// Adaptive average pool to 7×7.
    pub avgpool: AdaptiveAvgPool2d,
    /// The classifier.
    pub head: VggClassifier,
}

impl Vgg {
    /// Stage names in forward order; every parameter path starts with one of them.
    pub const STAGES: &'static [&'static str] = &["block1", "block2", "block3", "block4", "block5", "head"];

    /// The five convolutional blocks in order.
    pub fn blocks(&self) -> [&Vec<ConvUnit>; 5] {
        [&self.block1, &self.block2, &self.block3, &self.block4, &self.block5]
    }

    /// Whether the convolutions are followed by BatchNorm.
    pub fn batch_norm(&self) -> bool {
        self.block1.first().is_some_and(|u| u.bn.is_some())
    }

    /// Logits `[N, num_classes]` of images `[N, 3, H, W]` (H, W ≥ 32).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.forward_features(x))
    }

    /// Pooled features before the classifier: 7×7 adaptive average pool, flattened, `[N, 25088]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.forward_blocks(x, |_, _| {});
        self.avgpool.forward(x).flatten(1, 3)
    }

    /// The 4096-wide input of the last classifier layer (after `fc2` and ReLU).
    pub fn forward_pre_logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward_hidden(self.forward_features(x))
    }

    /// Output of every block (after its max-pool), `block1`..`block5`.
    pub fn feature_maps(&self, x: Tensor<4>) -> Vec<(&'static str, Tensor<4>)> {
        let mut maps = Vec::with_capacity(5);
        self.forward_blocks(x, |name, t| maps.push((name, t.clone())));
        maps
    }

    fn forward_blocks(&self, x: Tensor<4>, mut tap: impl FnMut(&'static str, &Tensor<4>)) -> Tensor<4> {
        let mut x = x;
        for (name, block) in Self::STAGES.iter().zip(self.blocks()) {
            x = crate::max_pool2d(&self.pool, block.iter().fold(x, |x, unit| unit.forward(x)));
            tap(name, &x);
        }
        x
    }

    /// Width of [`forward_features`](Self::forward_features): 512 × 7 × 7 = 25088.
    pub fn num_features(&self) -> usize {
        linear_dims(&self.head.fc1).0
    }

    /// Width of [`forward_pre_logits`](Self::forward_pre_logits): 4096.
    pub fn num_pre_logits(&self) -> usize {
        linear_dims(&self.head.fc3).0
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        linear_dims(&self.head.fc3).1
    }

    /// The stage names, see [`Vgg::STAGES`].
    pub fn stage_names(&self) -> &'static [&'static str] {
        Self::STAGES
    }

    /// Replaces the last classifier layer (`head.fc3`, torchvision `classifier.6`) with a freshly
    /// initialised `4096 → n` layer; the convolutional blocks and `fc1`/`fc2` are kept.
    pub fn with_num_classes(mut self, n: usize) -> Self {
        let device = self.head.fc3.weight.lazy_device();
        self.head.fc3 = linear(self.num_pre_logits(), n, &device);
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

impl crate::weights::TorchvisionNames for Vgg {
    /// torchvision's `features` is one `Sequential` of conv, (BatchNorm,) ReLU per unit and a
    /// max-pool per block, so the index of a unit's convolution skips the ReLUs and pools.
    fn torchvision_names(&self) -> Vec<(String, String)> {
        let per_unit = if self.batch_norm() { 3 } else { 2 };
        let mut index = 0;
        let mut names = Vec::new();
        for (b, block) in self.blocks().iter().enumerate() {
            for j in 0..block.len() {
                names.push((format!("block{}.{j}.conv", b + 1), format!("features.{index}")));
                names.push((format!("block{}.{j}.bn", b + 1), format!("features.{}", index + 1)));
                index += per_unit;
            }
            index += 1;
        }
        for (fc, i) in [("fc1", 0), ("fc2", 3), ("fc3", 6)] {
            names.push((format!("head.{fc}"), format!("classifier.{i}")));
        }
        names
    }
}
