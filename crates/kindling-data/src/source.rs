//! Naming a dataset on the command line: embedded samples, IDX folders, ImageFolder trees.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::data::dataset::{Dataset, DatasetError};
use kindling_core::{Error, Result};

use crate::folder::ImageFolder;
use crate::images::{Embedded, FASHION_MNIST_CLASSES, ImageDataset, ImageItem, MNIST_CLASSES};

/// Which part of a dataset to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training data.
    Train,
    /// Held-out test data.
    Test,
}

impl FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "test" | "t10k" | "val" => Ok(Split::Test),
            other => Err(Error::Config(format!("unknown split `{other}`: expected train or test"))),
        }
    }
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// A dataset named by a string.
///
/// | string | meaning |
/// |---|---|
/// | `fashion-mnist`, `mnist` (or `embedded:NAME`) | the [`Embedded`] samples |
/// | `idx:DIR` | MNIST-style IDX files in `DIR` (`train-images-idx3-ubyte[.gz]`, `t10k-...`) |
/// | `folder:DIR` | ImageFolder: `DIR/train/<class>/*` and `DIR/test/<class>/*` (or `DIR/val`) |
/// | `DIR` | `idx:` if `DIR` holds IDX files, `folder:` otherwise |
///
/// ```
/// use kindling_data::{DataSource, Split};
/// let src: DataSource = "fashion-mnist".parse()?;
/// let test = src.load(Split::Test)?;
/// assert_eq!(test.classes().len(), 10);
/// assert_eq!(test.labels().len(), 2000);
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DataSource {
    /// A sample compiled into the library.
    Embedded(String),
    /// A folder of IDX files.
    Idx(PathBuf),
    /// An ImageFolder tree with `train/` and `test/` (or `val/`) sub-folders.
    Folder(PathBuf),
}

impl FromStr for DataSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(name) = s.strip_prefix("embedded:") {
            return Embedded::from_name(name).map(|e| DataSource::Embedded(e.name().into())).ok_or_else(|| {
                Error::Config(format!("unknown embedded dataset `{name}`: try fashion-mnist or mnist"))
            });
        }
        if let Some(e) = Embedded::from_name(s) {
            return Ok(DataSource::Embedded(e.name().into()));
        }
        if let Some(dir) = s.strip_prefix("idx:") {
            return Ok(DataSource::Idx(dir.into()));
        }
        if let Some(dir) = s.strip_prefix("folder:") {
            return Ok(DataSource::Folder(dir.into()));
        }
        let path = Path::new(s);
        if !path.is_dir() {
            return Err(Error::Config(format!(
                "`{s}` is neither an embedded dataset (fashion-mnist, mnist) nor a folder; use idx:DIR or folder:DIR"
            )));
        }
        let has_idx = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("idx3"));
        Ok(if has_idx { DataSource::Idx(path.into()) } else { DataSource::Folder(path.into()) })
    }
}

impl std::fmt::Display for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataSource::Embedded(n) => write!(f, "{n}"),
            DataSource::Idx(p) => write!(f, "idx:{}", p.display()),
            DataSource::Folder(p) => write!(f, "folder:{}", p.display()),
        }
    }
}

impl DataSource {
    /// Loads one split.
    pub fn load(&self, split: Split) -> Result<LoadedDataset> {
        match self {
            DataSource::Embedded(name) => {
                let e = Embedded::from_name(name)
                    .ok_or_else(|| Error::Config(format!("unknown embedded dataset `{name}`")))?;
                Ok(LoadedDataset::Memory(match split {
                    Split::Train => e.train()?,
                    Split::Test => e.test()?,
                }))
            }
            DataSource::Idx(dir) => {
                let classes = idx_classes(dir)?;
                Ok(LoadedDataset::Memory(ImageDataset::from_mnist_dir(dir, split.name(), classes)?))
            }
            DataSource::Folder(dir) => {
                let candidates: &[&str] = match split {
                    Split::Train => &["train"],
                    Split::Test => &["test", "val"],
                };
                let sub = candidates.iter().map(|c| dir.join(c)).find(|p| p.is_dir()).ok_or_else(|| {
                    Error::format(
                        dir,
                        None,
                        format!("no `{}` sub-folder for the {} split", candidates.join("` or `"), split.name()),
                    )
                })?;
                Ok(LoadedDataset::Folder(ImageFolder::new(sub)?))
            }
        }
    }
}

/// Class names for an IDX folder: `classes.txt` (one per line) if present, Fashion-MNIST's names
/// if the folder name says so, digits otherwise.
fn idx_classes(dir: &Path) -> Result<Vec<String>> {
    let file = dir.join("classes.txt");
    if file.exists() {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        return Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let names: &[&str] = if name.contains("fashion") { &FASHION_MNIST_CLASSES } else { &MNIST_CLASSES };
    Ok(names.iter().map(|s| s.to_string()).collect())
}

/// A loaded split: in memory (embedded, IDX) or decoded lazily from files (ImageFolder).
#[derive(Debug, Clone)]
pub enum LoadedDataset {
    /// Images held in memory.
    Memory(ImageDataset),
    /// Images read from disk on access.
    Folder(ImageFolder),
}

impl LoadedDataset {
    /// Class names by label.
    pub fn classes(&self) -> Vec<String> {
        match self {
            LoadedDataset::Memory(d) => d.classes().to_vec(),
            LoadedDataset::Folder(d) => d.classes().to_vec(),
        }
    }

    /// Labels in index order.
    pub fn labels(&self) -> Vec<usize> {
        match self {
            LoadedDataset::Memory(d) => d.labels().to_vec(),
            LoadedDataset::Folder(d) => d.labels(),
        }
    }

    /// A dataset holding only `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> LoadedDataset {
        match self {
            LoadedDataset::Memory(d) => LoadedDataset::Memory(d.subset(indices)),
            LoadedDataset::Folder(d) => LoadedDataset::Folder(d.subset(indices)),
        }
    }
}

impl Dataset<ImageItem> for LoadedDataset {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        match self {
            LoadedDataset::Memory(d) => d.get(index),
            LoadedDataset::Folder(d) => d.get(index),
        }
    }

    fn len(&self) -> usize {
        match self {
            LoadedDataset::Memory(d) => d.len(),
            LoadedDataset::Folder(d) => d.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_prefixes() {
        assert_eq!("mnist".parse::<DataSource>().unwrap(), DataSource::Embedded("mnist".into()));
        assert_eq!("embedded:fmnist".parse::<DataSource>().unwrap(), DataSource::Embedded("fashion-mnist".into()));
        assert_eq!("idx:/x".parse::<DataSource>().unwrap(), DataSource::Idx("/x".into()));
        assert!("embedded:cifar".parse::<DataSource>().is_err());
        assert!("/definitely/not/here".parse::<DataSource>().is_err());
    }

    #[test]
    fn idx_folder_reads_mnist_names_and_classes_file() {
        let dir = tempfile::tempdir().unwrap();
        // one 2x2 image with label 1, in the official naming, plain (not gzipped)
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte"),
            [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4],
        )
        .unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte"), [0, 0, 8, 1, 0, 0, 0, 1, 1]).unwrap();
        std::fs::write(dir.path().join("classes.txt"), "no\nyes\n").unwrap();
        let src: DataSource = dir.path().to_str().unwrap().parse().unwrap();
        assert!(matches!(src, DataSource::Idx(_)));
        let ds = src.load(Split::Train).unwrap();
        assert_eq!(ds.classes(), vec!["no", "yes"]);
        assert_eq!(ds.labels(), vec![1]);
        let e = src.load(Split::Test).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }
}
