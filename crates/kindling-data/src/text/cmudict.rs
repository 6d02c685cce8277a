//! The CMU Pronouncing Dictionary (`word PH1 PH2 ...`).

use std::collections::BTreeSet;
use std::path::Path;

use kindling_core::{Error, Result};

use super::{in_holdout, read_file, strict_utf8, text_lines};

/// One pronunciation.
///
/// ```
/// use kindling_data::text::CmuEntry;
/// let e = CmuEntry { word: "tomato".into(), variant: 2, phonemes: vec!["T".into(), "AH0".into()] };
/// assert_eq!(e.without_stress().phonemes, ["T", "AH"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmuEntry {
    /// The headword, without its `(N)` suffix.
    pub word: String,
    /// 1 for the first pronunciation, `N` for an alternate written `word(N)`.
    pub variant: usize,
    /// ARPAbet phonemes; vowels carry a stress digit (0, 1, 2) unless stripped.
    pub phonemes: Vec<String>,
}

impl CmuEntry {
    /// The entry with stress digits removed (`AH0` → `AH`).
    pub fn without_stress(&self) -> Self {
        let phonemes = self.phonemes.iter().map(|p| p.trim_end_matches(|c: char| c.is_ascii_digit()).to_string());
        CmuEntry { word: self.word.clone(), variant: self.variant, phonemes: phonemes.collect() }
    }
}

/// A pronouncing dictionary in file order.
///
/// ```
/// use kindling_data::text::CmuDict;
/// let text = ";;; comment\nread R EH1 D\nread(2) R IY1 D\ntomato T AH0 M EY1 T OW2 # common\n";
/// let dict = CmuDict::parse(text.as_bytes(), "dict")?;
/// assert_eq!(dict.len(), 3);
/// assert_eq!(dict.entries()[1].variant, 2);
/// assert_eq!(dict.pronunciations("read").count(), 2);
/// assert_eq!(dict.without_stress().phoneme_inventory()[..3], ["AH", "D", "EH"]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CmuDict {
    entries: Vec<CmuEntry>,
}

fn is_phoneme(p: &str) -> bool {
    let letters = p.trim_end_matches(['0', '1', '2']);
    !letters.is_empty() && letters.len() + 1 >= p.len() && letters.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_comment_line(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with(";;;") || (t.starts_with('#') && t[1..].chars().next().is_none_or(|c| c.is_whitespace() || c == '#'))
}

impl CmuDict {
    /// A dictionary from entries.
    pub fn from_entries(entries: Vec<CmuEntry>) -> Self {
        CmuDict { entries }
    }

    /// Parses dictionary text (UTF-8): one `word PH1 PH2 ...` per line, alternates as `word(2)`, blank lines,
    /// `;;;` comment lines (cmudict 0.7) and `# ...` comments (whole lines, or after the phonemes) ignored.
    /// A headword may itself start with `#` when no space follows (`#hash-mark`). A word without phonemes, a
    /// malformed `(N)` or a phoneme that is not ARPAbet-shaped (capitals plus an optional stress digit 0-2)
    /// is an error naming the line.
    pub fn parse(bytes: &[u8], origin: impl AsRef<Path>) -> Result<Self> {
        let origin = origin.as_ref();
        let text = strict_utf8(bytes, origin)?;
        let mut entries = Vec::new();
        for (line_no, line) in text_lines(text) {
            if line.trim().is_empty() || is_comment_line(line) {
                continue;
            }
            let bad = |msg: String| Error::format(origin, Some(line_no), msg);
            let mut tokens = line.split_whitespace();
            let head = tokens.next().unwrap_or_default();
            let (word, variant) = match head.strip_suffix(')').and_then(|h| h.rsplit_once('(')) {
                Some((w, n)) => {
                    let n = n.parse::<usize>().ok().filter(|&n| n >= 1 && !w.is_empty());
                    (w, n.ok_or_else(|| bad(format!("bad alternate marker in `{head}`: expected word(N), N >= 1")))?)
                }
                None => (head, 1),
            };
            let phonemes: Vec<String> = tokens.take_while(|t| !t.starts_with('#')).map(str::to_string).collect();
            if phonemes.is_empty() {
                return Err(bad(format!("`{word}` has no phonemes")));
            }
            if let Some(p) = phonemes.iter().find(|p| !is_phoneme(p)) {
                return Err(bad(format!("`{p}` is not an ARPAbet phoneme (capitals, optional stress 0-2)")));
            }
            entries.push(CmuEntry { word: word.to_string(), variant, phonemes });
        }
        Ok(CmuDict { entries })
    }

    /// Reads a dictionary file (see [`CmuDict::parse`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::parse(&read_file(path)?, path)
    }

    /// All entries in file order.
    pub fn entries(&self) -> &[CmuEntry] {
        &self.entries
    }

    /// Number of pronunciations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of distinct headwords.
    pub fn word_count(&self) -> usize {
        self.entries.iter().map(|e| e.word.as_str()).collect::<BTreeSet<_>>().len()
    }

    /// The pronunciations of `word` (exact match), in file order.
    pub fn pronunciations<'a>(&'a self, word: &'a str) -> impl Iterator<Item = &'a CmuEntry> + 'a {
        self.entries.iter().filter(move |e| e.word == word)
    }

    /// The dictionary with stress digits removed from every phoneme.
    pub fn without_stress(&self) -> Self {
        CmuDict { entries: self.entries.iter().map(CmuEntry::without_stress).collect() }
    }

    /// The distinct phonemes, sorted.
    pub fn phoneme_inventory(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.entries.iter().flat_map(|e| e.phonemes.iter().map(String::as_str)).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Splits into `(train, test)` by headword with [`super::in_holdout`]: all pronunciations of a word land
    /// on the same side, about `test_fraction` of the words are held out, and the split is the same for a
    /// seed whatever else the dictionary holds. Both parts keep file order.
    pub fn split_by_word(&self, test_fraction: f64, seed: u64) -> (CmuDict, CmuDict) {
        let (test, train): (Vec<_>, Vec<_>) =
            self.entries.iter().cloned().partition(|e| in_holdout(&e.word, test_fraction, seed));
        (CmuDict { entries: train }, CmuDict { entries: test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_line(text: &str) -> (Option<usize>, String) {
        match CmuDict::parse(text.as_bytes(), "d.dict").unwrap_err() {
            Error::Format { line, message, .. } => (line, message),
            other => panic!("expected a format error, got {other}"),
        }
    }

    #[test]
    fn comments_and_hash_words() {
        let d = CmuDict::parse(b"# header\n## more\n;;; old\n#hash-mark HH AE1 SH\nab AE1 B # note\n\n", "d").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.entries()[0].word, "#hash-mark");
        assert_eq!(d.entries()[1].phonemes, ["AE1", "B"]);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        assert_eq!(err_line("a AH0\nb\n").0, Some(2));
        assert!(err_line("a AH0\nb\n").1.contains("no phonemes"));
        assert_eq!(err_line("a AH0\n\nb # only comment\n").0, Some(3));
        let (line, msg) = err_line("a(x) AH0\n");
        assert_eq!(line, Some(1));
        assert!(msg.contains("word(N)"), "{msg}");
        assert_eq!(err_line("a(0) AH0\n").0, Some(1));
        assert_eq!(err_line("a AH0\nb ah0\n").0, Some(2));
        assert_eq!(err_line("a AH3\n").0, Some(1));
        assert_eq!(err_line("a AH01\n").0, Some(1));
    }

    #[test]
    fn invalid_utf8_names_line() {
        let e = CmuDict::parse(b"a AH0\nb\xe9 B\n", "d.dict").unwrap_err();
        assert!(matches!(e, Error::Format { line: Some(2), .. }), "{e}");
    }

    #[test]
    fn split_keeps_alternates_together() {
        let text: String = (0..300).map(|i| format!("w{i} AH0\nw{i}(2) AH1\n")).collect();
        let d = CmuDict::parse(text.as_bytes(), "d").unwrap();
        let (train, test) = d.split_by_word(0.1, 5);
        assert_eq!(train.len() + test.len(), 600);
        assert!((10..60).contains(&test.word_count()), "{}", test.word_count());
        for e in test.entries() {
            assert_eq!(test.pronunciations(&e.word).count(), 2);
            assert_eq!(train.pronunciations(&e.word).count(), 0);
        }
        assert_eq!(d.split_by_word(0.1, 5).1, test);
        assert_ne!(d.split_by_word(0.1, 6).1, test);
    }
}
