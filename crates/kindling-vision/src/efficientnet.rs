//! EfficientNet-Lite0..4 (Tan & Le 2019; the "Lite" variants for mobile/edge accelerators): MBConv blocks
//! with depthwise convolutions and ReLU6, no squeeze-and-excitation, and a stem and head that are not
//! scaled with the width multiplier. Structurally identical to the reference PyTorch implementation
//! (PyPI `efficientnet-lite-pytorch`), so its `state_dict`s load through [`crate::weights::load_weights`].
//!
//! Convolutions use TensorFlow "SAME" padding (asymmetric for stride 2), as the weights were trained in
//! TensorFlow. Inputs are RGB scaled as `(x - 127) / 128` on the 0–255 scale
//! ([`kindling_data::transform::Normalize::tensorflow_lite`]), not the torchvision ImageNet mean/std.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor};

/// Width multiplier, depth multiplier, input resolution and dropout of Lite0..Lite4.
pub const LITE_PARAMS: [(f64, f64, usize, f64); 5] =
    [(1.0, 1.0, 224, 0.2), (1.0, 1.1, 240, 0.2), (1.1, 1.2, 260, 0.3), (1.2, 1.4, 280, 0.3), (1.4, 1.8, 300, 0.3)];

/// Base stage layout `(repeats, kernel, stride, expand ratio, input filters, output filters)`.
const BASE_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// Stage names of EfficientNet-Lite, in forward order: the stem, seven MBConv stages, the 1×1
/// convolution to 1280 channels (`top`, Keras' "top_conv") and the classifier (`head`).
pub const EFFICIENTNET_STAGES: [&str; 10] =
    ["stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "top", "head"];

/// Configuration of an [`EfficientNetLite`].
///
/// ```
/// use kindling_vision::efficientnet::EfficientNetLiteConfig;
/// let device = kindling_core::default_device();
/// let model = EfficientNetLiteConfig::lite(0).with_num_classes(10).init(&device);
/// assert_eq!(model.num_features(), 1280);
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 64, 64], &device);
/// assert_eq!(model.forward(x).dims(), [1, 10]);
/// ```
#[derive(Config, Debug)]
pub struct EfficientNetLiteConfig {
    /// Variant 0..=4 (sets width, depth, resolution and dropout).
    pub variant: usize,
    /// Number of output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// Drop-connect (stochastic depth) rate, scaled linearly over the blocks; training only.
    #[config(default = 0.2)]
    pub drop_connect_rate: f64,
    /// BatchNorm momentum (PyTorch convention). The reference trains from scratch with 0.01
    /// (TensorFlow's decay 0.99) over hundreds of epochs; Kindling defaults to PyTorch's 0.1 so that
    /// short fine-tuning runs adapt the running statistics of unfrozen stages within an epoch.
    /// Inference does not depend on it.
    #[config(default = 0.1)]
    pub bn_momentum: f64,
    /// BatchNorm epsilon.
    #[config(default = 1e-3)]
    pub bn_epsilon: f64,
}

impl EfficientNetLiteConfig {
    /// Lite`n` with 1000 ImageNet classes.
    pub fn lite(n: usize) -> Self {
        Self::new(n.min(4))
    }

    /// Width multiplier, depth multiplier, resolution, dropout.
    pub fn params(&self) -> (f64, f64, usize, f64) {
        LITE_PARAMS[self.variant.min(4)]
    }

    /// Native input resolution (224 for Lite0 … 300 for Lite4).
    pub fn resolution(&self) -> usize {
        self.params().2
    }

    /// Per-stage `(repeats, kernel, stride, expand, in, out)` after width/depth scaling; the first
    /// and last stages keep their repeats and the stem/head keep their widths (the "fixed head/stem").
    pub fn stage_layout(&self) -> Vec<(usize, usize, usize, usize, usize, usize)> {
        let (w, d, _, _) = self.params();
        let last = BASE_STAGES.len() - 1;
        BASE_STAGES
            .iter()
            .enumerate()
            .map(|(i, &(r, k, s, e, cin, cout))| {
                let cin = if i == 0 { 32 } else { round_filters(cin, w) };
                let repeats = if i == 0 || i == last { r } else { (d * r as f64).ceil() as usize };
                (repeats, k, s, e, cin, round_filters(cout, w))
            })
            .collect()
    }

    /// Builds the model with freshly initialised weights.
    pub fn init(&self, device: &Device) -> EfficientNetLite {
        let (_, _, _, dropout) = self.params();
        let bn = |c: usize| BatchNormConfig::new(c).with_momentum(self.bn_momentum).with_epsilon(self.bn_epsilon);
        let conv_bn = |cin: usize, cout: usize, k: usize, stride: usize, groups: usize| ConvBn {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_groups(groups)
                .with_padding(PaddingConfig2d::Same)
                .with_bias(false)
                .init(device),
            bn: bn(cout).init(device),
        };
        let layout = self.stage_layout();
        let total: usize = layout.iter().map(|l| l.0).sum();
        let mut index = 0;
        let mut stages: Vec<Vec<MbConv>> = Vec::new();
        for &(repeats, k, stride, expand, cin, cout) in &layout {
            let mut blocks = Vec::new();
            for j in 0..repeats {
                let (bin, s) = if j == 0 { (cin, stride) } else { (cout, 1) };
                let mid = bin * expand;
                blocks.push(MbConv {
                    expand: (expand != 1).then(|| conv_bn(bin, mid, 1, 1, 1)),
                    depthwise: conv_bn(mid, mid, k, s, mid),
                    project: conv_bn(mid, cout, 1, 1, 1),
                    residual: s == 1 && bin == cout,
                    drop_connect: self.drop_connect_rate * index as f64 / total as f64,
                    training: Param::from_bool(true),
                });
                index += 1;
            }
            stages.push(blocks);
        }
        let last_out = layout.last().map_or(320, |l| l.5);
        let mut stages = stages.into_iter();
        let mut next = || stages.next().unwrap_or_default();
        EfficientNetLite {
            stem: conv_bn(3, 32, 3, 2, 1),
            stage1: next(),
            stage2: next(),
            stage3: next(),
            stage4: next(),
            stage5: next(),
            stage6: next(),
            stage7: next(),
            top: conv_bn(last_out, 1280, 1, 1, 1),
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(1280, self.num_classes).init(device),
        }
    }
}

/// TensorFlow's `round_filters`: scale by `width`, round to a multiple of 8, never more than 10% down.
fn round_filters(filters: usize, width: f64) -> usize {
    if width == 1.0 {
        return filters;
    }
    let f = filters as f64 * width;
    let mut new = 8.max(((f + 4.0) as usize) / 8 * 8);
    if (new as f64) < 0.9 * f {
        new += 8;
    }
    new
}

/// A convolution followed by BatchNorm (no bias: BN supplies it).
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution.
    pub conv: Conv2d,
    /// The batch normalisation.
    pub bn: BatchNorm,
}

impl ConvBn {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        crate::batch_norm(&self.bn, crate::conv2d(&self.conv, x))
    }

    fn forward_relu6(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x).clamp(0.0, 6.0)
    }
}

/// Mobile inverted bottleneck: 1×1 expansion, depthwise k×k, 1×1 linear projection, residual.
#[derive(Module, Debug)]
pub struct MbConv {
    /// 1×1 expansion (absent when the expand ratio is 1).
    pub expand: Option<ConvBn>,
    /// Depthwise convolution.
    pub depthwise: ConvBn,
    /// 1×1 projection (no activation).
    pub project: ConvBn,
    /// Whether the block adds its input (stride 1 and equal widths).
    pub residual: bool,
    /// Drop-connect probability of this block.
    pub drop_connect: f64,
    /// Training flag (cleared by `freeze`), as burn's own dropout.
    pub training: Param<burn::module::Flag>,
}

impl MbConv {
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(e) => e.forward_relu6(input.clone()),
            None => input.clone(),
        };
        let x = self.project.forward(self.depthwise.forward_relu6(x));
        if !self.residual {
            return x;
        }
        let train = self.training.is_enabled() && x.device().is_autodiff();
        if train && self.drop_connect > 0.0 {
            let keep = 1.0 - self.drop_connect;
            let [b, _, _, _] = x.dims();
            let mask = Tensor::<4>::random([b, 1, 1, 1], Distribution::Bernoulli(keep), &x.device());
            x * mask.div_scalar(keep) + input
        } else {
            x + input
        }
    }
}

/// EfficientNet-Lite classifier.
#[derive(Module, Debug)]
pub struct EfficientNetLite {
    /// 3×3 stride-2 convolution to 32 channels + BN + ReLU6.
    pub stem: ConvBn,
    /// MBConv stage 1 (k3, 16 channels, stride 1).
    pub stage1: Vec<MbConv>,
    /// MBConv stage 2 (k3, 24 channels, stride 2).
    pub stage2: Vec<MbConv>,
    /// MBConv stage 3 (k5, 40 channels, stride 2).
    pub stage3: Vec<MbConv>,
    /// MBConv stage 4 (k3, 80 channels, stride 2).
    pub stage4: Vec<MbConv>,
    /// MBConv stage 5 (k5, 112 channels, stride 1).
    pub stage5: Vec<MbConv>,
    /// MBConv stage 6 (k5, 192 channels, stride 2).
    pub stage6: Vec<MbConv>,
    /// MBConv stage 7 (k3, 320 channels, stride 1).
    pub stage7: Vec<MbConv>,
    /// 1×1 convolution to 1280 channels + BN + ReLU6.
    pub top: ConvBn,
    /// Dropout before the classifier.
    pub dropout: Dropout,
    /// The classifier (final linear layer).
    pub head: Linear,
}

impl EfficientNetLite {
    /// The seven MBConv stages in order.
    pub fn stages(&self) -> [&Vec<MbConv>; 7] {
        [&self.stage1, &self.stage2, &self.stage3, &self.stage4, &self.stage5, &self.stage6, &self.stage7]
    }

    /// Logits `[B, num_classes]` for images `[B, 3, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.dropout.forward(self.forward_features(x)))
    }

    /// Pooled features `[B, 1280]` before the classifier.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let maps = self.forward_maps(x);
        let [b, c, _, _] = maps.dims();
        maps.mean_dim(3).mean_dim(2).reshape([b, c])
    }

    /// Feature map of the `top` convolution, `[B, 1280, H/32, W/32]`.
    pub fn forward_maps(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.stem.forward_relu6(x);
        for stage in self.stages() {
            for block in stage {
                x = block.forward(x);
            }
        }
        self.top.forward_relu6(x)
    }

    /// Output of every convolutional stage (`stem`, `stage1`..`stage7`, `top`), named, in order.
    pub fn feature_maps(&self, x: Tensor<4>) -> Vec<(&'static str, Tensor<4>)> {
        let mut out = Vec::with_capacity(9);
        let mut x = self.stem.forward_relu6(x);
        out.push((EFFICIENTNET_STAGES[0], x.clone()));
        for (i, stage) in self.stages().into_iter().enumerate() {
            for block in stage {
                x = block.forward(x);
            }
            out.push((EFFICIENTNET_STAGES[i + 1], x.clone()));
        }
        out.push((EFFICIENTNET_STAGES[8], self.top.forward_relu6(x)));
        out
    }

    /// Width of the pooled features (1280).
    pub fn num_features(&self) -> usize {
        self.head.weight.lazy_shape()[0]
    }

    /// Number of classes of the current head.
    pub fn num_classes(&self) -> usize {
        self.head.weight.lazy_shape()[1]
    }

    /// Replaces the classifier with a freshly initialised `num_classes`-way layer; the backbone is kept.
    pub fn with_num_classes(mut self, num_classes: usize) -> Self {
        let device = self.head.weight.device();
        self.head = LinearConfig::new(self.num_features(), num_classes).init(&device);
        self
    }

    /// Freezes the named stages (no gradients; BatchNorm statistics and drop-connect fixed).
    pub fn freeze_stages(self, stages: &[&str]) -> kindling_core::Result<Self> {
        Ok(self.freeze_group(crate::stages::stage_group("", stages, &EFFICIENTNET_STAGES)?))
    }
}

/// The reference implementation's layer names (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`,
/// `_bn0`/`_bn1`/`_bn2` of each block, `_conv_head`, `_bn1`, `_fc`), so that
/// [`weights::load_weights`](crate::weights::load_weights) reads its `state_dict`s.
impl crate::weights::TorchvisionNames for EfficientNetLite {
    fn torchvision_names(&self) -> Vec<(String, String)> {
        let mut names = Vec::new();
        let mut conv_bn = |ours: String, conv: String, bn: String| {
            names.push((format!("{ours}.conv"), conv));
            names.push((format!("{ours}.bn"), bn));
        };
        conv_bn("stem".into(), "_conv_stem".into(), "_bn0".into());
        let mut n = 0;
        for (s, stage) in self.stages().into_iter().enumerate() {
            for (j, block) in stage.iter().enumerate() {
                let (o, t) = (format!("{}.{j}", EFFICIENTNET_STAGES[s + 1]), format!("_blocks.{n}"));
                if block.expand.is_some() {
                    conv_bn(format!("{o}.expand"), format!("{t}._expand_conv"), format!("{t}._bn0"));
                }
                conv_bn(format!("{o}.depthwise"), format!("{t}._depthwise_conv"), format!("{t}._bn1"));
                conv_bn(format!("{o}.project"), format!("{t}._project_conv"), format!("{t}._bn2"));
                n += 1;
            }
        }
        conv_bn("top".into(), "_conv_head".into(), "_bn1".into());
        names.push(("head".into(), "_fc".into()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lite0_layout_matches_the_reference() {
        let c = EfficientNetLiteConfig::lite(0);
        let repeats: Vec<usize> = c.stage_layout().iter().map(|l| l.0).collect();
        assert_eq!(repeats, vec![1, 2, 2, 3, 3, 4, 1]);
        // Lite4: width 1.4, depth 1.8; first/last stage repeats fixed, stem input fixed at 32
        let l4 = EfficientNetLiteConfig::lite(4).stage_layout();
        assert_eq!(l4.iter().map(|l| l.0).collect::<Vec<_>>(), vec![1, 4, 4, 6, 6, 8, 1]);
        assert_eq!((l4[0].4, l4[0].5, l4[6].5), (32, 24, 448));
    }

    #[test]
    fn round_filters_like_tensorflow() {
        assert_eq!(round_filters(16, 1.1), 16); // 17.6 -> 16 (within 10%)
        assert_eq!(round_filters(24, 1.4), 32); // 33.6 -> 32
        assert_eq!(round_filters(320, 1.2), 384);
    }

    #[test]
    fn with_num_classes_keeps_the_backbone() {
        let device = kindling_core::default_device();
        let m = EfficientNetLiteConfig::lite(0).init(&device);
        let stem = m.stem.conv.weight.val();
        let m = m.with_num_classes(7);
        assert_eq!(m.num_classes(), 7);
        let diff = (m.stem.conv.weight.val() - stem).abs().max().into_scalar::<f32>();
        assert_eq!(diff, 0.0);
    }
}
