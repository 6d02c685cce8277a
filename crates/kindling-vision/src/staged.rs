//! The transfer-learning view of a CNN: named stages from input to head.

use burn::module::Module;
use burn::tensor::Tensor;

/// A classifier made of named stages, the last of which is the classification head.
///
/// This is what fine-tuning needs from a model: freeze stages by name, give each stage its own
/// learning rate, replace the head. Parameter paths of a stage are matched by
/// [`stage_pattern`](Self::stage_pattern), a regular expression over burn's dotted paths.
///
/// ```
/// use kindling_vision::{StagedClassifier, efficientnet::EfficientNetLiteConfig};
/// let device = kindling_core::default_device();
/// let m = EfficientNetLiteConfig::lite(0).init(&device);
/// assert_eq!(m.stage_names().first().map(String::as_str), Some("stem"));
/// assert_eq!(m.head_stage(), "head");
/// assert_eq!(m.stage_pattern("stage2").as_deref(), Some(r"^stage2\."));
/// ```
pub trait StagedClassifier: Module + Sync + 'static {
    /// Logits `[B, num_classes]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2>;
    /// Pooled features `[B, num_features]` before the head.
    fn forward_features(&self, x: Tensor<4>) -> Tensor<2>;
    /// Stage names from input to output; the last one is the head.
    fn stage_names(&self) -> Vec<String>;
    /// Regular expression matching the parameter paths of `stage` (`None` for an unknown name).
    fn stage_pattern(&self, stage: &str) -> Option<String>;
    /// Number of classes of the head.
    fn num_classes(&self) -> usize;
    /// Width of the pooled features.
    fn num_features(&self) -> usize;
    /// The same backbone with a freshly initialised `n`-way head.
    fn with_num_classes(self, n: usize) -> Self;

    /// Name of the head stage (the last one).
    fn head_stage(&self) -> String {
        self.stage_names().pop().unwrap_or_default()
    }
}

/// Implements [`StagedClassifier`] for a model family whose inherent methods of the same names do
/// the work and whose stage names are the `&[&str]` constant `$stages`.
macro_rules! staged_classifier {
    ($model:ty, $stages:expr) => {
        impl StagedClassifier for $model {
            fn forward(&self, x: Tensor<4>) -> Tensor<2> {
                self.forward(x)
            }

            fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
                self.forward_features(x)
            }

            fn stage_names(&self) -> Vec<String> {
                $stages.iter().map(|s| s.to_string()).collect()
            }

            fn stage_pattern(&self, stage: &str) -> Option<String> {
                crate::stages::stage_pattern("", stage, &$stages)
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
    };
}

staged_classifier!(crate::efficientnet::EfficientNetLite, crate::efficientnet::EFFICIENTNET_STAGES);
staged_classifier!(crate::ResNet, crate::ResNet::STAGES);
staged_classifier!(crate::Vgg, crate::Vgg::STAGES);
