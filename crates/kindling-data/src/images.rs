//! In-memory image classification datasets (MNIST-style) and the embedded samples.

use std::path::Path;

use burn::data::dataset::{Dataset, DatasetError};
use image::{DynamicImage, GrayImage};
use kindling_core::{Error, Result};

use crate::idx::IdxArray;

/// One decoded image and its class label.
///
/// ```
/// use kindling_data::ImageItem;
/// let item = ImageItem { image: image::DynamicImage::new_luma8(2, 2), label: 3 };
/// assert_eq!(item.label, 3);
/// ```
#[derive(Debug, Clone)]
pub struct ImageItem {
    /// The image as decoded (gray or RGB).
    pub image: DynamicImage,
    /// Class index.
    pub label: usize,
}

/// Grayscale images held in memory with their labels: what MNIST-style IDX pairs decode to.
///
/// ```
/// use kindling_data::{Embedded, ImageDataset};
/// use burn::data::dataset::Dataset;
/// let test: ImageDataset = Embedded::FashionMnist.test()?;
/// assert_eq!(test.len(), 2000);
/// assert_eq!(test.classes()[9], "Ankle boot");
/// let item = test.get(0).expect("in range");
/// assert_eq!((item.image.width(), item.image.height()), (28, 28));
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageDataset {
    pixels: Vec<u8>,
    height: usize,
    width: usize,
    labels: Vec<usize>,
    classes: Vec<String>,
}

impl ImageDataset {
    /// Builds a dataset from raw row-major `u8` pixels `[n, height, width]` and labels.
    pub fn new(pixels: Vec<u8>, height: usize, width: usize, labels: Vec<usize>, classes: Vec<String>) -> Result<Self> {
        if pixels.len() != labels.len() * height * width {
            return Err(Error::Shape(format!(
                "{} pixels do not make {} images of {height}x{width}",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes.len()) {
            return Err(Error::Config(format!("label {bad} out of range for {} classes", classes.len())));
        }
        Ok(ImageDataset { pixels, height, width, labels, classes })
    }

    /// Reads an IDX image file (`[n, h, w]`, u8) and its label file (`[n]`, u8).
    pub fn from_idx(images: impl AsRef<Path>, labels: impl AsRef<Path>, classes: Vec<String>) -> Result<Self> {
        let (ip, lp) = (images.as_ref(), labels.as_ref());
        Self::from_idx_arrays(IdxArray::read(ip)?, ip, IdxArray::read(lp)?, lp, classes)
    }

    /// Reads the standard MNIST file pair of `split` (`train` or `t10k`/`test`) from `dir`,
    /// accepting `train-images-idx3-ubyte[.gz]` as well as Kindling's `train-images.idx[.gz]` names.
    pub fn from_mnist_dir(dir: impl AsRef<Path>, split: &str, classes: Vec<String>) -> Result<Self> {
        let dir = dir.as_ref();
        let prefixes: &[&str] = match split {
            "train" => &["train"],
            "test" | "t10k" => &["t10k", "test"],
            other => {
                return Err(Error::Config(format!("unknown split `{other}`: expected train or test")));
            }
        };
        let find = |kind: &str, idx_dims: &str| {
            for p in prefixes {
                for name in [
                    format!("{p}-{kind}-{idx_dims}-ubyte.gz"),
                    format!("{p}-{kind}-{idx_dims}-ubyte"),
                    format!("{p}-{kind}.idx.gz"),
                    format!("{p}-{kind}.idx"),
                ] {
                    let path = dir.join(name);
                    if path.exists() {
                        return Ok(path);
                    }
                }
            }
            Err(Error::io(
                dir.join(format!("{}-{kind}-{idx_dims}-ubyte.gz", prefixes[0])),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no MNIST-style IDX file for this split"),
            ))
        };
        Self::from_idx(find("images", "idx3")?, find("labels", "idx1")?, classes)
    }

    pub(crate) fn from_idx_arrays(
        images: IdxArray,
        image_origin: &Path,
        labels: IdxArray,
        label_origin: &Path,
        classes: Vec<String>,
    ) -> Result<Self> {
        let pixels =
            images.as_u8().ok_or_else(|| Error::format(image_origin, None, "image IDX must hold unsigned bytes"))?;
        if images.dims.len() != 3 {
            return Err(Error::format(
                image_origin,
                None,
                format!("image IDX must be 3-D [n, h, w], found dims {:?}", images.dims),
            ));
        }
        let raw_labels =
            labels.as_u8().ok_or_else(|| Error::format(label_origin, None, "label IDX must hold unsigned bytes"))?;
        if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
            return Err(Error::format(
                label_origin,
                None,
                format!("label dims {:?} do not match {} images", labels.dims, images.dims[0]),
            ));
        }
        if let Some((i, &bad)) = raw_labels.iter().enumerate().find(|&(_, &l)| l as usize >= classes.len()) {
            return Err(Error::format(
                label_origin,
                Some(i + 1),
                format!("label {bad} out of range for {} classes", classes.len()),
            ));
        }
        let labels = raw_labels.iter().map(|&l| l as usize).collect();
        Self::new(pixels.to_vec(), images.dims[1], images.dims[2], labels, classes)
    }

    /// Class names, indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// All labels in order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Image height and width.
    pub fn image_size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Raw pixels of image `index` (row-major, `height * width` bytes).
    pub fn pixels(&self, index: usize) -> &[u8] {
        let px = self.height * self.width;
        &self.pixels[index * px..(index + 1) * px]
    }

    /// Number of images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// A new dataset holding only the given indices, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let mut pixels = Vec::with_capacity(indices.len() * self.height * self.width);
        for &i in indices {
            pixels.extend_from_slice(self.pixels(i));
        }
        ImageDataset {
            pixels,
            height: self.height,
            width: self.width,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
        }
    }
}

impl Dataset<ImageItem> for ImageDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        let image = GrayImage::from_raw(self.width as u32, self.height as u32, self.pixels(index).to_vec())
            .ok_or_else(|| DatasetError::new(Error::Shape("image buffer size".into())))?;
        Ok(ImageItem { image: DynamicImage::ImageLuma8(image), label: self.labels[index] })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Class names of Fashion-MNIST, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Class names of MNIST, in label order.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Small datasets compiled into the library, so examples, tests and `kindling demo` need no path
/// and no network. See `embedded/*/README.md` for how they were cut and their licenses.
///
/// | sample | train | test |
/// |---|---|---|
/// | `FashionMnist` | 600 per class (6,000) | 200 per class (2,000) |
/// | `Mnist` | 500 per class (5,000) | 100 per class (1,000) |
///
/// ```
/// use kindling_data::Embedded;
/// let train = Embedded::Mnist.train()?;
/// assert_eq!(train.class_counts(), vec![500; 10]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Embedded {
    /// Stratified Fashion-MNIST subset (MIT).
    FashionMnist,
    /// Stratified MNIST subset (CC BY-SA 3.0).
    Mnist,
}

impl Embedded {
    /// Short name, as used on the command line (`fashion-mnist`, `mnist`).
    pub fn name(self) -> &'static str {
        match self {
            Embedded::FashionMnist => "fashion-mnist",
            Embedded::Mnist => "mnist",
        }
    }

    /// Parses a short name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fashion-mnist" | "fashion_mnist" | "fmnist" => Some(Embedded::FashionMnist),
            "mnist" => Some(Embedded::Mnist),
            _ => None,
        }
    }

    /// Class names in label order.
    pub fn classes(self) -> Vec<String> {
        let names: &[&str] = match self {
            Embedded::FashionMnist => &FASHION_MNIST_CLASSES,
            Embedded::Mnist => &MNIST_CLASSES,
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    fn bytes(self, train: bool) -> (&'static [u8], &'static [u8]) {
        match (self, train) {
            (Embedded::FashionMnist, true) => (
                include_bytes!("../embedded/fashion-mnist/train-images.idx.gz"),
                include_bytes!("../embedded/fashion-mnist/train-labels.idx.gz"),
            ),
            (Embedded::FashionMnist, false) => (
                include_bytes!("../embedded/fashion-mnist/test-images.idx.gz"),
                include_bytes!("../embedded/fashion-mnist/test-labels.idx.gz"),
            ),
            (Embedded::Mnist, true) => (
                include_bytes!("../embedded/mnist/train-images.idx.gz"),
                include_bytes!("../embedded/mnist/train-labels.idx.gz"),
            ),
            (Embedded::Mnist, false) => (
                include_bytes!("../embedded/mnist/test-images.idx.gz"),
                include_bytes!("../embedded/mnist/test-labels.idx.gz"),
            ),
        }
    }

    fn load(self, train: bool) -> Result<ImageDataset> {
        let (img, lab) = self.bytes(train);
        let split = if train { "train" } else { "test" };
        let ip = Path::new("<embedded>").join(self.name()).join(format!("{split}-images.idx.gz"));
        let lp = Path::new("<embedded>").join(self.name()).join(format!("{split}-labels.idx.gz"));
        ImageDataset::from_idx_arrays(IdxArray::parse(img, &ip)?, &ip, IdxArray::parse(lab, &lp)?, &lp, self.classes())
    }

    /// The embedded training split.
    pub fn train(self) -> Result<ImageDataset> {
        self.load(true)
    }

    /// The embedded test split.
    pub fn test(self) -> Result<ImageDataset> {
        self.load(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_counts_are_stratified() {
        let f = Embedded::FashionMnist;
        assert_eq!(f.train().unwrap().class_counts(), vec![600; 10]);
        assert_eq!(f.test().unwrap().class_counts(), vec![200; 10]);
        assert_eq!(Embedded::Mnist.test().unwrap().class_counts(), vec![100; 10]);
    }

    #[test]
    fn embedded_first_items_match_the_official_files() {
        // The first image of the official Fashion-MNIST training file is an ankle boot (label 9),
        // the first test image too; the subset keeps file order, so they come first here as well.
        let train = Embedded::FashionMnist.train().unwrap();
        assert_eq!(train.labels()[0], 9);
        assert_eq!(train.labels()[1], 0);
        let test = Embedded::FashionMnist.test().unwrap();
        assert_eq!(test.labels()[..3], [9, 2, 1]);
        // The first MNIST training digit is a 5, then 0, 4, 1.
        assert_eq!(Embedded::Mnist.train().unwrap().labels()[..4], [5, 0, 4, 1]);
    }

    #[test]
    fn embedded_first_pixels_match_the_official_fashion_mnist() {
        // Values read with Python from the official train-images-idx3-ubyte.gz (header
        // 00000803 0000ea60 0000001c 0000001c): image 0 sums to 76247, its first non-zero pixel
        // is at offset 96, and the centre pixel (14, 14) is 217. Test image 0 sums to 33456.
        let train = Embedded::FashionMnist.train().unwrap();
        assert_eq!(train.image_size(), (28, 28));
        let px = train.pixels(0);
        assert_eq!(px.iter().map(|&p| u32::from(p)).sum::<u32>(), 76247);
        assert_eq!(px.iter().position(|&p| p != 0), Some(96));
        assert_eq!(px[14 * 28 + 14], 217);
        let test = Embedded::FashionMnist.test().unwrap();
        assert_eq!(test.pixels(0).iter().map(|&p| u32::from(p)).sum::<u32>(), 33456);
    }

    #[test]
    fn embedded_idx_headers_parse_as_3d_u8() {
        let (img, _) = Embedded::FashionMnist.bytes(true);
        let a = IdxArray::parse(img, "train-images.idx.gz").unwrap();
        assert_eq!(a.dims, vec![6000, 28, 28]);
        assert_eq!(a.dtype, crate::idx::IdxType::U8);
    }

    #[test]
    fn subset_keeps_order_and_pixels() {
        let d = Embedded::Mnist.test().unwrap();
        let s = d.subset(&[5, 2]);
        assert_eq!(s.labels(), &[d.labels()[5], d.labels()[2]]);
        assert_eq!(s.pixels(0), d.pixels(5));
    }

    #[test]
    fn label_out_of_range_is_typed_error() {
        let e = ImageDataset::new(vec![0; 4], 2, 2, vec![3], vec!["a".into()]).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }
}
