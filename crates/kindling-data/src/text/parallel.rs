//! Parallel (translation-style) text: `source<TAB>target` per line.

use std::path::Path;

use kindling_core::{Error, Result};

use super::{read_file, strict_utf8, text_lines};

/// A source sentence and its target.
///
/// ```
/// use kindling_data::text::ParallelPair;
/// let p = ParallelPair { source: "Go.".into(), target: "Va !".into() };
/// assert_eq!(p.target, "Va !");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelPair {
    /// Source side.
    pub source: String,
    /// Target side.
    pub target: String,
}

/// Parses parallel text (UTF-8): one `source<TAB>target` per line, CRLF or LF, blank lines skipped. Columns
/// after the second (such as the attribution column of Tatoeba/Anki exports) are ignored. A line without a
/// tab, or with an empty source or target, is an error naming the line.
///
/// ```
/// use kindling_data::text::parse_parallel;
/// let pairs = parse_parallel(b"Hi.\tSalut.\nRun!\tCours !\tCC-BY 2.0\n", "fra.txt")?;
/// assert_eq!(pairs[1].target, "Cours !");
/// let err = parse_parallel(b"Hi.\tSalut.\nno tab here\n", "fra.txt").unwrap_err();
/// assert_eq!(err.to_string(), "fra.txt:2: expected `source<TAB>target`, found no tab");
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn parse_parallel(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Vec<ParallelPair>> {
    let origin = origin.as_ref();
    let text = strict_utf8(bytes, origin)?;
    let mut pairs = Vec::new();
    for (line_no, line) in text_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: &str| Error::format(origin, Some(line_no), msg);
        let mut fields = line.split('\t');
        let source = fields.next().unwrap_or_default();
        let target = fields.next().ok_or_else(|| bad("expected `source<TAB>target`, found no tab"))?;
        if source.trim().is_empty() || target.trim().is_empty() {
            return Err(bad("empty source or target"));
        }
        pairs.push(ParallelPair { source: source.to_string(), target: target.to_string() });
    }
    Ok(pairs)
}

/// Reads a parallel TSV file (see [`parse_parallel`]).
pub fn read_parallel(path: impl AsRef<Path>) -> Result<Vec<ParallelPair>> {
    let path = path.as_ref();
    parse_parallel(&read_file(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_blank_lines_and_errors() {
        let pairs = parse_parallel(b"a\tb\r\n\r\nc d\te f\r\n", "p.tsv").unwrap();
        assert_eq!(
            pairs,
            vec![
                ParallelPair { source: "a".into(), target: "b".into() },
                ParallelPair { source: "c d".into(), target: "e f".into() },
            ]
        );
        let e = parse_parallel(b"a\tb\n\t x\n", "p.tsv").unwrap_err();
        assert!(matches!(&e, Error::Format { line: Some(2), .. }), "{e}");
        let e = parse_parallel(b"a\tb\nc\td\n\xff\tz\n", "p.tsv").unwrap_err();
        assert!(matches!(&e, Error::Format { line: Some(3), .. }), "{e}");
    }

    #[test]
    fn reads_from_disk_and_names_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.tsv");
        std::fs::write(&p, "x\ty\n").unwrap();
        assert_eq!(read_parallel(&p).unwrap().len(), 1);
        let missing = dir.path().join("nope.tsv");
        assert!(matches!(read_parallel(&missing).unwrap_err(), Error::Io { path, .. } if path == missing));
    }
}
