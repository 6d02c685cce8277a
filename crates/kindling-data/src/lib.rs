//! # kindling-data
//!
//! Datasets and loaders for Kindling:
//!
//! - [`idx`]: MNIST-style IDX files (plain or gzipped);
//! - [`ImageDataset`] (in-memory images) and the [`Embedded`] samples compiled into the crate
//!   (stratified Fashion-MNIST and MNIST subsets: no path, no network);
//! - [`ImageFolder`]: torchvision's `root/<class>/<image>` layout;
//! - [`transform`]: resize, crops, flips, gray→RGB, to-tensor, normalisation (seeded);
//! - [`TransformDataset`] + [`ImageBatcher`]: burn `Dataset`/`Batcher` integration giving
//!   `[B, C, H, W]` f32 images and `[B]` i64 labels;
//! - [`split`]: reproducible stratified splits;
//! - [`text`] and [`series`]: vocabularies and readers for sentiment, POS-tagged, pronouncing-dictionary,
//!   parallel and plain-text corpora, and UCR `.ts` time series.
//!
//! Every reader returns [`kindling_core::Error`] naming the file (and line) on malformed input.
//!
//! ```
//! use burn::data::dataset::Dataset;
//! use kindling_data::{Embedded, ImageBatcher, TransformDataset, transform::{Pipeline, Transform}};
//! use burn::data::dataloader::batcher::Batcher;
//!
//! let train = Embedded::FashionMnist.train()?;
//! let ds = TransformDataset::new(train, Pipeline::new(vec![Transform::RandomHorizontalFlip(0.5)]), 42);
//! let items: Vec<_> = (0..4).map(|i| ds.get(i).expect("item")).collect();
//! let batch = ImageBatcher.batch(items, &kindling_core::default_device());
//! assert_eq!(batch.images.dims(), [4, 1, 28, 28]);
//! # Ok::<(), kindling_core::Error>(())
//! ```

mod batch;
mod folder;
pub mod idx;
mod images;
pub mod series;
mod source;
pub mod split;
pub mod text;
pub mod transform;

pub use batch::{ImageBatch, ImageBatcher, TensorItem, TransformDataset, stack_items};
pub use folder::{IMAGE_EXTENSIONS, ImageFolder};
pub use images::{Embedded, FASHION_MNIST_CLASSES, ImageDataset, ImageItem, MNIST_CLASSES};
pub use source::{DataSource, LoadedDataset, Split};
