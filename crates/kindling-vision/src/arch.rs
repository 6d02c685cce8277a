//! Architectures by torchvision name ([`Arch`]) and a model wrapper that works on any of them
//! ([`VisionModel`]).

use std::fmt;
use std::str::FromStr;

use burn::config::Config;
use burn::module::{Module, ParamGroup};
use burn::tensor::{Device, Tensor};
use kindling_core::{Error, Result};
use serde::{Deserialize, Serialize};

use kindling_data::transform::Normalize;

use crate::efficientnet::{EFFICIENTNET_STAGES, EfficientNetLite, EfficientNetLiteConfig};
use crate::resnet::{ResNet, ResNetConfig};
use crate::stages::stage_group;
use crate::vgg::{Vgg, VggConfig};
use crate::weights::TorchvisionNames;

/// A model family.
///
/// ```
/// use kindling_vision::{Arch, Family};
/// assert_eq!(Arch::Vgg13Bn.family(), Family::Vgg);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// [`ResNet`].
    ResNet,
    /// [`Vgg`].
    Vgg,
    /// [`EfficientNetLite`].
    EfficientNet,
}

/// An architecture, named as in `torchvision.models`.
///
/// ```
/// use kindling_vision::Arch;
/// let arch: Arch = "vgg16_bn".parse()?;
/// assert_eq!(arch, Arch::Vgg16Bn);
/// assert_eq!(arch.to_string(), "vgg16_bn");
/// assert_eq!(Arch::TORCHVISION.len(), 13);
/// assert_eq!("efficientnet_lite0".parse::<Arch>()?, Arch::EfficientnetLite0);
/// assert!("resnet19".parse::<Arch>().is_err());
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arch {
    /// `resnet18`
    Resnet18,
    /// `resnet34`
    Resnet34,
    /// `resnet50`
    Resnet50,
    /// `resnet101`
    Resnet101,
    /// `resnet152`
    Resnet152,
    /// `vgg11`
    Vgg11,
    /// `vgg11_bn`
    Vgg11Bn,
    /// `vgg13`
    Vgg13,
    /// `vgg13_bn`
    Vgg13Bn,
    /// `vgg16`
    Vgg16,
    /// `vgg16_bn`
    Vgg16Bn,
    /// `vgg19`
    Vgg19,
    /// `vgg19_bn`
    Vgg19Bn,
    /// `efficientnet_lite0` (reference: PyPI `efficientnet-lite-pytorch`)
    EfficientnetLite0,
    /// `efficientnet_lite1`
    EfficientnetLite1,
    /// `efficientnet_lite2`
    EfficientnetLite2,
    /// `efficientnet_lite3`
    EfficientnetLite3,
    /// `efficientnet_lite4`
    EfficientnetLite4,
}

impl Arch {
    /// Every architecture: torchvision's, then EfficientNet-Lite0..4.
    pub const ALL: [Arch; 18] = [
        Arch::Resnet18,
        Arch::Resnet34,
        Arch::Resnet50,
        Arch::Resnet101,
        Arch::Resnet152,
        Arch::Vgg11,
        Arch::Vgg11Bn,
        Arch::Vgg13,
        Arch::Vgg13Bn,
        Arch::Vgg16,
        Arch::Vgg16Bn,
        Arch::Vgg19,
        Arch::Vgg19Bn,
        Arch::EfficientnetLite0,
        Arch::EfficientnetLite1,
        Arch::EfficientnetLite2,
        Arch::EfficientnetLite3,
        Arch::EfficientnetLite4,
    ];

    /// The architectures of `torchvision.models`, in its documentation order.
    pub const TORCHVISION: [Arch; 13] = [
        Arch::Resnet18,
        Arch::Resnet34,
        Arch::Resnet50,
        Arch::Resnet101,
        Arch::Resnet152,
        Arch::Vgg11,
        Arch::Vgg11Bn,
        Arch::Vgg13,
        Arch::Vgg13Bn,
        Arch::Vgg16,
        Arch::Vgg16Bn,
        Arch::Vgg19,
        Arch::Vgg19Bn,
    ];

    /// torchvision's name (`resnet50`, `vgg11_bn`, …).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Resnet18 => "resnet18",
            Arch::Resnet34 => "resnet34",
            Arch::Resnet50 => "resnet50",
            Arch::Resnet101 => "resnet101",
            Arch::Resnet152 => "resnet152",
            Arch::Vgg11 => "vgg11",
            Arch::Vgg11Bn => "vgg11_bn",
            Arch::Vgg13 => "vgg13",
            Arch::Vgg13Bn => "vgg13_bn",
            Arch::Vgg16 => "vgg16",
            Arch::Vgg16Bn => "vgg16_bn",
            Arch::Vgg19 => "vgg19",
            Arch::Vgg19Bn => "vgg19_bn",
            Arch::EfficientnetLite0 => "efficientnet_lite0",
            Arch::EfficientnetLite1 => "efficientnet_lite1",
            Arch::EfficientnetLite2 => "efficientnet_lite2",
            Arch::EfficientnetLite3 => "efficientnet_lite3",
            Arch::EfficientnetLite4 => "efficientnet_lite4",
        }
    }

    /// The family.
    pub fn family(self) -> Family {
        match self {
            Arch::Resnet18 | Arch::Resnet34 | Arch::Resnet50 | Arch::Resnet101 | Arch::Resnet152 => Family::ResNet,
            Arch::EfficientnetLite0
            | Arch::EfficientnetLite1
            | Arch::EfficientnetLite2
            | Arch::EfficientnetLite3
            | Arch::EfficientnetLite4 => Family::EfficientNet,
            _ => Family::Vgg,
        }
    }

    /// The EfficientNet-Lite configuration (1000 classes), for EfficientNets.
    pub fn efficientnet_config(self) -> Option<EfficientNetLiteConfig> {
        let n = match self {
            Arch::EfficientnetLite0 => 0,
            Arch::EfficientnetLite1 => 1,
            Arch::EfficientnetLite2 => 2,
            Arch::EfficientnetLite3 => 3,
            Arch::EfficientnetLite4 => 4,
            _ => return None,
        };
        Some(EfficientNetLiteConfig::lite(n))
    }

    /// The evaluation preprocessing the architecture's ImageNet weights expect:
    /// `Resize(resize)`, `CenterCrop(crop)`, RGB, normalisation. torchvision models use 256/224 and the
    /// ImageNet mean/std; EfficientNet-Lite uses its native resolution with TensorFlow's 32-pixel crop
    /// margin and `(x - 127) / 128` scaling.
    ///
    /// ```
    /// use kindling_vision::Arch;
    /// let (resize, crop, norm) = Arch::EfficientnetLite0.preprocessing();
    /// assert_eq!((resize, crop), (256, 224));
    /// assert!((norm.mean[0] - 127.0 / 255.0).abs() < 1e-7);
    /// ```
    pub fn preprocessing(self) -> (u32, u32, Normalize) {
        match self.efficientnet_config() {
            Some(c) => {
                let res = c.resolution() as u32;
                (res + 32, res, Normalize::tensorflow_lite())
            }
            None => (256, 224, Normalize::imagenet()),
        }
    }

    /// The ResNet configuration (1000 classes), for ResNets.
    pub fn resnet_config(self) -> Option<ResNetConfig> {
        Some(match self {
            Arch::Resnet18 => ResNetConfig::resnet18(),
            Arch::Resnet34 => ResNetConfig::resnet34(),
            Arch::Resnet50 => ResNetConfig::resnet50(),
            Arch::Resnet101 => ResNetConfig::resnet101(),
            Arch::Resnet152 => ResNetConfig::resnet152(),
            _ => return None,
        })
    }

    /// The VGG configuration (1000 classes), for VGGs.
    pub fn vgg_config(self) -> Option<VggConfig> {
        let (base, bn) = match self {
            Arch::Vgg11 => (VggConfig::vgg11(), false),
            Arch::Vgg11Bn => (VggConfig::vgg11(), true),
            Arch::Vgg13 => (VggConfig::vgg13(), false),
            Arch::Vgg13Bn => (VggConfig::vgg13(), true),
            Arch::Vgg16 => (VggConfig::vgg16(), false),
            Arch::Vgg16Bn => (VggConfig::vgg16(), true),
            Arch::Vgg19 => (VggConfig::vgg19(), false),
            Arch::Vgg19Bn => (VggConfig::vgg19(), true),
            _ => return None,
        };
        Some(base.with_batch_norm(bn))
    }

    /// A model of this architecture with `num_classes` outputs (lazy torchvision-style init).
    pub fn init(self, num_classes: usize, device: &Device) -> VisionModel {
        if let Some(c) = self.resnet_config() {
            return VisionModel::ResNet(c.with_num_classes(num_classes).init(device));
        }
        if let Some(c) = self.efficientnet_config() {
            return VisionModel::EfficientNet(c.with_num_classes(num_classes).init(device));
        }
        let vgg = self.vgg_config().unwrap_or_else(VggConfig::vgg11);
        VisionModel::Vgg(vgg.with_num_classes(num_classes).init(device))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        Arch::ALL.into_iter().find(|a| a.name() == t).ok_or_else(|| {
            let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
            Error::Config(format!("unknown model `{s}`: expected one of {}", names.join(", ")))
        })
    }
}

impl TryFrom<String> for Arch {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.name().to_string()
    }
}

/// Configuration of a [`VisionModel`].
///
/// ```
/// use kindling_vision::{Arch, VisionModelConfig};
/// let device = kindling_core::default_device();
/// let model = VisionModelConfig::new(Arch::Resnet18).with_num_classes(10).with_small_input(true).init(&device)?;
/// assert_eq!(model.num_classes(), 10);
/// assert!(VisionModelConfig::new(Arch::Vgg11).with_small_input(true).init(&device).is_err());
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Config, Debug)]
pub struct VisionModelConfig {
    /// Architecture.
    pub arch: Arch,
    /// Output classes.
    #[config(default = 1000)]
    pub num_classes: usize,
    /// ResNet small-input stem (3×3 stride-1 convolution, no max-pool); not available for VGG.
    #[config(default = false)]
    pub small_input: bool,
    /// ResNet base width (stem and `layer1` channels; torchvision: 64); not available for other families.
    #[config(default = 64)]
    pub base_width: usize,
}

impl VisionModelConfig {
    /// Creates the model; [`Error::Config`] for an option the architecture lacks.
    pub fn init(&self, device: &Device) -> Result<VisionModel> {
        match (self.arch.resnet_config(), self.arch.vgg_config()) {
            (Some(c), _) => Ok(VisionModel::ResNet(
                c.with_num_classes(self.num_classes)
                    .with_small_input(self.small_input)
                    .with_base_width(self.base_width)
                    .init(device),
            )),
            (None, _) if self.small_input || self.base_width != 64 => Err(Error::Config(format!(
                "{}: the small-input stem and other base widths exist only for ResNets",
                self.arch
            ))),
            _ => Ok(self.arch.init(self.num_classes, device)),
        }
    }
}

/// Any Kindling vision model, with one API for the CLI and fine-tuning code.
///
/// Inside the wrapper, burn's parameter paths are prefixed with the variant name
/// (`ResNet.layer1.0.conv1.weight`, `Vgg.head.fc3.weight`);
/// [`stage_param_group`](Self::stage_param_group) accounts for it. Weight files use the inner names.
///
/// ```
/// use kindling_vision::{Arch, VisionModel};
/// let device = kindling_core::default_device();
/// let model = Arch::Resnet18.init(1000, &device).with_num_classes(4);
/// assert_eq!(model.stage_names(), ["stem", "layer1", "layer2", "layer3", "layer4", "head"]);
/// let model = model.freeze_stages(&["stem", "layer1"])?;
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 64, 64], &device);
/// assert_eq!(model.forward(x).dims(), [1, 4]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
// A model is built once and moved rarely; boxing a variant would not fit burn's Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum VisionModel {
    /// A ResNet.
    ResNet(ResNet),
    /// A VGG.
    Vgg(Vgg),
    /// An EfficientNet-Lite.
    EfficientNet(EfficientNetLite),
}

impl From<EfficientNetLite> for VisionModel {
    fn from(m: EfficientNetLite) -> Self {
        VisionModel::EfficientNet(m)
    }
}

impl From<ResNet> for VisionModel {
    fn from(m: ResNet) -> Self {
        VisionModel::ResNet(m)
    }
}

impl From<Vgg> for VisionModel {
    fn from(m: Vgg) -> Self {
        VisionModel::Vgg(m)
    }
}

impl VisionModel {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            VisionModel::ResNet(_) => Family::ResNet,
            VisionModel::Vgg(_) => Family::Vgg,
            VisionModel::EfficientNet(_) => Family::EfficientNet,
        }
    }

    /// The variant name that prefixes burn's parameter paths inside the wrapper.
    pub fn variant_name(&self) -> &'static str {
        match self {
            VisionModel::ResNet(_) => "ResNet",
            VisionModel::Vgg(_) => "Vgg",
            VisionModel::EfficientNet(_) => "EfficientNet",
        }
    }

    /// Logits `[N, num_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            VisionModel::ResNet(m) => m.forward(x),
            VisionModel::Vgg(m) => m.forward(x),
            VisionModel::EfficientNet(m) => m.forward(x),
        }
    }

    /// Pooled features before the classifier, `[N, num_features]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            VisionModel::ResNet(m) => m.forward_features(x),
            VisionModel::Vgg(m) => m.forward_features(x),
            VisionModel::EfficientNet(m) => m.forward_features(x),
        }
    }

    /// The input of the last linear layer, `[N, num_pre_logits]`: the pooled features for a
    /// ResNet, the 4096-wide `fc2` activation for a VGG. The usual embedding for extracted features.
    pub fn forward_pre_logits(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            VisionModel::ResNet(m) => m.forward_features(x),
            VisionModel::Vgg(m) => m.forward_pre_logits(x),
            VisionModel::EfficientNet(m) => m.forward_features(x),
        }
    }

    /// Output of every convolutional stage, named, in forward order.
    pub fn feature_maps(&self, x: Tensor<4>) -> Vec<(&'static str, Tensor<4>)> {
        match self {
            VisionModel::ResNet(m) => m.feature_maps(x),
            VisionModel::Vgg(m) => m.feature_maps(x),
            VisionModel::EfficientNet(m) => m.feature_maps(x),
        }
    }

    /// Width of [`forward_features`](Self::forward_features).
    pub fn num_features(&self) -> usize {
        match self {
            VisionModel::ResNet(m) => m.num_features(),
            VisionModel::Vgg(m) => m.num_features(),
            VisionModel::EfficientNet(m) => m.num_features(),
        }
    }

    /// Width of [`forward_pre_logits`](Self::forward_pre_logits).
    pub fn num_pre_logits(&self) -> usize {
        match self {
            VisionModel::ResNet(m) => m.num_features(),
            VisionModel::Vgg(m) => m.num_pre_logits(),
            VisionModel::EfficientNet(m) => m.num_features(),
        }
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        match self {
            VisionModel::ResNet(m) => m.num_classes(),
            VisionModel::Vgg(m) => m.num_classes(),
            VisionModel::EfficientNet(m) => m.num_classes(),
        }
    }

    /// Replaces the final classifier layer with a fresh one of `n` outputs, keeping the rest.
    pub fn with_num_classes(self, n: usize) -> Self {
        match self {
            VisionModel::ResNet(m) => VisionModel::ResNet(m.with_num_classes(n)),
            VisionModel::Vgg(m) => VisionModel::Vgg(m.with_num_classes(n)),
            VisionModel::EfficientNet(m) => VisionModel::EfficientNet(m.with_num_classes(n)),
        }
    }

    /// Stage names in forward order (the last is always `head`).
    pub fn stage_names(&self) -> &'static [&'static str] {
        match self {
            VisionModel::ResNet(_) => ResNet::STAGES,
            VisionModel::Vgg(_) => Vgg::STAGES,
            VisionModel::EfficientNet(_) => &EFFICIENTNET_STAGES,
        }
    }

    /// The parameters of the named stages as burn sees them through this wrapper (paths
    /// `<Variant>.<stage>.…`), for per-group learning rates or `freeze_group` on the wrapper.
    pub fn stage_param_group(&self, stages: &[&str]) -> Result<ParamGroup> {
        stage_group(&format!("{}.", self.variant_name()), stages, self.stage_names())
    }

    /// Freezes the named stages (no gradients, BatchNorm statistics kept).
    pub fn freeze_stages(self, stages: &[&str]) -> Result<Self> {
        Ok(match self {
            VisionModel::ResNet(m) => VisionModel::ResNet(m.freeze_stages(stages)?),
            VisionModel::Vgg(m) => VisionModel::Vgg(m.freeze_stages(stages)?),
            VisionModel::EfficientNet(m) => VisionModel::EfficientNet(m.freeze_stages(stages)?),
        })
    }
}

impl TorchvisionNames for VisionModel {
    fn torchvision_names(&self) -> Vec<(String, String)> {
        match self {
            VisionModel::ResNet(m) => m.torchvision_names(),
            VisionModel::Vgg(m) => m.torchvision_names(),
            VisionModel::EfficientNet(m) => m.torchvision_names(),
        }
    }
}

impl crate::StagedClassifier for VisionModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x)
    }

    fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_features(x)
    }

    fn stage_names(&self) -> Vec<String> {
        VisionModel::stage_names(self).iter().map(|s| s.to_string()).collect()
    }

    /// Patterns include the variant prefix burn puts in paths inside the wrapper (`^ResNet\.layer1\.`).
    fn stage_pattern(&self, stage: &str) -> Option<String> {
        crate::stages::stage_pattern(&format!("{}.", self.variant_name()), stage, VisionModel::stage_names(self))
    }

    fn num_classes(&self) -> usize {
        self.num_classes()
    }

    fn num_features(&self) -> usize {
        self.num_features()
    }

    fn with_num_classes(self, n: usize) -> Self {
        self.with_num_classes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_round_trip_through_serde_and_from_str() {
        for arch in Arch::ALL {
            let json = serde_json::to_string(&arch).expect("serialize");
            assert_eq!(json, format!("\"{arch}\""));
            assert_eq!(serde_json::from_str::<Arch>(&json).expect("deserialize"), arch);
            assert_eq!(arch.name().to_uppercase().parse::<Arch>().expect("case-insensitive"), arch);
            assert_eq!(arch.resnet_config().is_some(), arch.family() == Family::ResNet);
            assert_eq!(arch.vgg_config().is_some(), arch.family() == Family::Vgg);
            assert_eq!(arch.efficientnet_config().is_some(), arch.family() == Family::EfficientNet);
        }
        assert!(serde_json::from_str::<Arch>("\"alexnet\"").is_err());
        let config = VisionModelConfig::new(Arch::Vgg16Bn).with_num_classes(10);
        let json = serde_json::to_string(&config).expect("config json");
        assert!(json.contains("\"vgg16_bn\""), "{json}");
    }
}
