//! Images → CNN features → head → top-k classes.

use std::path::{Path, PathBuf};

use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;
use image::DynamicImage;
use kindling_data::ImageItem;
use ndarray::ArrayView2;
use serde::Serialize;

use crate::error::{HeadsError, Result};
use crate::extract::{ExtractConfig, FeatureExtractor, extract_features};
use crate::head::Classifier;
use crate::saved::SavedHead;

/// A class and its score.
///
/// ```
/// let s = kindling_heads::ClassScore { label: 2, class: "Pullover".into(), score: 0.9 };
/// assert_eq!(serde_json::to_string(&s).expect("json"), r#"{"label":2,"class":"Pullover","score":0.9}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    /// Class index.
    pub label: usize,
    /// Class name.
    pub class: String,
    /// Probability when the head defines them, else its decision score.
    pub score: f32,
}

/// The head's verdict on one input: the `k` best classes, best first.
///
/// ```
/// use kindling_heads::{ClassScore, HeadPrediction};
/// let p = HeadPrediction { file: None, probabilities: true, top: vec![ClassScore { label: 0, class: "cat".into(), score: 1.0 }] };
/// assert_eq!(p.top[0].class, "cat");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadPrediction {
    /// Input file, when predicting files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Whether `score`s are probabilities (`false`: decision scores).
    pub probabilities: bool,
    /// Best classes, best first.
    pub top: Vec<ClassScore>,
}

/// Top-`k` classes of every row of `features`.
///
/// ```
/// use kindling_heads::{HeadKind, HeadParams, SavedHead, predict_features};
/// let x = ndarray::array![[0.0f32, 0.0], [0.1, 0.0], [1.0, 1.0], [0.9, 1.1]];
/// let head = HeadParams::default_for(HeadKind::LogReg).fit(x.view(), &[0, 0, 1, 1])?;
/// let saved = SavedHead { head, classes: vec!["no".into(), "yes".into()], model: "toy".into(), preprocessing: None };
/// let p = predict_features(&saved, x.view(), 1)?;
/// assert_eq!(p[3].top[0].class, "yes");
/// assert!(p[3].probabilities);
/// # Ok::<(), kindling_heads::HeadsError>(())
/// ```
pub fn predict_features(saved: &SavedHead, features: ArrayView2<'_, f32>, k: usize) -> Result<Vec<HeadPrediction>> {
    let (scores, probabilities) = match saved.head.predict_proba(features)? {
        Some(p) => (p, true),
        None => (saved.head.decision_function(features)?, false),
    };
    Ok(scores
        .outer_iter()
        .map(|row| {
            let row = row.to_vec();
            let top = kindling_core::tensor::topk(&row, k.min(row.len()))
                .into_iter()
                .map(|label| ClassScore {
                    label,
                    class: saved.classes.get(label).cloned().unwrap_or_else(|| label.to_string()),
                    score: row[label],
                })
                .collect();
            HeadPrediction { file: None, probabilities, top }
        })
        .collect())
}

/// Images in memory as a dataset (labels unused).
struct Images(Vec<DynamicImage>);

impl Dataset<ImageItem> for Images {
    fn get(&self, index: usize) -> std::result::Result<ImageItem, DatasetError> {
        self.0
            .get(index)
            .map(|image| ImageItem { image: image.clone(), label: 0 })
            .ok_or_else(|| DatasetError::new(HeadsError::Data(format!("no image {index}"))))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Runs `extractor` then the head on images; the head must have been fitted on this extractor's features.
///
/// `config` must be the preprocessing the training features were extracted with.
pub fn predict_images(
    extractor: &dyn FeatureExtractor,
    saved: &SavedHead,
    images: Vec<DynamicImage>,
    config: &ExtractConfig,
    device: &Device,
    k: usize,
) -> Result<Vec<HeadPrediction>> {
    if extractor.name() != saved.model {
        return Err(HeadsError::Data(format!(
            "the head was fitted on `{}` features but the model is `{}`",
            saved.model,
            extractor.name()
        )));
    }
    let classes = vec![String::new()];
    let feats = extract_features(extractor, &Images(images), classes, config, device, |_, _| {})?;
    predict_features(saved, feats.view(), k)
}

/// [`predict_images`] on image files; unreadable files give errors naming them.
pub fn predict_image_files(
    extractor: &dyn FeatureExtractor,
    saved: &SavedHead,
    files: &[impl AsRef<Path>],
    config: &ExtractConfig,
    device: &Device,
    k: usize,
) -> Result<Vec<HeadPrediction>> {
    let images = files.iter().map(kindling_data::transform::open_image).collect::<Result<Vec<_>, _>>()?;
    let mut out = predict_images(extractor, saved, images, config, device, k)?;
    for (p, f) in out.iter_mut().zip(files) {
        p.file = Some(f.as_ref().to_path_buf());
    }
    Ok(out)
}
