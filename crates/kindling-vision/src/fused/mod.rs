//! Kindling's CPU inference engine for its CNNs: [`FusedModel`].
//!
//! [`VisionModel::fuse`] (or [`ResNet::fuse`], [`Vgg::fuse`], [`EfficientNetLite::fuse`]) turns a
//! trained model into an inference-only copy that computes the same function faster on the CPU:
//!
//! - BatchNorm is folded into the convolution before it (inference statistics), so each
//!   convolution + BatchNorm is one convolution with a bias;
//! - the bias, the residual add and ReLU/ReLU6 are applied in the pass that writes a
//!   convolution's output, while it is in cache, instead of one pass per operation;
//! - activations stay channels-last (NHWC) from the first convolution to the pooled features, so
//!   no layout copy happens between layers; weights are packed once, at fusing time;
//! - dense convolutions are tiled matrix products on the `gemm` crate (AVX-512 / AVX2+FMA chosen at
//!   run time), depthwise convolutions and small-batch linear layers have their own SIMD kernels.
//!
//! Outputs match the unfused model to float rounding (the tests check max |Δ| against burn's
//! modules). The engine runs on the host CPU whatever the input tensor's device; it has no
//! autodiff: train with the burn model and fuse the result.
//!
//! ```
//! use kindling_vision::Arch;
//! let device = kindling_core::default_device();
//! let model = Arch::Resnet18.init(10, &device);
//! let fused = model.fuse()?;
//! let x = burn::tensor::Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Default, &device);
//! let (a, b) = (model.forward(x.clone()), fused.forward(x)?);
//! assert!((a - b).abs().max().into_scalar::<f32>() < 1e-3);
//! # Ok::<(), kindling_core::Error>(())
//! ```

mod conv;
mod linear;
mod map;
mod nets;

use burn::tensor::{Tensor, TensorData};
use kindling_core::tensor::to_vec_f32;
use kindling_core::{Error, Result};

use self::map::{Map, Scratch};
use self::nets::{FusedEfficientNet, FusedResNet, FusedVgg};
use crate::efficientnet::EfficientNetLite;
use crate::{ResNet, Vgg, VisionModel};

#[derive(Debug, Clone)]
#[allow(clippy::enum_variant_names)] // the architectures' own names
enum Net {
    ResNet(FusedResNet),
    Vgg(FusedVgg),
    EfficientNet(FusedEfficientNet),
}

/// An inference-only CNN with BatchNorm folded, fused activations and channels-last kernels (see
/// the [module docs](self)). Built by [`VisionModel::fuse`]; computes what the model's `forward`
/// and `forward_features` compute.
///
/// ```
/// use kindling_vision::Arch;
/// let device = kindling_core::default_device();
/// let fused = Arch::EfficientnetLite0.init(5, &device).fuse()?;
/// assert_eq!((fused.num_classes(), fused.num_features()), (5, 1280));
/// let x = burn::tensor::Tensor::<4>::zeros([1, 3, 32, 32], &device);
/// assert_eq!(fused.forward(x.clone())?.dims(), [1, 5]);
/// assert_eq!(fused.forward_features(x)?.dims(), [1, 1280]);
/// assert!(fused.forward(burn::tensor::Tensor::zeros([1, 1, 32, 32], &device)).is_err());
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FusedModel {
    net: Net,
    scratch: Scratch,
}

impl FusedModel {
    /// Input channels the model expects.
    pub fn in_channels(&self) -> usize {
        match &self.net {
            Net::ResNet(m) => m.in_channels(),
            Net::Vgg(m) => m.in_channels(),
            Net::EfficientNet(m) => m.in_channels(),
        }
    }

    /// Width of [`forward_features`](Self::forward_features).
    pub fn num_features(&self) -> usize {
        match &self.net {
            Net::ResNet(m) => m.head.d_in,
            Net::Vgg(m) => m.fc1.d_in,
            Net::EfficientNet(m) => m.head.d_in,
        }
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        match &self.net {
            Net::ResNet(m) => m.head.d_out,
            Net::Vgg(m) => m.fc3.d_out,
            Net::EfficientNet(m) => m.head.d_out,
        }
    }

    /// Logits `[N, num_classes]` of images `[N, C, H, W]`, on the input's device.
    ///
    /// A wrong channel count or an empty batch gives [`Error::Shape`].
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let device = x.device();
        let dims = x.dims();
        let logits = self.logits_nchw(&to_vec_f32(x)?, dims)?;
        Ok(Tensor::from_data(TensorData::new(logits, [dims[0], self.num_classes()]), &device))
    }

    /// Pooled features `[N, num_features]` before the classifier (as the model's
    /// `forward_features`).
    pub fn forward_features(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let device = x.device();
        let dims = x.dims();
        let input = self.input(&to_vec_f32(x)?, dims)?;
        let features = self.features(&input);
        input.recycle(&self.scratch);
        Ok(Tensor::from_data(TensorData::new(features, [dims[0], self.num_features()]), &device))
    }

    /// Logits of images given as NCHW host data with dimensions `dims`, row-major `[N, num_classes]`.
    pub fn logits_nchw(&self, data: &[f32], dims: [usize; 4]) -> Result<Vec<f32>> {
        let x = self.input(data, dims)?;
        let features = self.features(&x);
        x.recycle(&self.scratch);
        Ok(match &self.net {
            Net::ResNet(m) => m.head.forward(&features, map::Act::None),
            Net::Vgg(m) => m.logits(&features),
            Net::EfficientNet(m) => m.head.forward(&features, map::Act::None),
        })
    }

    fn input(&self, data: &[f32], dims: [usize; 4]) -> Result<Map> {
        let [n, c, h, w] = dims;
        if n == 0 || h == 0 || w == 0 || c != self.in_channels() || data.len() != n * c * h * w {
            return Err(Error::Shape(format!(
                "fused model: expected images [N, {}, H, W] with N, H, W > 0, got {dims:?} ({} values)",
                self.in_channels(),
                data.len()
            )));
        }
        Ok(Map::from_nchw(data, dims, &self.scratch))
    }

    fn features(&self, x: &Map) -> Vec<f32> {
        match &self.net {
            Net::ResNet(m) => m.features(x, &self.scratch),
            Net::Vgg(m) => m.features(x, &self.scratch),
            Net::EfficientNet(m) => m.features(x, &self.scratch),
        }
    }
}

impl ResNet {
    /// The [`FusedModel`] of this network (BatchNorm folded with its running statistics).
    pub fn fuse(&self) -> Result<FusedModel> {
        Ok(FusedModel { net: Net::ResNet(FusedResNet::new(self)?), scratch: Scratch::default() })
    }
}

impl Vgg {
    /// The [`FusedModel`] of this network (dropout is the identity at inference).
    pub fn fuse(&self) -> Result<FusedModel> {
        Ok(FusedModel { net: Net::Vgg(FusedVgg::new(self)?), scratch: Scratch::default() })
    }
}

impl EfficientNetLite {
    /// The [`FusedModel`] of this network (no dropout or drop-connect at inference).
    pub fn fuse(&self) -> Result<FusedModel> {
        Ok(FusedModel { net: Net::EfficientNet(FusedEfficientNet::new(self)?), scratch: Scratch::default() })
    }
}

impl VisionModel {
    /// The [`FusedModel`] of this network, for fast CPU inference.
    ///
    /// ```
    /// let device = kindling_core::default_device();
    /// let model = kindling_vision::Arch::Vgg11.init(3, &device);
    /// assert_eq!(model.fuse()?.num_classes(), 3);
    /// # Ok::<(), kindling_core::Error>(())
    /// ```
    pub fn fuse(&self) -> Result<FusedModel> {
        match self {
            VisionModel::ResNet(m) => m.fuse(),
            VisionModel::Vgg(m) => m.fuse(),
            VisionModel::EfficientNet(m) => m.fuse(),
        }
    }

    /// Like [`fuse`](Self::fuse), consuming the model: large weight matrices move into the fused
    /// model instead of being copied, so peak memory stays near one copy of the weights.
    ///
    /// ```
    /// let device = kindling_core::default_device();
    /// let fused = kindling_vision::Arch::Vgg11.init(3, &device).into_fused()?;
    /// assert_eq!(fused.num_features(), 512 * 7 * 7);
    /// # Ok::<(), kindling_core::Error>(())
    /// ```
    pub fn into_fused(self) -> Result<FusedModel> {
        match self {
            VisionModel::Vgg(m) => {
                Ok(FusedModel { net: Net::Vgg(FusedVgg::from_owned(m)?), scratch: Scratch::default() })
            }
            other => other.fuse(),
        }
    }
}
