//! Pretrained weights Kindling can use offline, and loading PyTorch-keyed weight files through an
//! explicit key map.

use std::path::{Path, PathBuf};

use kindling_data::transform::{Normalize, Pipeline, Transform};

use crate::efficientnet::{EfficientNetLite, EfficientNetLiteConfig};

/// Errors of pretrained-weight lookup and loading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PretrainedError {
    /// The name is not a known pretrained model.
    #[error("no pretrained weights named `{0}`; known: efficientnet_lite0")]
    Unknown(String),
    /// The weights file was not found anywhere Kindling looks.
    #[error(
        "pretrained weights `{name}` not found (looked in: {looked}); run `cargo xtask data efficientnet-lite0` and `python3 scripts/convert/efficientnet_lite0.py`, or set KINDLING_WEIGHTS_DIR"
    )]
    NotFound {
        /// Weights name.
        name: String,
        /// Places searched.
        looked: String,
    },
    /// The file does not load into the model.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightError),
}

/// A pretrained checkpoint Kindling knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PretrainedSpec {
    /// Name used on the command line.
    pub name: &'static str,
    /// File name looked up in the weight folders.
    pub file: &'static str,
    /// Short-side resize before the center crop.
    pub resize: u32,
    /// Center-crop side (the native resolution).
    pub crop: u32,
}

/// Every pretrained checkpoint available without network in a source checkout.
pub const PRETRAINED: [PretrainedSpec; 1] =
    [PretrainedSpec { name: "efficientnet_lite0", file: "efficientnet_lite0.safetensors", resize: 256, crop: 224 }];

impl PretrainedSpec {
    /// Looks a checkpoint up by name.
    pub fn get(name: &str) -> Result<Self, PretrainedError> {
        PRETRAINED.iter().copied().find(|p| p.name == name).ok_or_else(|| PretrainedError::Unknown(name.into()))
    }

    /// The evaluation preprocessing the checkpoint was trained with.
    pub fn preprocessing(&self) -> Pipeline {
        Pipeline::new(vec![Transform::Resize(self.resize), Transform::CenterCrop(self.crop), Transform::GrayToRgb])
            .with_normalize(Normalize::tensorflow_lite())
    }

    /// Folders searched for weight files, in order: `$KINDLING_WEIGHTS_DIR`, the `pretrained/` folder of
    /// this crate's sources (a repository checkout), and the download cache.
    pub fn search_dirs() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("KINDLING_WEIGHTS_DIR") {
            dirs.push(PathBuf::from(d));
        }
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("pretrained"));
        dirs.push(cache_dir());
        dirs
    }

    /// Path of the weights file, if present in one of [`search_dirs`](Self::search_dirs).
    pub fn resolve(&self) -> Result<PathBuf, PretrainedError> {
        let dirs = Self::search_dirs();
        dirs.iter().map(|d| d.join(self.file)).find(|p| p.is_file()).ok_or_else(|| PretrainedError::NotFound {
            name: self.name.into(),
            looked: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The download cache: `$KINDLING_CACHE/weights`, else `$XDG_CACHE_HOME/kindling/weights`, else
/// `~/.cache/kindling/weights`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KINDLING_CACHE") {
        return PathBuf::from(d).join("weights");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kindling").join("weights")
}

/// Loads the ImageNet EfficientNet-Lite0 shipped with Kindling.
///
/// ```
/// let device = kindling_core::default_device();
/// let model = kindling_vision::pretrained::efficientnet_lite0(&device)?;
/// assert_eq!(model.num_classes(), 1000);
/// # Ok::<(), kindling_vision::pretrained::PretrainedError>(())
/// ```
pub fn efficientnet_lite0(device: &burn::tensor::Device) -> Result<EfficientNetLite, PretrainedError> {
    let path = PretrainedSpec::get("efficientnet_lite0")?.resolve()?;
    Ok(crate::weights::load_weights(EfficientNetLiteConfig::lite(0).init(device), &path)?)
}
