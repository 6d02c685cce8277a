//! Text corpora and vocabularies.
//!
//! Readers (each gives [`kindling_core::Error::Format`] naming the file and 1-based line on malformed input):
//!
//! | format | reader | item |
//! |---|---|---|
//! | sentiment TSV `id<TAB>valence<TAB>text` | [`read_sentiment`] | [`SentimentExample`] |
//! | Brown corpus `word/tag` | [`read_brown`], [`read_brown_dir`] | [`TaggedSentence`] of [`TaggedToken`] |
//! | Brown corpus as prose | [`read_brown_text_dir`], [`brown_running_text`] | `String` (language modelling) |
//! | CMU Pronouncing Dictionary | [`CmuDict::read`] | [`CmuEntry`] |
//! | parallel TSV `source<TAB>target` | [`read_parallel`] | [`ParallelPair`] |
//! | plain UTF-8 text | [`read_text`] | `String` (+ [`CharVocab`]) |
//!
//! Vocabularies: [`Vocab`] (words, with `<pad>`/`<unk>`/`<bos>`/`<eos>`, built by [`VocabConfig`]) and
//! [`CharVocab`]; [`word_tokenize`] is the simple tokenizer used for sentiment. [`samples`] gives the small
//! corpora compiled into the crate; [`in_holdout`] is the hash split shared by the split helpers.
//!
//! ```
//! use kindling_data::text::{samples, word_tokenize, VocabConfig};
//! let reviews = samples::sentiment()?;
//! let sentences = reviews.iter().map(|r| word_tokenize(&r.text));
//! let vocab = VocabConfig::new().with_min_freq(2).build(sentences);
//! assert_eq!(vocab.encode(&["the", "zzzunseen"]), vec![vocab.id("the"), kindling_data::text::UNK]);
//! # Ok::<(), kindling_core::Error>(())
//! ```

use std::borrow::Cow;
use std::path::Path;

use kindling_core::{Error, Result, derive_seed};

mod brown;
mod cmudict;
mod parallel;
mod plain;
pub mod samples;
mod sentiment;
mod universal;
mod vocab;

pub use brown::{
    TaggedSentence, TaggedToken, brown_running_text, parse_brown, read_brown, read_brown_dir, read_brown_text_dir,
    word_tag_pairs,
};
pub use cmudict::{CmuDict, CmuEntry};
pub use parallel::{ParallelPair, parse_parallel, read_parallel};
pub use plain::{CharVocab, parse_text, read_text};
pub use sentiment::{LabeledText, SentimentExample, binarize, parse_sentiment, read_sentiment, split_by_text};
pub use universal::UniversalTag;
pub use vocab::{BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocab, VocabConfig, word_tokenize};

/// How the bytes of a line-oriented text file are turned into text.
///
/// ```
/// use kindling_data::text::Decoding;
/// // 0x93/0x94 are curly quotes in Windows-1252, invalid alone in UTF-8.
/// let line = Decoding::Utf8OrWindows1252.decode_line(b"\x93hi\x94", "f.txt", 1)?;
/// assert_eq!(line, "\u{201c}hi\u{201d}");
/// let err = Decoding::StrictUtf8.decode_line(b"\x93hi\x94", "f.txt", 7).unwrap_err();
/// assert!(err.to_string().starts_with("f.txt:7: invalid UTF-8"));
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decoding {
    /// Each line is decoded as UTF-8 when it is valid UTF-8, otherwise as Windows-1252 (a superset of
    /// printable Latin-1), so older corpora read without loss.
    #[default]
    Utf8OrWindows1252,
    /// Every line must be valid UTF-8; the first invalid one is an error naming its line.
    StrictUtf8,
}

impl Decoding {
    /// Decodes one line (without its line terminator); `origin` and 1-based `line` name it in errors.
    pub fn decode_line<'a>(self, bytes: &'a [u8], origin: impl AsRef<Path>, line: usize) -> Result<Cow<'a, str>> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e) => match self {
                Decoding::Utf8OrWindows1252 => Ok(Cow::Owned(decode_windows_1252(bytes))),
                Decoding::StrictUtf8 => Err(Error::format(
                    origin,
                    Some(line),
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
                )),
            },
        }
    }
}

/// Windows-1252 code points of bytes 0x80..=0x9F (the WHATWG table: the five unassigned bytes map to
/// the C1 control with the same value); bytes from 0xA0 up are Latin-1.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes Windows-1252 bytes (never fails: every byte has a character).
///
/// ```
/// assert_eq!(kindling_data::text::decode_windows_1252(b"caf\xe9 \x80"), "café €");
/// ```
pub fn decode_windows_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// Whether `key` falls in the held-out part of a deterministic hash split.
///
/// The key is hashed with the seed ([`kindling_core::derive_seed`]) to a number in `[0, 1)`; the key is
/// held out when that number is below `fraction`. Because it depends on the key alone, the split of an item
/// does not change when other items are added or removed, and equal keys (duplicate sentences, all the
/// pronunciations of one word) always land on the same side.
///
/// ```
/// use kindling_data::text::in_holdout;
/// let held = (0..10_000).filter(|i| in_holdout(&i.to_string(), 0.1, 42)).count();
/// assert!((900..1100).contains(&held));
/// assert_eq!(in_holdout("whale", 0.1, 42), in_holdout("whale", 0.1, 42));
/// ```
pub fn in_holdout(key: &str, fraction: f64, seed: u64) -> bool {
    let unit = (derive_seed(seed, key) >> 11) as f64 / (1u64 << 53) as f64;
    unit < fraction
}

/// Reads a whole file, mapping I/O errors to [`Error::Io`] naming it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Splits bytes into lines (`\n`, with a trailing `\r` removed), numbered from 1.
pub(crate) fn raw_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    body.split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

/// Splits text into lines (`\n`, with a trailing `\r` removed), numbered from 1.
pub(crate) fn text_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n').filter(move |_| !empty).enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// Checks that `bytes` is UTF-8, or names the 1-based line of the first invalid byte.
pub(crate) fn strict_utf8<'a>(bytes: &'a [u8], origin: &Path) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let col = at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
        Error::format(origin, Some(line), format!("invalid UTF-8 at byte {col} of the line"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines_handle_crlf_and_missing_final_newline() {
        let l: Vec<_> = raw_lines(b"a\r\nb\n\nc").collect();
        assert_eq!(l, vec![(1, &b"a"[..]), (2, &b"b"[..]), (3, &b""[..]), (4, &b"c"[..])]);
        assert_eq!(raw_lines(b"a\n").count(), 1);
        assert_eq!(raw_lines(b"").count(), 0);
    }

    #[test]
    fn strict_utf8_names_line_and_column() {
        let e = strict_utf8(b"ok\nfine\nab\xffc\n", Path::new("x.txt")).unwrap_err();
        assert!(matches!(&e, Error::Format { line: Some(3), .. }), "{e}");
        assert_eq!(e.to_string(), "x.txt:3: invalid UTF-8 at byte 3 of the line");
    }

    #[test]
    fn windows_1252_covers_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let s = decode_windows_1252(&all);
        assert_eq!(s.chars().count(), 256);
        assert_eq!(s.chars().nth(0x92), Some('\u{2019}'));
        assert_eq!(s.chars().nth(0xE9), Some('é'));
    }

    #[test]
    fn holdout_fraction_edges() {
        assert!(!in_holdout("a", 0.0, 1));
        assert!(in_holdout("a", 1.0, 1));
    }
}
