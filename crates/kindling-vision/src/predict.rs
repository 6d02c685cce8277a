//! The prediction pipeline behind `kindling predict`: images (or a normalised input tensor) in,
//! one [`Prediction`] record per input out (printed by the CLI as one JSON object per line).
//!
//! ```
//! use kindling_vision::{Arch, predict::{self, PredictInput, PredictOptions}};
//! let device = kindling_core::default_device();
//! let model = Arch::Resnet18.init(1000, &device);
//! let dir = tempfile::tempdir()?;
//! let image = dir.path().join("red.png");
//! image::RgbImage::from_pixel(300, 260, image::Rgb([200, 30, 30])).save(&image).expect("png");
//! let records = predict::predict(&model, &PredictInput::Images(vec![image]), &PredictOptions::default(), &device)?;
//! assert_eq!(records[0].top.len(), 5);
//! let line = serde_json::to_string(&records[0]).expect("json");
//! assert!(line.starts_with(r#"{"input":""#) && !line.contains("logits"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use kindling_core::{Error, Result, tensor};
use kindling_data::transform::{Pipeline, open_image};
use serde::{Deserialize, Serialize};

use crate::VisionModel;

const IMAGENET_CLASSES: &str = include_str!("../assets/imagenet_classes.txt");

/// The 1000 ImageNet-1k class names in torchvision's index order.
///
/// ```
/// let names = kindling_vision::predict::imagenet_classes();
/// assert_eq!((names.len(), names[0].as_str(), names[999].as_str()), (1000, "tench", "toilet tissue"));
/// ```
pub fn imagenet_classes() -> Vec<String> {
    IMAGENET_CLASSES.lines().map(str::to_string).collect()
}

/// One of the top classes of a prediction.
///
/// ```
/// let t = kindling_vision::predict::TopClass { index: 1, label: "goldfish".into(), prob: 0.5 };
/// assert_eq!(serde_json::to_string(&t).expect("json"), r#"{"index":1,"label":"goldfish","prob":0.5}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopClass {
    /// Class index.
    pub index: usize,
    /// Class name (the index as text when no names are known).
    pub label: String,
    /// Softmax probability.
    pub prob: f32,
}

/// The prediction for one input: `{"input": ..., "top": [...], "logits": [...]}`.
///
/// ```
/// use kindling_vision::predict::records_from_logits;
/// let labels = vec!["a".to_string(), "b".to_string()];
/// let records = records_from_logits(&["0".into()], &[0.0, 1.0], &labels, 1, true);
/// assert_eq!(records[0].top[0].label, "b");
/// let json = serde_json::to_string(&records[0]).expect("json");
/// assert!(json.starts_with(r#"{"input":"0","top":[{"index":1,"label":"b","prob":0.7310"#));
/// assert!(json.ends_with(r#""logits":[0.0,1.0]}"#));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The image path as given, or the batch index (as text) for tensor input.
    pub input: String,
    /// The `topk` most probable classes, most probable first.
    pub top: Vec<TopClass>,
    /// Raw logits, when asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub logits: Option<Vec<f32>>,
}

/// What to predict on.
///
/// ```
/// use kindling_vision::predict::PredictInput;
/// let input = PredictInput::Images(vec!["dog.jpg".into()]);
/// assert_ne!(input, PredictInput::TensorFile("x.safetensors".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum PredictInput {
    /// A safetensors file with a tensor `input`, f32 `[N, 3, H, W]`, already normalised.
    TensorFile(PathBuf),
    /// Image files, preprocessed by [`PredictOptions::pipeline`].
    Images(Vec<PathBuf>),
}

/// Options of [`predict`].
///
/// ```
/// let o = kindling_vision::predict::PredictOptions::default();
/// assert_eq!((o.topk, o.logits, o.batch_size), (5, false, 16));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOptions {
    /// Number of classes reported per input (capped at the number of classes).
    pub topk: usize,
    /// Include the raw logits.
    pub logits: bool,
    /// Class names; `None` means ImageNet's for 1000 classes, else the index as text.
    pub labels: Option<Vec<String>>,
    /// Image preprocessing (default: Resize(256), CenterCrop(224), RGB, ImageNet normalisation).
    pub pipeline: Pipeline,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            topk: 5,
            logits: false,
            labels: None,
            pipeline: Pipeline::imagenet_eval(256, 224),
            batch_size: 16,
        }
    }
}

/// Reads a label file: one class name per line (a final newline is optional).
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let labels: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
    if let Some(i) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(Error::format(path, Some(i + 1), "empty class name"));
    }
    if labels.is_empty() {
        return Err(Error::format(path, None, "no class names"));
    }
    Ok(labels)
}

/// The class names for a model with `num_classes` outputs.
pub fn labels_for(num_classes: usize, labels: Option<&[String]>) -> Result<Vec<String>> {
    match labels {
        Some(l) if l.len() != num_classes => {
            Err(Error::Config(format!("{} class names given for a model with {num_classes} classes", l.len())))
        }
        Some(l) => Ok(l.to_vec()),
        None if num_classes == 1000 => Ok(imagenet_classes()),
        None => Ok((0..num_classes).map(|i| i.to_string()).collect()),
    }
}

/// Reads the tensor `input` (f32 `[N, 3, H, W]`) of a safetensors file.
pub fn read_input_tensor(path: impl AsRef<Path>, device: &Device) -> Result<Tensor<4>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, None, format!("not a safetensors file: {e}")))?;
    let view = st
        .tensor("input")
        .map_err(|_| Error::format(path, None, format!("no tensor `input` (found: {})", st.names().join(", "))))?;
    let shape = view.shape().to_vec();
    if view.dtype() != safetensors::Dtype::F32 || shape.len() != 4 || shape[1] != 3 {
        return Err(Error::format(
            path,
            None,
            format!("tensor `input` must be f32 [N, 3, H, W], found {:?} {shape:?}", view.dtype()),
        ));
    }
    let values: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Turns logits `[N, C]` (row-major) into records named by `inputs`.
pub fn records_from_logits(
    inputs: &[String],
    logits: &[f32],
    labels: &[String],
    topk: usize,
    include_logits: bool,
) -> Vec<Prediction> {
    let c = labels.len().max(1);
    inputs
        .iter()
        .zip(logits.chunks(c))
        .map(|(input, row)| {
            let probs = tensor::softmax(row);
            let top = tensor::topk(&probs, topk.min(c))
                .into_iter()
                .map(|i| TopClass { index: i, label: labels[i].clone(), prob: probs[i] })
                .collect();
            Prediction { input: input.clone(), top, logits: include_logits.then(|| row.to_vec()) }
        })
        .collect()
}

/// Runs the model on `input` and returns one record per image / batch entry, in input order. On
/// burn-flex the model runs through the fused inference engine ([`VisionModel::fuse`]).
pub fn predict(
    model: &VisionModel,
    input: &PredictInput,
    options: &PredictOptions,
    device: &Device,
) -> Result<Vec<Prediction>> {
    let labels = labels_for(model.num_classes(), options.labels.as_deref())?;
    // On the CPU the fused inference engine (BatchNorm folded, NHWC, fused activations) gives
    // the same logits faster; other devices run the model's modules.
    let fused = if *device == Device::flex() { Some(model.fuse()?) } else { None };
    let mut records = Vec::new();
    let mut run = |names: Vec<String>, x: Tensor<4>| -> Result<()> {
        let logits = match &fused {
            Some(fused) => tensor::to_vec_f32(fused.forward(x)?)?,
            None => tensor::to_vec_f32(model.forward(x))?,
        };
        records.extend(records_from_logits(&names, &logits, &labels, options.topk, options.logits));
        Ok(())
    };
    match input {
        PredictInput::TensorFile(path) => {
            let x = read_input_tensor(path, device)?;
            let n = x.dims()[0];
            let batch = options.batch_size.max(1);
            for start in (0..n).step_by(batch) {
                let end = (start + batch).min(n);
                run((start..end).map(|i| i.to_string()).collect(), x.clone().narrow(0, start, end - start))?;
            }
        }
        PredictInput::Images(paths) => {
            let mut rng = kindling_core::seeded_rng(0);
            let mut pending: Vec<(String, kindling_data::transform::ImageTensor)> = Vec::new();
            for path in paths {
                let t = options.pipeline.apply(open_image(path)?, &mut rng);
                if t.channels != 3 {
                    return Err(Error::format(path, None, "the model needs 3-channel images (add GrayToRgb)"));
                }
                let same = pending.first().is_none_or(|(_, p)| (p.height, p.width) == (t.height, t.width));
                if !same || pending.len() >= options.batch_size.max(1) {
                    let (names, x) = stack(std::mem::take(&mut pending), device);
                    run(names, x)?;
                }
                pending.push((path.display().to_string(), t));
            }
            if !pending.is_empty() {
                let (names, x) = stack(pending, device);
                run(names, x)?;
            }
        }
    }
    Ok(records)
}

fn stack(items: Vec<(String, kindling_data::transform::ImageTensor)>, device: &Device) -> (Vec<String>, Tensor<4>) {
    let (h, w) = (items[0].1.height, items[0].1.width);
    let n = items.len();
    let mut names = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n * 3 * h * w);
    for (name, t) in items {
        names.push(name);
        data.extend_from_slice(&t.data);
    }
    (names, Tensor::from_data(TensorData::new(data, [n, 3, h, w]), device))
}
