//! IDX files (the MNIST format), plain or gzipped.

use std::io::Read;
use std::path::Path;

use kindling_core::{Error, Result};

/// Element type of an IDX file (the third byte of its magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// `0x08`, unsigned byte.
    U8,
    /// `0x09`, signed byte.
    I8,
    /// `0x0B`, big-endian i16.
    I16,
    /// `0x0C`, big-endian i32.
    I32,
    /// `0x0D`, big-endian f32.
    F32,
    /// `0x0E`, big-endian f64.
    F64,
}

impl IdxType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// An IDX array: its shape, element type and raw big-endian payload.
///
/// ```
/// use kindling_data::idx::IdxArray;
/// // magic 0x00000801 (u8, 1 dim), 3 items
/// let bytes = [0u8, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9];
/// let a = IdxArray::parse(&bytes, "labels.idx")?;
/// assert_eq!(a.dims, vec![3]);
/// assert_eq!(a.as_u8(), Some(&[7u8, 8, 9][..]));
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// Element type.
    pub dtype: IdxType,
    /// Raw payload (big-endian for multi-byte types).
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Reads an IDX file; gzip compression is detected from the file's first bytes.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&raw, path)
    }

    /// Parses IDX bytes (gzipped or not); `origin` names the source in errors.
    pub fn parse(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Self> {
        let origin = origin.as_ref();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| Error::format(origin, None, format!("corrupt gzip stream: {e}")))?;
            return Self::parse_plain(&out, origin);
        }
        Self::parse_plain(bytes, origin)
    }

    fn parse_plain(bytes: &[u8], origin: &Path) -> Result<Self> {
        let bad = |m: String| Error::format(origin, None, m);
        if bytes.len() < 4 {
            return Err(bad(format!("file is {} bytes, too short for an IDX header", bytes.len())));
        }
        if bytes[0] != 0 || bytes[1] != 0 {
            return Err(bad(format!(
                "wrong magic number {:02x}{:02x}{:02x}{:02x}: IDX files start with two zero bytes",
                bytes[0], bytes[1], bytes[2], bytes[3]
            )));
        }
        let dtype =
            IdxType::from_code(bytes[2]).ok_or_else(|| bad(format!("unknown IDX element type 0x{:02x}", bytes[2])))?;
        let ndims = bytes[3] as usize;
        if ndims == 0 {
            return Err(bad("IDX header declares zero dimensions".into()));
        }
        let header = 4 + 4 * ndims;
        if bytes.len() < header {
            return Err(bad(format!("truncated header: {ndims} dimensions need {header} bytes")));
        }
        let dims: Vec<usize> =
            bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
        let expected = dims
            .iter()
            .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
        let payload = &bytes[header..];
        if payload.len() != expected {
            let what = if payload.len() < expected { "truncated" } else { "trailing bytes" };
            return Err(bad(format!(
                "{what}: dimensions {dims:?} need {expected} payload bytes, found {}",
                payload.len()
            )));
        }
        Ok(IdxArray { dims, dtype, data: payload.to_vec() })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Whether the array holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload as bytes when the element type is `u8`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        (self.dtype == IdxType::U8).then_some(self.data.as_slice())
    }

    /// All elements converted to `f32`.
    pub fn to_f32(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            IdxType::U8 => d.iter().map(|&b| f32::from(b)).collect(),
            IdxType::I8 => d.iter().map(|&b| f32::from(b as i8)).collect(),
            IdxType::I16 => d.chunks_exact(2).map(|c| f32::from(i16::from_be_bytes([c[0], c[1]]))).collect(),
            IdxType::I32 => d.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
            IdxType::F32 => d.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(),
            IdxType::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_dim_u8() {
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend([1, 2, 3, 4]);
        let a = IdxArray::parse(&b, "x").unwrap();
        assert_eq!(a.dims, vec![2, 1, 2]);
        assert_eq!(a.to_f32(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn parses_big_endian_f32() {
        let mut b = vec![0, 0, 0x0D, 1, 0, 0, 0, 1];
        b.extend(1.5f32.to_be_bytes());
        assert_eq!(IdxArray::parse(&b, "x").unwrap().to_f32(), vec![1.5]);
    }

    #[test]
    fn wrong_magic_is_typed_error() {
        let e = IdxArray::parse(&[1, 2, 8, 1, 0, 0, 0, 0], "bad.idx").unwrap_err();
        assert!(matches!(&e, Error::Format { path, .. } if path.ends_with("bad.idx")), "{e}");
        assert!(e.to_string().contains("magic"), "{e}");
    }

    #[test]
    fn truncated_payload_is_typed_error() {
        let e = IdxArray::parse(&[0, 0, 8, 1, 0, 0, 0, 5, 1, 2], "t.idx").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = IdxArray::parse(&[0, 0, 8, 2, 0, 0], "t.idx").unwrap_err();
        assert!(e.to_string().contains("truncated header"), "{e}");
    }

    #[test]
    fn unknown_type_is_typed_error() {
        let e = IdxArray::parse(&[0, 0, 0x42, 1, 0, 0, 0, 0], "t.idx").unwrap_err();
        assert!(e.to_string().contains("0x42"), "{e}");
    }

    #[test]
    fn corrupt_gzip_is_typed_error() {
        let e = IdxArray::parse(&[0x1f, 0x8b, 8, 0, 1, 2, 3], "t.gz").unwrap_err();
        assert!(matches!(e, Error::Format { .. }));
    }
}
