//! # kindling-vision
//!
//! CNNs structurally identical to their reference implementations, with weight import:
//!
//! - [`ResNet`] (18/34/50/101/152, torchvision v1.5, optional small-input stem) and [`Vgg`]
//!   (11/13/16/19, with or without BatchNorm), burn `Config` + `Module`, one family per file;
//!   [`efficientnet`]: EfficientNet-Lite0..4;
//! - a transfer-learning API on every model: named stages, `forward_features`, per-stage
//!   `feature_maps`, `with_num_classes`, `num_features`, stage freezing ([`StagedClassifier`]);
//! - [`Arch`] (torchvision names) and [`VisionModel`], one wrapper for any torchvision architecture;
//! - [`weights`]: torchvision `.pth` / safetensors import with key remapping and typed
//!   [`WeightError`]s, safetensors export; [`pretrained`]: weights shipped with Kindling;
//! - [`fetch`]: official torchvision weight files downloaded to a cache with SHA-256 checks;
//! - [`fused`]: [`FusedModel`], the fast CPU inference form of any model (`model.fuse()?`):
//!   BatchNorm folded, fused activations and residual adds, channels-last SIMD/gemm kernels;
//! - [`predict`]: the `kindling predict` pipeline (top-k records per image or input tensor).
//!
//! ```
//! use kindling_vision::{Arch, VisionModel};
//! let device = kindling_core::default_device();
//! let model: VisionModel = "resnet18".parse::<Arch>()?.init(1000, &device).with_num_classes(10);
//! let x = burn::tensor::Tensor::<4>::zeros([2, 3, 64, 64], &device);
//! assert_eq!(model.forward(x.clone()).dims(), [2, 10]);
//! assert_eq!(model.forward_features(x).dims(), [2, model.num_features()]);
//! # Ok::<(), kindling_core::Error>(())
//! ```

mod arch;
mod bn_op;
mod conv_op;
pub mod efficientnet;
pub mod fetch;
pub mod fused;
mod pool_op;
pub mod predict;
pub mod pretrained;
mod resnet;
mod staged;
mod stages;
mod vgg;
pub mod weights;

pub use arch::{Arch, Family, VisionModel, VisionModelConfig};
pub use bn_op::{batch_norm, batch_norm_add_relu, batch_norm_relu};
pub use conv_op::conv2d;
pub use fused::FusedModel;
pub use pool_op::max_pool2d;
pub use resnet::{BlockKind, Downsample, ResNet, ResNetConfig, ResidualBlock, Stem};
pub use staged::StagedClassifier;
pub use vgg::{ConvUnit, VGG_CHANNELS, Vgg, VggClassifier, VggConfig};
pub use weights::{TorchvisionNames, WeightError};
