//! Sentence-level sentiment files: `id<TAB>valence<TAB>text` (the VADER ground-truth format).

use std::path::Path;

use kindling_core::{Error, Result};

use super::{Decoding, in_holdout, raw_lines, read_file};

/// One rated sentence.
///
/// ```
/// use kindling_data::text::SentimentExample;
/// let e = SentimentExample { id: "7".into(), valence: -1.2, text: "Dull.".into() };
/// assert_eq!(e.polarity(0.5), Some(0));
/// assert_eq!(e.polarity(1.5), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentExample {
    /// The file's id for the sentence (unique within a file only).
    pub id: String,
    /// Mean human rating, from -4 (very negative) to +4 (very positive) in the VADER files.
    pub valence: f32,
    /// The sentence.
    pub text: String,
}

impl SentimentExample {
    /// Binary label: `1` when `valence >= threshold`, `0` when `valence <= -threshold`, `None` in between
    /// (too close to neutral to call).
    pub fn polarity(&self, threshold: f32) -> Option<usize> {
        if self.valence >= threshold {
            Some(1)
        } else if self.valence <= -threshold {
            Some(0)
        } else {
            None
        }
    }
}

/// A text with a class label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledText {
    /// The text.
    pub text: String,
    /// Class index (for sentiment: 0 negative, 1 positive).
    pub label: usize,
}

/// Parses a sentiment TSV: one `id<TAB>valence<TAB>text` per line (CRLF or LF, blank lines skipped; the text
/// may itself contain tabs). `decoding` says how non-UTF-8 lines are treated; `origin` names the source in
/// errors.
///
/// ```
/// use kindling_data::text::{parse_sentiment, Decoding};
/// let rows = parse_sentiment(b"1\t2.5\tGreat fun.\r\n2\t-3\tAwful.\r\n", "reviews.tsv", Decoding::StrictUtf8)?;
/// assert_eq!(rows.len(), 2);
/// assert_eq!((rows[1].id.as_str(), rows[1].valence), ("2", -3.0));
/// let err = parse_sentiment(b"1\t2.5\tok\n2\tgood\tbad\n", "reviews.tsv", Decoding::StrictUtf8).unwrap_err();
/// assert_eq!(err.to_string(), "reviews.tsv:2: valence `good` is not a finite number");
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn parse_sentiment(bytes: &[u8], origin: impl AsRef<Path>, decoding: Decoding) -> Result<Vec<SentimentExample>> {
    let origin = origin.as_ref();
    let mut out = Vec::new();
    for (line_no, raw) in raw_lines(bytes) {
        let line = decoding.decode_line(raw, origin, line_no)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Error::format(origin, Some(line_no), msg);
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let [id, valence, text] = fields[..] else {
            return Err(bad(format!("expected 3 tab-separated fields (id, valence, text), found {}", fields.len())));
        };
        let value: f32 = valence
            .trim()
            .parse()
            .ok()
            .filter(|v: &f32| v.is_finite())
            .ok_or_else(|| bad(format!("valence `{valence}` is not a finite number")))?;
        if text.trim().is_empty() {
            return Err(bad("empty text field".into()));
        }
        out.push(SentimentExample { id: id.to_string(), valence: value, text: text.to_string() });
    }
    Ok(out)
}

/// Reads a sentiment TSV file (see [`parse_sentiment`]).
pub fn read_sentiment(path: impl AsRef<Path>, decoding: Decoding) -> Result<Vec<SentimentExample>> {
    let path = path.as_ref();
    parse_sentiment(&read_file(path)?, path, decoding)
}

/// Binary examples: label = sign of the valence, dropping sentences with `|valence| < threshold`
/// (0.5 is a sensible choice for the VADER files, whose ratings run from -4 to 4).
///
/// ```
/// use kindling_data::text::{binarize, samples};
/// let data = binarize(&samples::sentiment()?, 0.5);
/// assert_eq!(data.len(), 600);
/// assert_eq!(data.iter().filter(|d| d.label == 1).count(), 300);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn binarize(examples: &[SentimentExample], threshold: f32) -> Vec<LabeledText> {
    examples
        .iter()
        .filter_map(|e| e.polarity(threshold).map(|label| LabeledText { text: e.text.clone(), label }))
        .collect()
}

/// Splits labelled texts into `(train, test)` with [`in_holdout`] on the text: deterministic for a seed,
/// independent of order and of the other items, and duplicate sentences never straddle the split.
/// Both parts keep the input order.
///
/// ```
/// use kindling_data::text::{binarize, samples, split_by_text};
/// let data = binarize(&samples::sentiment()?, 0.5);
/// let (train, test) = split_by_text(data.clone(), 0.2, 7);
/// assert_eq!(train.len() + test.len(), data.len());
/// assert_eq!(split_by_text(data, 0.2, 7).1, test);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn split_by_text(items: Vec<LabeledText>, test_fraction: f64, seed: u64) -> (Vec<LabeledText>, Vec<LabeledText>) {
    let (test, train): (Vec<_>, Vec<_>) = items.into_iter().partition(|t| in_holdout(&t.text, test_fraction, seed));
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(e: &Error) -> Option<usize> {
        match e {
            Error::Format { line, .. } => *line,
            other => panic!("expected a format error, got {other}"),
        }
    }

    #[test]
    fn missing_field_names_line() {
        let e = parse_sentiment(b"1\t1.0\tfine\r\n\r\n3\t2.0\r\n", "s.tsv", Decoding::default()).unwrap_err();
        assert_eq!(line_of(&e), Some(3));
        assert_eq!(e.to_string(), "s.tsv:3: expected 3 tab-separated fields (id, valence, text), found 2");
        let e = parse_sentiment(b"1\t1.0\t  \n", "s.tsv", Decoding::default()).unwrap_err();
        assert!(e.to_string().contains("empty text"), "{e}");
        let e = parse_sentiment(b"1\tNaN\tx\n", "s.tsv", Decoding::default()).unwrap_err();
        assert_eq!(line_of(&e), Some(1));
    }

    #[test]
    fn latin1_fallback_and_strict_mode() {
        let bytes = b"1\t1.5\tok\r\n2\t-2\tna\xefve \x93plot\x94\r\n";
        let rows = parse_sentiment(bytes, "a.tsv", Decoding::Utf8OrWindows1252).unwrap();
        assert_eq!(rows[1].text, "na\u{ef}ve \u{201c}plot\u{201d}");
        let e = parse_sentiment(bytes, "a.tsv", Decoding::StrictUtf8).unwrap_err();
        assert_eq!(line_of(&e), Some(2));
        assert!(e.to_string().starts_with("a.tsv:2: invalid UTF-8"), "{e}");
    }

    #[test]
    fn tabs_inside_text_are_kept() {
        let rows = parse_sentiment(b"x\t0.7\ta\tb\n", "t", Decoding::StrictUtf8).unwrap();
        assert_eq!(rows[0].text, "a\tb");
    }

    #[test]
    fn polarity_threshold_is_inclusive() {
        let e = |v| SentimentExample { id: String::new(), valence: v, text: "t".into() };
        assert_eq!(e(0.5).polarity(0.5), Some(1));
        assert_eq!(e(-0.5).polarity(0.5), Some(0));
        assert_eq!(e(0.49).polarity(0.5), None);
        assert_eq!(e(0.0).polarity(0.0), Some(1));
    }

    #[test]
    fn split_keeps_duplicates_together() {
        let items: Vec<LabeledText> =
            (0..200).map(|i| LabeledText { text: format!("s{}", i % 50), label: i % 2 }).collect();
        let (train, test) = split_by_text(items, 0.3, 3);
        assert!(!test.is_empty() && !train.is_empty());
        for t in &test {
            assert!(train.iter().all(|r| r.text != t.text));
        }
    }
}
