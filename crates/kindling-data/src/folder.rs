//! torchvision-style `ImageFolder`: `root/<class>/<image>`.

use std::path::{Path, PathBuf};

use burn::data::dataset::{Dataset, DatasetError};
use kindling_core::{Error, Result};

use crate::images::ImageItem;
use crate::transform::open_image;

/// File extensions accepted as images (lower-case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// Images laid out as `root/<class>/<file>.{jpg,jpeg,png}`.
///
/// Classes are the sub-folder names sorted like torchvision (byte-wise); files within a
/// class are sorted too, so indices are stable. Images are decoded on [`Dataset::get`].
///
/// ```no_run
/// use kindling_data::ImageFolder;
/// use burn::data::dataset::Dataset;
/// let ds = ImageFolder::new("data/flowers/train")?;
/// println!("{} images in {} classes", ds.len(), ds.classes().len());
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    items: Vec<(PathBuf, usize)>,
}

impl ImageFolder {
    /// Scans `root`. Errors when it is unreadable or holds no class folder with images.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let mut classes: Vec<String> = read_dir_sorted(&root)?
            .into_iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        classes.sort();
        let mut items = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            for file in read_dir_sorted(&root.join(class))? {
                let ext = file.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
                if file.is_file() && ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
                    items.push((file, label));
                }
            }
        }
        if items.is_empty() {
            return Err(Error::format(&root, None, "no class folder holding .jpg/.jpeg/.png images"));
        }
        Ok(ImageFolder { root, classes, items })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names (sorted folder names), indexed by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// `(path, label)` of every image, in index order.
    pub fn items(&self) -> &[(PathBuf, usize)] {
        &self.items
    }

    /// Labels in index order.
    pub fn labels(&self) -> Vec<usize> {
        self.items.iter().map(|(_, l)| *l).collect()
    }

    /// A folder dataset holding only `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        ImageFolder {
            root: self.root.clone(),
            classes: self.classes.clone(),
            items: indices.iter().map(|&i| self.items[i].clone()).collect(),
        }
    }

    /// Loads image `index`, with a typed error naming the file if it cannot be decoded.
    pub fn load(&self, index: usize) -> Result<ImageItem> {
        let (path, label) = &self.items[index];
        Ok(ImageItem { image: open_image(path)?, label: *label })
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        out.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

impl Dataset<ImageItem> for ImageFolder {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        self.load(index).map_err(DatasetError::new)
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn classes_sorted_and_images_found() {
        let dir = tempfile::tempdir().unwrap();
        for (class, n) in [("zebra", 2), ("Apple", 1), ("cat", 1)] {
            let d = dir.path().join(class);
            std::fs::create_dir(&d).unwrap();
            for i in 0..n {
                RgbImage::from_pixel(3, 2, Rgb([i as u8, 0, 0])).save(d.join(format!("{i}.png"))).unwrap();
            }
            std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        }
        let ds = ImageFolder::new(dir.path()).unwrap();
        // Byte-wise order, like Python's sorted(): upper case first.
        assert_eq!(ds.classes(), &["Apple", "cat", "zebra"]);
        assert_eq!(ds.labels(), vec![0, 1, 2, 2]);
        let item = ds.get(3).unwrap();
        assert_eq!(item.label, 2);
        assert_eq!(item.image.to_rgb8().get_pixel(0, 0).0, [1, 0, 0]);
    }

    #[test]
    fn empty_and_missing_roots_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(ImageFolder::new(dir.path()), Err(Error::Format { .. })));
        assert!(matches!(ImageFolder::new(dir.path().join("nope")), Err(Error::Io { .. })));
    }

    #[test]
    fn corrupt_image_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/bad.jpg"), b"garbage").unwrap();
        let ds = ImageFolder::new(dir.path()).unwrap();
        let e = ds.load(0).unwrap_err();
        assert!(e.to_string().contains("bad.jpg"), "{e}");
    }
}
