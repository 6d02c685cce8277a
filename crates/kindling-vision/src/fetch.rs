//! Downloading torchvision's official weight files to a local cache, with SHA-256 verification.
//!
//! The cache is `$KINDLING_CACHE/weights` when `KINDLING_CACHE` is set, else
//! `$XDG_CACHE_HOME/kindling/weights` or `~/.cache/kindling/weights` ([`cache_dir`]). Files keep torchvision's names (`resnet18-f37072fd.pth`) and are
//! written to a temporary file beside the target, verified, then renamed into place: a failed or
//! corrupted download leaves nothing behind.
//!
//! Verification: torchvision names each file `<arch>-<first 8 hex of its SHA-256>.pth` and
//! itself checks only that prefix (`torch.hub` `check_hash`). Where the full digest is published
//! in several independent public sources it is pinned here and checked in full; otherwise the
//! 8-hex prefix from the file name is checked, exactly as torchvision does.
//!
//! ```no_run
//! use kindling_vision::{Arch, fetch};
//! let spec = fetch::weights_for(Arch::Resnet18, None)?;
//! let path = fetch::fetch(spec, &fetch::cache_dir(), None)?;
//! # Ok::<(), kindling_vision::fetch::FetchError>(())
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Arch;
use crate::weights::tmp_path;

/// The tag of torchvision's original ImageNet weights (the default here).
pub const IMAGENET1K_V1: &str = "IMAGENET1K_V1";
/// The tag of torchvision's improved-recipe ResNet-50/101/152 weights.
pub const IMAGENET1K_V2: &str = "IMAGENET1K_V2";

/// One official torchvision weight file.
///
/// ```
/// use kindling_vision::{Arch, fetch};
/// let spec = fetch::weights_for(Arch::Vgg16, None)?;
/// assert_eq!((spec.tag, spec.file_name(), spec.name_hash_prefix()), ("IMAGENET1K_V1", "vgg16-397923af.pth", "397923af"));
/// # Ok::<(), fetch::FetchError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSpec {
    /// Architecture.
    pub arch: Arch,
    /// torchvision's weights tag (`IMAGENET1K_V1`, `IMAGENET1K_V2`).
    pub tag: &'static str,
    /// Download URL.
    pub url: &'static str,
    /// Full SHA-256 (lowercase hex) where it is known from public sources.
    pub sha256: Option<&'static str>,
}

/// Where torchvision's weight files are served from.
pub const TORCHVISION_BASE_URL: &str = "https://download.pytorch.org/models/";

macro_rules! spec {
    ($arch:ident, $tag:expr, $file:literal, $sha:expr) => {
        WeightsSpec {
            arch: Arch::$arch,
            tag: $tag,
            url: concat!("https://download.pytorch.org/models/", $file),
            sha256: $sha,
        }
    };
}

/// Every torchvision ImageNet weight file for the architectures of this crate.
pub const TORCHVISION_WEIGHTS: &[WeightsSpec] = &[
    spec!(
        Resnet18,
        IMAGENET1K_V1,
        "resnet18-f37072fd.pth",
        Some("f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec")
    ),
    spec!(
        Resnet34,
        IMAGENET1K_V1,
        "resnet34-b627a593.pth",
        Some("b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f")
    ),
    spec!(
        Resnet50,
        IMAGENET1K_V1,
        "resnet50-0676ba61.pth",
        Some("0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a")
    ),
    spec!(
        Resnet50,
        IMAGENET1K_V2,
        "resnet50-11ad3fa6.pth",
        Some("11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca")
    ),
    spec!(
        Resnet101,
        IMAGENET1K_V1,
        "resnet101-63fe2227.pth",
        Some("63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a")
    ),
    spec!(Resnet101, IMAGENET1K_V2, "resnet101-cd907fc2.pth", None),
    spec!(
        Resnet152,
        IMAGENET1K_V1,
        "resnet152-394f9c45.pth",
        Some("394f9c45966e3651a89bbb78a48410a6755854ce4a5ab64927cf1c7247f85e58")
    ),
    spec!(Resnet152, IMAGENET1K_V2, "resnet152-f82ba261.pth", None),
    spec!(Vgg11, IMAGENET1K_V1, "vgg11-8a719046.pth", None),
    spec!(Vgg11Bn, IMAGENET1K_V1, "vgg11_bn-6002323d.pth", None),
    spec!(Vgg13, IMAGENET1K_V1, "vgg13-19584684.pth", None),
    spec!(Vgg13Bn, IMAGENET1K_V1, "vgg13_bn-abd245e5.pth", None),
    spec!(
        Vgg16,
        IMAGENET1K_V1,
        "vgg16-397923af.pth",
        Some("397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0")
    ),
    spec!(Vgg16Bn, IMAGENET1K_V1, "vgg16_bn-6c64b313.pth", None),
    spec!(
        Vgg19,
        IMAGENET1K_V1,
        "vgg19-dcbb9e9d.pth",
        Some("dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44")
    ),
    spec!(Vgg19Bn, IMAGENET1K_V1, "vgg19_bn-c79401a0.pth", None),
];

/// What a downloaded file's SHA-256 must match.
///
/// ```
/// use kindling_vision::fetch::ExpectedHash;
/// assert!(ExpectedHash::Prefix("f37072fd".into()).matches("f37072fd47e8"));
/// assert!(!ExpectedHash::Full("f37072fd".into()).matches("f37072fd47e8"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedHash {
    /// The whole digest (64 lowercase hex digits).
    Full(String),
    /// Its first hex digits (torchvision's file-name check).
    Prefix(String),
}

impl ExpectedHash {
    /// Whether `digest` (lowercase hex) satisfies the expectation.
    pub fn matches(&self, digest: &str) -> bool {
        match self {
            ExpectedHash::Full(h) => digest == h,
            ExpectedHash::Prefix(p) => !p.is_empty() && digest.starts_with(p.as_str()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            ExpectedHash::Full(h) | ExpectedHash::Prefix(h) => h,
        }
    }
}

impl WeightsSpec {
    /// File name in the cache (torchvision's).
    pub fn file_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.url)
    }

    /// The hash prefix embedded in the file name (`resnet18-f37072fd.pth` → `f37072fd`).
    pub fn name_hash_prefix(&self) -> &'static str {
        let stem = self.file_name().split('.').next().unwrap_or("");
        stem.rsplit('-').next().unwrap_or("")
    }

    /// The check applied to the download: the full digest when known, else the name's prefix.
    pub fn expected_hash(&self) -> ExpectedHash {
        match self.sha256 {
            Some(full) => ExpectedHash::Full(full.to_string()),
            None => ExpectedHash::Prefix(self.name_hash_prefix().to_string()),
        }
    }
}

/// Errors of [`fetch`] and [`download_verified`].
///
/// ```
/// use kindling_vision::{Arch, fetch::{self, FetchError}};
/// let err = fetch::weights_for(Arch::Vgg11, Some("IMAGENET1K_V9")).unwrap_err();
/// assert!(matches!(err, FetchError::UnknownTag { .. }));
/// assert_eq!(err.to_string(), "no torchvision weights `IMAGENET1K_V9` for vgg11: available IMAGENET1K_V1");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No torchvision weights with that tag for the architecture.
    #[error("no torchvision weights `{tag}` for {arch}: available {available}")]
    UnknownTag {
        /// Architecture.
        arch: Arch,
        /// Tag asked for.
        tag: String,
        /// Tags that exist.
        available: String,
    },
    /// The HTTP request failed.
    #[error("{url}: download failed: {message}")]
    Http {
        /// URL concerned.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The downloaded bytes do not have the expected SHA-256.
    #[error("{url}: SHA-256 mismatch: expected {expected}, got {actual}; nothing was saved")]
    HashMismatch {
        /// URL concerned.
        url: String,
        /// Expected digest (or prefix).
        expected: String,
        /// Digest of what was received.
        actual: String,
    },
}

/// The weights of `arch` with `tag` (default [`IMAGENET1K_V1`]).
///
/// ```
/// use kindling_vision::{Arch, fetch};
/// let spec = fetch::weights_for(Arch::Resnet50, Some("IMAGENET1K_V2"))?;
/// assert_eq!(spec.file_name(), "resnet50-11ad3fa6.pth");
/// assert!(fetch::weights_for(Arch::Vgg11, Some("IMAGENET1K_V2")).is_err());
/// # Ok::<(), kindling_vision::fetch::FetchError>(())
/// ```
pub fn weights_for(arch: Arch, tag: Option<&str>) -> Result<&'static WeightsSpec, FetchError> {
    let tag = tag.unwrap_or(IMAGENET1K_V1);
    let mut candidates = TORCHVISION_WEIGHTS.iter().filter(|s| s.arch == arch);
    candidates.clone().find(|s| s.tag.eq_ignore_ascii_case(tag)).ok_or_else(|| FetchError::UnknownTag {
        arch,
        tag: tag.to_string(),
        available: candidates.by_ref().map(|s| s.tag).collect::<Vec<_>>().join(", "),
    })
}

/// The weight cache directory: `$KINDLING_CACHE/weights`, else `$XDG_CACHE_HOME/kindling/weights`,
/// else `~/.cache/kindling/weights` (the same as [`crate::pretrained::cache_dir`]).
pub fn cache_dir() -> PathBuf {
    crate::pretrained::cache_dir()
}

/// Where `spec` lives in `cache`, if it was fetched before (not re-verified).
pub fn cached(spec: &WeightsSpec, cache: &Path) -> Option<PathBuf> {
    let path = cache.join(spec.file_name());
    path.is_file().then_some(path)
}

/// Progress callback: bytes received so far and the total when the server announced it.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// Returns the cached, verified file of `spec`, downloading it first when absent or corrupt.
pub fn fetch(spec: &WeightsSpec, cache: &Path, progress: Option<Progress<'_>>) -> Result<PathBuf, FetchError> {
    let dest = cache.join(spec.file_name());
    let expected = spec.expected_hash();
    if dest.is_file() && expected.matches(&sha256_file(&dest)?) {
        return Ok(dest);
    }
    download_verified(spec.url, &dest, &expected, progress)?;
    Ok(dest)
}

/// Downloads `url` to `dest` (creating its directory), verifying its SHA-256 against
/// `expected` before the file appears under its final name.
pub fn download_verified(
    url: &str,
    dest: &Path,
    expected: &ExpectedHash,
    mut progress: Option<Progress<'_>>,
) -> Result<(), FetchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let http = |message: String| FetchError::Http { url: url.to_string(), message };
    let mut response = ureq::get(url).call().map_err(|e| http(e.to_string()))?;
    let total = response.body().content_length();
    let mut reader = response.body_mut().as_reader();

    let tmp = tmp_path(dest);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut received = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| http(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(io(&tmp))?;
            received += n as u64;
            if let Some(p) = progress.as_mut() {
                p(received, total);
            }
        }
        if let Some(total) = total.filter(|&t| t != received) {
            return Err(http(format!("connection closed after {received} of {total} bytes")));
        }
        file.sync_all().map_err(io(&tmp))?;
        let actual = hex(&hasher.finalize());
        if !expected.matches(&actual) {
            return Err(FetchError::HashMismatch {
                url: url.to_string(),
                expected: expected.as_str().to_string(),
                actual,
            });
        }
        std::fs::rename(&tmp, dest).map_err(io(dest))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let io = |source| FetchError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io)?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        for arch in Arch::TORCHVISION {
            let spec = weights_for(arch, None).expect("every arch has V1 weights");
            assert!(spec.file_name().starts_with(&format!("{arch}-")), "{arch}: {}", spec.file_name());
        }
        for spec in TORCHVISION_WEIGHTS {
            assert!(spec.url.starts_with(TORCHVISION_BASE_URL));
            let prefix = spec.name_hash_prefix();
            assert_eq!(prefix.len(), 8, "{}", spec.url);
            assert!(prefix.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            if let Some(full) = spec.sha256 {
                assert_eq!(full.len(), 64, "{}", spec.url);
                assert!(full.starts_with(prefix), "{}: full digest must start with the name's prefix", spec.url);
            }
        }
    }

    #[test]
    fn expected_hash_semantics() {
        assert!(ExpectedHash::Prefix("ab".into()).matches("abcd"));
        assert!(!ExpectedHash::Prefix("".into()).matches("abcd"));
        assert!(!ExpectedHash::Full("ab".into()).matches("abcd"));
        assert!(ExpectedHash::Full("abcd".into()).matches("abcd"));
    }

    #[test]
    fn cache_dir_honours_kindling_cache_shape() {
        let dir = cache_dir();
        assert!(dir.ends_with("weights"), "{}", dir.display());
    }
}
