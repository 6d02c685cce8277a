//! burn `Dataset`/`Batcher` integration: transformed image datasets and `[B, C, H, W]` batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};
use kindling_core::{derive_seed, seeded_rng};

use crate::images::ImageItem;
use crate::transform::{ImageTensor, Pipeline};

/// A transformed sample: a CHW float image and its label.
#[derive(Debug, Clone)]
pub struct TensorItem {
    /// The image after the pipeline.
    pub image: ImageTensor,
    /// Class index.
    pub label: usize,
}

/// Applies a [`Pipeline`] to every item of an image dataset.
///
/// Random steps draw from a generator seeded by `(seed, epoch, index)`, so the augmentation of
/// an item is the same whatever worker or order fetches it; call [`set_epoch`](Self::set_epoch)
/// at the start of every epoch to get fresh draws.
///
/// ```
/// use burn::data::dataset::Dataset;
/// use kindling_data::{Embedded, TransformDataset, transform::{Pipeline, Transform}};
/// let base = Embedded::Mnist.test()?;
/// let ds = TransformDataset::new(base, Pipeline::new(vec![Transform::GrayToRgb]), 0);
/// assert_eq!(ds.get(0).expect("item").image.channels, 3);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub struct TransformDataset<D> {
    inner: D,
    pipeline: Pipeline,
    seed: u64,
    epoch: Arc<AtomicU64>,
}

impl<D> TransformDataset<D> {
    /// Wraps `inner`.
    pub fn new(inner: D, pipeline: Pipeline, seed: u64) -> Self {
        TransformDataset { inner, pipeline, seed, epoch: Arc::new(AtomicU64::new(0)) }
    }

    /// Selects the epoch whose augmentation draws are used.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// A handle that sets the epoch even after the dataset moved into a data loader.
    pub fn epoch_handle(&self) -> Arc<AtomicU64> {
        self.epoch.clone()
    }

    /// The wrapped dataset.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl<D: Dataset<ImageItem>> Dataset<TensorItem> for TransformDataset<D> {
    fn get(&self, index: usize) -> Result<TensorItem, DatasetError> {
        let item = self.inner.get(index)?;
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut rng = seeded_rng(derive_seed(self.seed ^ epoch.wrapping_mul(0x9e37_79b9), &index.to_string()));
        Ok(TensorItem { image: self.pipeline.apply(item.image, &mut rng), label: item.label })
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// A batch of images and labels.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// `[B, C, H, W]` images.
    pub images: Tensor<4>,
    /// `[B]` class indices (i64).
    pub targets: Tensor<1, Int>,
}

/// Stacks [`TensorItem`]s into an [`ImageBatch`] on the requested device.
///
/// ```
/// use burn::data::dataloader::batcher::Batcher;
/// use kindling_data::{ImageBatcher, TensorItem, transform::ImageTensor};
/// let item = TensorItem { image: ImageTensor { channels: 1, height: 2, width: 2, data: vec![0.0; 4] }, label: 1 };
/// let b = ImageBatcher.batch(vec![item.clone(), item], &kindling_core::default_device());
/// assert_eq!(b.images.dims(), [2, 1, 2, 2]);
/// assert_eq!(b.targets.dims(), [2]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageBatcher;

impl Batcher<TensorItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<TensorItem>, device: &Device) -> ImageBatch {
        stack_items(&items, device)
    }
}

/// Stacks items into a batch. All images must have the same shape (the pipeline guarantees it).
///
/// # Panics
/// When shapes differ: a pipeline without a fixed-size resize/crop fed images of several sizes.
pub fn stack_items(items: &[TensorItem], device: &Device) -> ImageBatch {
    let (c, h, w) = items.first().map(|i| (i.image.channels, i.image.height, i.image.width)).unwrap_or((1, 1, 1));
    let mut data = Vec::with_capacity(items.len() * c * h * w);
    for it in items {
        assert_eq!(
            (it.image.channels, it.image.height, it.image.width),
            (c, h, w),
            "images in one batch must share a shape; add a Resize/CenterCrop to the pipeline"
        );
        data.extend_from_slice(&it.image.data);
    }
    let labels: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
    ImageBatch {
        images: Tensor::from_data(TensorData::new(data, [items.len(), c, h, w]), device),
        targets: Tensor::from_data(TensorData::new(labels, [items.len()]), device),
    }
}
