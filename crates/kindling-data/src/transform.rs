//! Image transforms in torchvision's order and semantics: resize, crops, flips, channel
//! expansion, conversion to a CHW `f32` tensor and per-channel normalisation.

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};
use kindling_core::{Error, Result, SeedRng};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// ImageNet channel means (RGB), as used by torchvision's pretrained models.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An image as a channels-first `f32` array, the input of a CNN.
///
/// ```
/// use kindling_data::transform::ImageTensor;
/// let t = ImageTensor::from_image(&image::DynamicImage::new_rgb8(4, 2));
/// assert_eq!((t.channels, t.height, t.width), (3, 2, 4));
/// assert_eq!(t.data.len(), 24);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImageTensor {
    /// Number of channels (1 or 3).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values, channel-major.
    pub data: Vec<f32>,
}

impl ImageTensor {
    /// torchvision's `ToTensor`: gray images give 1 channel, everything else RGB; values in `[0, 1]`.
    pub fn from_image(image: &DynamicImage) -> Self {
        let (w, h) = image.dimensions();
        let (w, h) = (w as usize, h as usize);
        match image {
            DynamicImage::ImageLuma8(g) => ImageTensor {
                channels: 1,
                height: h,
                width: w,
                data: g.as_raw().iter().map(|&p| f32::from(p) / 255.0).collect(),
            },
            other => {
                let rgb = other.to_rgb8();
                let raw = rgb.as_raw();
                let mut data = vec![0.0; 3 * h * w];
                for (i, px) in raw.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        data[c * h * w + i] = f32::from(px[c]) / 255.0;
                    }
                }
                ImageTensor { channels: 3, height: h, width: w, data }
            }
        }
    }

    /// Per-channel `(x - mean) / std`; a 1-channel image uses the first mean/std.
    pub fn normalize(&mut self, mean: &[f32; 3], std: &[f32; 3]) {
        let plane = self.height * self.width;
        for c in 0..self.channels {
            let (m, s) = (mean[c.min(2)], std[c.min(2)]);
            for v in &mut self.data[c * plane..(c + 1) * plane] {
                *v = (*v - m) / s;
            }
        }
    }
}

/// One image-level step of a [`Pipeline`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// torchvision `Resize(size)`: scale so the shorter side is `size` (bilinear, antialiased).
    Resize(u32),
    /// Resize to exactly `height x width`.
    ResizeExact {
        /// Target height.
        height: u32,
        /// Target width.
        width: u32,
    },
    /// torchvision `CenterCrop(size)` (pads with zeros when the image is smaller).
    CenterCrop(u32),
    /// torchvision `RandomCrop(size, padding)`: zero-pad every side, then crop at a random place.
    RandomCrop {
        /// Output side.
        size: u32,
        /// Zero padding added on each side first.
        padding: u32,
    },
    /// Flip left-right with probability `p`.
    RandomHorizontalFlip(f32),
    /// Replicate a gray image into 3 channels (no-op for RGB).
    GrayToRgb,
}

impl Transform {
    /// Whether this step draws random numbers.
    pub fn is_random(&self) -> bool {
        matches!(self, Transform::RandomCrop { .. } | Transform::RandomHorizontalFlip(_))
    }

    /// Applies the step.
    pub fn apply(&self, image: DynamicImage, rng: &mut SeedRng) -> DynamicImage {
        match *self {
            Transform::Resize(size) => {
                let (w, h) = image.dimensions();
                let (nw, nh) = if w <= h {
                    (size, (u64::from(size) * u64::from(h) / u64::from(w.max(1))) as u32)
                } else {
                    ((u64::from(size) * u64::from(w) / u64::from(h.max(1))) as u32, size)
                };
                if (nw, nh) == (w, h) { image } else { image.resize_exact(nw, nh, FilterType::Triangle) }
            }
            Transform::ResizeExact { height, width } => {
                if image.dimensions() == (width, height) {
                    image
                } else {
                    image.resize_exact(width, height, FilterType::Triangle)
                }
            }
            Transform::CenterCrop(size) => {
                let (w, h) = image.dimensions();
                // torchvision: top = int(round((h - size) / 2)), Python rounds half to even.
                let off = |full: u32| ((f64::from(full) - f64::from(size)) / 2.0).round_ties_even() as i64;
                crop_padded(&image, off(w), off(h), size, size)
            }
            Transform::RandomCrop { size, padding } => {
                let (w, h) = image.dimensions();
                let (pw, ph) = (w + 2 * padding, h + 2 * padding);
                let x = rng.random_range(0..=pw.saturating_sub(size)) as i64 - i64::from(padding);
                let y = rng.random_range(0..=ph.saturating_sub(size)) as i64 - i64::from(padding);
                crop_padded(&image, x, y, size, size)
            }
            Transform::RandomHorizontalFlip(p) => {
                if rng.random::<f32>() < p {
                    image.fliph()
                } else {
                    image
                }
            }
            Transform::GrayToRgb => match image {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => DynamicImage::ImageRgb8(image.to_rgb8()),
                other => other,
            },
        }
    }
}

/// Crops `w x h` at `(x, y)`, which may lie partly outside the image; outside pixels are zero.
fn crop_padded(image: &DynamicImage, x: i64, y: i64, w: u32, h: u32) -> DynamicImage {
    let (iw, ih) = image.dimensions();
    if x >= 0 && y >= 0 && x + i64::from(w) <= i64::from(iw) && y + i64::from(h) <= i64::from(ih) {
        return image.crop_imm(x as u32, y as u32, w, h);
    }
    let mut out = match image {
        DynamicImage::ImageLuma8(_) => DynamicImage::new_luma8(w, h),
        _ => DynamicImage::new_rgb8(w, h),
    };
    let src = match image {
        DynamicImage::ImageLuma8(_) => image.clone(),
        _ => DynamicImage::ImageRgb8(image.to_rgb8()),
    };
    let sx = x.max(0) as u32;
    let sy = y.max(0) as u32;
    let ex = (x + i64::from(w)).min(i64::from(iw)).max(i64::from(sx)) as u32;
    let ey = (y + i64::from(h)).min(i64::from(ih)).max(i64::from(sy)) as u32;
    if ex > sx && ey > sy {
        let part = src.crop_imm(sx, sy, ex - sx, ey - sy);
        image::imageops::replace(&mut out, &part, i64::from(sx) - x, i64::from(sy) - y);
    }
    out
}

/// Per-channel normalisation constants.
///
/// ```
/// use kindling_data::transform::Normalize;
/// let n = Normalize::tensorflow_lite();
/// // (x*255 - 127) / 128 on the 0..255 scale
/// assert!(((1.0 - n.mean[0]) / n.std[0] - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Channel means (on the `[0, 1]` scale).
    pub mean: [f32; 3],
    /// Channel standard deviations (on the `[0, 1]` scale).
    pub std: [f32; 3],
}

impl Normalize {
    /// torchvision's ImageNet mean/std.
    pub fn imagenet() -> Self {
        Normalize { mean: IMAGENET_MEAN, std: IMAGENET_STD }
    }

    /// `(x - 127) / 128` on the 0–255 scale, as EfficientNet-Lite was trained in TensorFlow.
    pub fn tensorflow_lite() -> Self {
        Normalize { mean: [127.0 / 255.0; 3], std: [128.0 / 255.0; 3] }
    }

    /// Mean 0.5, std 0.5 (maps `[0, 1]` to `[-1, 1]`).
    pub fn half() -> Self {
        Normalize { mean: [0.5; 3], std: [0.5; 3] }
    }
}

/// A sequence of [`Transform`]s followed by `ToTensor` and an optional [`Normalize`].
///
/// ```
/// use kindling_data::transform::{Normalize, Pipeline, Transform};
/// let p = Pipeline::new(vec![Transform::Resize(256), Transform::CenterCrop(224)])
///     .with_normalize(Normalize::imagenet());
/// let mut rng = kindling_core::seeded_rng(0);
/// let t = p.apply(image::DynamicImage::new_rgb8(320, 240), &mut rng);
/// assert_eq!((t.channels, t.height, t.width), (3, 224, 224));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pipeline {
    /// Image-level steps, in order.
    pub steps: Vec<Transform>,
    /// Normalisation applied after conversion to `[0, 1]` floats.
    pub normalize: Option<Normalize>,
}

impl Pipeline {
    /// A pipeline of `steps` without normalisation.
    pub fn new(steps: Vec<Transform>) -> Self {
        Pipeline { steps, normalize: None }
    }

    /// Adds normalisation.
    pub fn with_normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = Some(normalize);
        self
    }

    /// torchvision's classic evaluation preprocessing: `Resize(resize)`, `CenterCrop(crop)`,
    /// RGB, ImageNet normalisation.
    pub fn imagenet_eval(resize: u32, crop: u32) -> Self {
        Pipeline::new(vec![Transform::Resize(resize), Transform::CenterCrop(crop), Transform::GrayToRgb])
            .with_normalize(Normalize::imagenet())
    }

    /// Whether any step is random (training augmentation).
    pub fn is_random(&self) -> bool {
        self.steps.iter().any(Transform::is_random)
    }

    /// Runs every step, converts to a tensor and normalises.
    pub fn apply(&self, image: DynamicImage, rng: &mut SeedRng) -> ImageTensor {
        let image = self.steps.iter().fold(image, |img, t| t.apply(img, rng));
        let mut t = ImageTensor::from_image(&image);
        if let Some(n) = &self.normalize {
            t.normalize(&n.mean, &n.std);
        }
        t
    }
}

/// Decodes an image file (any format the `image` crate was built with: JPEG, PNG).
///
/// ```no_run
/// let img = kindling_data::transform::open_image("photo.jpg")?;
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn open_image(path: impl AsRef<std::path::Path>) -> Result<DynamicImage> {
    let path = path.as_ref();
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    reader.decode().map_err(|e| Error::format(path, None, format!("cannot decode image: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    fn gray(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| Luma([(10 * y + x) as u8])))
    }

    #[test]
    fn to_tensor_scales_and_orders_channels() {
        let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([255, 0, 51]) } else { Rgb([0, 102, 0]) });
        let t = ImageTensor::from_image(&DynamicImage::ImageRgb8(img));
        assert_eq!(t.data, vec![1.0, 0.0, 0.0, 0.4, 0.2, 0.0]);
    }

    #[test]
    fn normalize_per_channel() {
        let mut t = ImageTensor { channels: 3, height: 1, width: 1, data: vec![0.485, 0.456 + 0.224, 0.0] };
        t.normalize(&IMAGENET_MEAN, &IMAGENET_STD);
        assert!(t.data[0].abs() < 1e-6);
        assert!((t.data[1] - 1.0).abs() < 1e-6);
        assert!((t.data[2] + 0.406 / 0.225).abs() < 1e-6);
    }

    #[test]
    fn center_crop_takes_the_middle_with_half_even_rounding() {
        let mut rng = kindling_core::seeded_rng(0);
        // 5x5 -> 2x2: offset round(1.5) = 2 (half to even)
        let out = Transform::CenterCrop(2).apply(gray(5, 5), &mut rng).to_luma8();
        assert_eq!(out.as_raw(), &vec![22, 23, 32, 33]);
        // 4x4 -> 2x2: offset 1
        let out = Transform::CenterCrop(2).apply(gray(4, 4), &mut rng).to_luma8();
        assert_eq!(out.as_raw(), &vec![11, 12, 21, 22]);
    }

    #[test]
    fn resize_keeps_aspect_on_short_side() {
        let mut rng = kindling_core::seeded_rng(0);
        let out = Transform::Resize(4).apply(gray(8, 6), &mut rng);
        assert_eq!(out.dimensions(), (5, 4)); // int(4 * 8 / 6) = 5
        let flat = DynamicImage::ImageLuma8(GrayImage::from_pixel(10, 10, Luma([77])));
        let out = Transform::Resize(3).apply(flat, &mut rng).to_luma8();
        assert!(out.pixels().all(|p| p.0[0] == 77), "resizing a flat image keeps its value");
    }

    #[test]
    fn random_crop_with_padding_is_seeded_and_zero_filled() {
        let t = Transform::RandomCrop { size: 4, padding: 2 };
        let a = t.apply(gray(4, 4), &mut kindling_core::seeded_rng(3)).to_luma8();
        let b = t.apply(gray(4, 4), &mut kindling_core::seeded_rng(3)).to_luma8();
        assert_eq!(a, b, "same seed, same crop");
        // Over many seeds some crop must be shifted and show zero padding.
        let shifted =
            (0..20).any(|s| t.apply(gray(4, 4), &mut kindling_core::seeded_rng(s)).to_luma8() != gray(4, 4).to_luma8());
        assert!(shifted);
        let e = Transform::RandomCrop { size: 2, padding: 0 };
        let c = e.apply(gray(2, 2), &mut kindling_core::seeded_rng(0)).to_luma8();
        assert_eq!(c.as_raw(), &vec![0, 1, 10, 11]);
    }

    #[test]
    fn crop_outside_is_zero_padded() {
        let out = crop_padded(&gray(2, 2), -1, -1, 3, 3).to_luma8();
        assert_eq!(out.as_raw(), &vec![0, 0, 0, 0, 0, 1, 0, 10, 11]);
    }

    #[test]
    fn horizontal_flip_probability_extremes() {
        let mut rng = kindling_core::seeded_rng(0);
        let flipped = Transform::RandomHorizontalFlip(1.0).apply(gray(3, 1), &mut rng).to_luma8();
        assert_eq!(flipped.as_raw(), &vec![2, 1, 0]);
        let kept = Transform::RandomHorizontalFlip(0.0).apply(gray(3, 1), &mut rng).to_luma8();
        assert_eq!(kept.as_raw(), &vec![0, 1, 2]);
    }

    #[test]
    fn gray_to_rgb_replicates_channels() {
        let mut rng = kindling_core::seeded_rng(0);
        let t = ImageTensor::from_image(&Transform::GrayToRgb.apply(gray(2, 1), &mut rng));
        assert_eq!(t.channels, 3);
        assert_eq!(t.data[0..2], t.data[2..4]);
        assert_eq!(t.data[0..2], t.data[4..6]);
        assert!((t.data[1] - 1.0 / 255.0).abs() < 1e-7);
    }

    #[test]
    fn pipeline_runs_in_torchvision_order() {
        let p = Pipeline::imagenet_eval(8, 4);
        let t = p.apply(gray(16, 12), &mut kindling_core::seeded_rng(0));
        assert_eq!((t.channels, t.height, t.width), (3, 4, 4));
        assert!(!p.is_random());
    }

    #[test]
    fn unreadable_image_is_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"not a png").unwrap();
        let e = open_image(&path).unwrap_err();
        assert!(e.to_string().contains("broken.png"), "{e}");
    }
}
