//! Plain UTF-8 text and character vocabularies (character-level language modelling).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use kindling_core::{Error, Result};
use serde::{Deserialize, Serialize};

use super::{read_file, strict_utf8};

/// Checks that `bytes` is UTF-8 and returns the text; invalid UTF-8 is an error naming the line.
///
/// ```
/// let text = kindling_data::text::parse_text(b"Call me Ishmael.\n", "moby.txt")?;
/// assert_eq!(text.len(), 17);
/// let err = kindling_data::text::parse_text(b"ok\n\xff\n", "moby.txt").unwrap_err();
/// assert_eq!(err.to_string(), "moby.txt:2: invalid UTF-8 at byte 1 of the line");
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn parse_text(bytes: &[u8], origin: impl AsRef<Path>) -> Result<String> {
    Ok(strict_utf8(bytes, origin.as_ref())?.to_string())
}

/// Reads a UTF-8 text file (see [`parse_text`]).
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    parse_text(&read_file(path)?, path)
}

/// A character vocabulary: the distinct characters of a text, sorted by code point; ids are positions.
///
/// Saved as JSON `{"chars": "..."}`.
///
/// ```
/// use kindling_data::text::CharVocab;
/// let v = CharVocab::from_text("hello");
/// assert_eq!(v.len(), 4); // e h l o
/// let ids = v.encode("hole")?;
/// assert_eq!(ids, vec![1, 3, 2, 0]);
/// assert_eq!(v.decode(&ids)?, "hole");
/// assert!(v.encode("help").is_err()); // 'p' is unknown
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CharVocabFile", into = "CharVocabFile")]
pub struct CharVocab {
    chars: Vec<char>,
    index: HashMap<char, usize>,
}

#[derive(Serialize, Deserialize)]
struct CharVocabFile {
    chars: String,
}

impl From<CharVocab> for CharVocabFile {
    fn from(v: CharVocab) -> Self {
        CharVocabFile { chars: v.chars.iter().collect() }
    }
}

impl TryFrom<CharVocabFile> for CharVocab {
    type Error = Error;

    fn try_from(f: CharVocabFile) -> Result<Self> {
        let chars: Vec<char> = f.chars.chars().collect();
        let v = CharVocab::from_chars(chars);
        if v.index.len() != v.chars.len() {
            return Err(Error::Config("duplicate character in vocabulary".into()));
        }
        Ok(v)
    }
}

impl CharVocab {
    /// The vocabulary of the characters occurring in `text`.
    pub fn from_text(text: &str) -> Self {
        let set: BTreeSet<char> = text.chars().collect();
        Self::from_chars(set.into_iter().collect())
    }

    fn from_chars(chars: Vec<char>) -> Self {
        let index = chars.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        CharVocab { chars, index }
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty (built from empty text).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if known.
    pub fn id(&self, c: char) -> Option<usize> {
        self.index.get(&c).copied()
    }

    /// Ids of the characters of `text`; a character outside the vocabulary is an [`Error::Config`].
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.id(c).ok_or_else(|| Error::Config(format!("character {c:?} (at {i}) not in vocabulary")))
            })
            .collect()
    }

    /// The text of `ids`; an id out of range is an [`Error::Config`].
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        ids.iter()
            .map(|&i| {
                self.chars.get(i).copied().ok_or_else(|| {
                    Error::Config(format!("character id {i} out of range for {} characters", self.len()))
                })
            })
            .collect()
    }

    /// The vocabulary as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses JSON written by [`CharVocab::to_json`]; `origin` names the source in errors.
    pub fn from_json(json: &str, origin: impl AsRef<Path>) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            Error::format(origin, Some(e.line()).filter(|&l| l > 0), format!("bad character vocabulary: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_roundtrip_with_unicode() {
        let v = CharVocab::from_text("naïve — “quoted”\n");
        let back = CharVocab::from_json(&v.to_json(), "c.json").unwrap();
        assert_eq!(back, v);
        assert_eq!(v.chars()[0], '\n');
        let e = CharVocab::from_json("{\"chars\": \"aa\"}", "c.json").unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn decode_out_of_range_is_error() {
        let v = CharVocab::from_text("ab");
        assert!(matches!(v.decode(&[0, 2]).unwrap_err(), Error::Config(_)));
    }

    #[test]
    fn read_text_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, b"line one\nline two \xc3\n").unwrap();
        let e = read_text(&p).unwrap_err();
        assert!(matches!(&e, Error::Format { path, line: Some(2), .. } if path == &p), "{e}");
    }
}
