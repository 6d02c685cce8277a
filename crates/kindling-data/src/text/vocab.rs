//! Word vocabularies and the word tokenizer.

use std::collections::HashMap;
use std::path::Path;

use burn::config::Config;
use kindling_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// Id of the padding token `<pad>`.
pub const PAD: usize = 0;
/// Id of the unknown-word token `<unk>`.
pub const UNK: usize = 1;
/// Id of the begin-of-sequence token `<bos>`.
pub const BOS: usize = 2;
/// Id of the end-of-sequence token `<eos>`.
pub const EOS: usize = 3;
/// The special tokens, in id order: they open every [`Vocab`].
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<unk>", "<bos>", "<eos>"];

/// How a [`Vocab`] is built from a corpus.
///
/// ```
/// use kindling_data::text::VocabConfig;
/// let corpus = [vec!["b", "a", "b", "c"], vec!["a", "b"]];
/// let vocab = VocabConfig::new().with_min_freq(2).build(corpus);
/// // specials, then by frequency (b: 3, a: 2); c (1) is below min_freq.
/// assert_eq!(vocab.tokens()[4..], ["b", "a"]);
/// ```
#[derive(Config, Debug, PartialEq, Eq)]
pub struct VocabConfig {
    /// Tokens seen fewer times than this are left out (they encode to `<unk>`).
    #[config(default = 1)]
    pub min_freq: usize,
    /// Largest vocabulary size, the four special tokens included; `None` for no limit.
    #[config(default = "None")]
    pub max_size: Option<usize>,
}

impl VocabConfig {
    /// Counts the tokens of `sentences` and keeps the most frequent ones.
    ///
    /// Order is deterministic: the special tokens, then frequency descending, ties broken by byte-wise
    /// lexicographic order. Tokens equal to a special token are not added twice.
    pub fn build<S, T>(&self, sentences: impl IntoIterator<Item = S>) -> Vocab
    where
        S: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for sentence in sentences {
            for token in sentence {
                let token = token.as_ref();
                match counts.get_mut(token) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(token.to_string(), 1);
                    }
                }
            }
        }
        let mut ranked: Vec<(String, usize)> =
            counts.into_iter().filter(|(t, c)| *c >= self.min_freq && !SPECIAL_TOKENS.contains(&t.as_str())).collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let room = self.max_size.map_or(usize::MAX, |m| m.saturating_sub(SPECIAL_TOKENS.len()));
        let tokens = SPECIAL_TOKENS.iter().map(|s| s.to_string()).chain(ranked.into_iter().take(room).map(|(t, _)| t));
        Vocab::from_tokens_unchecked(tokens.collect())
    }
}

/// A word vocabulary: `<pad>`=0, `<unk>`=1, `<bos>`=2, `<eos>`=3, then the corpus tokens.
///
/// Saved as JSON `{"tokens": [...]}` (the tokens in id order).
///
/// ```
/// use kindling_data::text::{Vocab, VocabConfig, BOS, EOS, UNK};
/// let vocab = VocabConfig::new().build([["the", "whale"], ["the", "sea"]]);
/// assert_eq!(vocab.len(), 7);
/// let ids = vocab.encode(&["the", "kraken"]);
/// assert_eq!(ids, vec![4, UNK]);
/// assert_eq!(vocab.decode(&ids), vec!["the", "<unk>"]);
/// assert_eq!(vocab.encode_with_bounds(&["sea"]), vec![BOS, vocab.id("sea"), EOS]);
/// let back = Vocab::from_json(&vocab.to_json(), "vocab.json")?;
/// assert_eq!(back, vocab);
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VocabFile", into = "VocabFile")]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, usize>,
}

#[derive(Serialize, Deserialize)]
struct VocabFile {
    tokens: Vec<String>,
}

impl From<Vocab> for VocabFile {
    fn from(v: Vocab) -> Self {
        VocabFile { tokens: v.tokens }
    }
}

impl TryFrom<VocabFile> for Vocab {
    type Error = Error;

    fn try_from(f: VocabFile) -> Result<Self> {
        Vocab::from_tokens(f.tokens)
    }
}

impl Vocab {
    /// A vocabulary from tokens in id order; they must start with [`SPECIAL_TOKENS`] and hold no duplicate
    /// ([`Error::Config`] otherwise).
    pub fn from_tokens(tokens: Vec<String>) -> Result<Self> {
        if tokens.len() < SPECIAL_TOKENS.len() || tokens[..SPECIAL_TOKENS.len()] != SPECIAL_TOKENS {
            return Err(Error::Config(format!("a vocabulary must start with {SPECIAL_TOKENS:?}")));
        }
        let vocab = Self::from_tokens_unchecked(tokens);
        if vocab.index.len() != vocab.tokens.len() {
            let mut seen = std::collections::HashSet::new();
            let dup = vocab.tokens.iter().find(|t| !seen.insert(t.as_str())).cloned().unwrap_or_default();
            return Err(Error::Config(format!("duplicate token {dup:?}")));
        }
        Ok(vocab)
    }

    fn from_tokens_unchecked(tokens: Vec<String>) -> Self {
        let index = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        Vocab { tokens, index }
    }

    /// Number of tokens, the special tokens included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always `false`: a vocabulary holds at least the special tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// All tokens in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn get(&self, token: &str) -> Option<usize> {
        self.index.get(token).copied()
    }

    /// The id of `token`, [`UNK`] when it is unknown.
    pub fn id(&self, token: &str) -> usize {
        self.get(token).unwrap_or(UNK)
    }

    /// The token of `id`, if in range.
    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).map(String::as_str)
    }

    /// Ids of `tokens` (unknown tokens give [`UNK`]).
    pub fn encode<T: AsRef<str>>(&self, tokens: &[T]) -> Vec<usize> {
        tokens.iter().map(|t| self.id(t.as_ref())).collect()
    }

    /// Like [`Vocab::encode`], between [`BOS`] and [`EOS`].
    pub fn encode_with_bounds<T: AsRef<str>>(&self, tokens: &[T]) -> Vec<usize> {
        let mut ids = Vec::with_capacity(tokens.len() + 2);
        ids.push(BOS);
        ids.extend(tokens.iter().map(|t| self.id(t.as_ref())));
        ids.push(EOS);
        ids
    }

    /// Tokens of `ids`; an id out of range gives `<unk>`.
    pub fn decode(&self, ids: &[usize]) -> Vec<&str> {
        ids.iter().map(|&i| self.token(i).unwrap_or(SPECIAL_TOKENS[UNK])).collect()
    }

    /// The vocabulary as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&VocabFile { tokens: self.tokens.clone() }).unwrap_or_default()
    }

    /// Parses JSON written by [`Vocab::to_json`]; `origin` names the source in errors.
    pub fn from_json(json: &str, origin: impl AsRef<Path>) -> Result<Self> {
        serde_json::from_str(json)
            .map_err(|e| Error::format(origin, Some(e.line()).filter(|&l| l > 0), format!("bad vocabulary: {e}")))
    }

    /// Writes the vocabulary as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| Error::io(path, e))
    }

    /// Reads a vocabulary written by [`Vocab::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }
}

/// Splits text into lowercase word tokens.
///
/// A word is a run of letters and digits; an apostrophe (`'` or `’`) between two letters/digits stays inside
/// the word ("don't", "o'clock"). Every other non-space character (punctuation, symbols, quotes, hyphens) is a
/// token of its own. Lowercasing is Unicode-aware.
///
/// ```
/// use kindling_data::text::word_tokenize;
/// assert_eq!(word_tokenize("Don't stop -- it's GREAT!"), ["don't", "stop", "-", "-", "it's", "great", "!"]);
/// assert_eq!(word_tokenize("''Conan'' 2.5"), ["'", "'", "conan", "'", "'", "2", ".", "5"]);
/// ```
pub fn word_tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            continue;
        }
        let inner_apostrophe =
            (c == '\'' || c == '\u{2019}') && !word.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if inner_apostrophe {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_frequency_then_lexicographic() {
        let v = VocabConfig::new().build([vec!["b", "c", "a", "c"], vec!["b", "d"]]);
        assert_eq!(v.tokens()[..4], SPECIAL_TOKENS);
        assert_eq!(v.tokens()[4..], ["b", "c", "a", "d"]);
        assert_eq!(v.id("c"), 5);
    }

    #[test]
    fn max_size_counts_specials() {
        let v = VocabConfig::new().with_max_size(Some(6)).build([["x", "y", "y", "z", "z", "z"]]);
        assert_eq!(v.len(), 6);
        assert_eq!(v.tokens()[4..], ["z", "y"]);
        assert_eq!(v.id("x"), UNK);
        let tiny = VocabConfig::new().with_max_size(Some(2)).build([["x"]]);
        assert_eq!(tiny.len(), 4, "specials are never dropped");
    }

    #[test]
    fn special_tokens_in_corpus_are_not_duplicated() {
        let v = VocabConfig::new().build([["<unk>", "a", "<pad>"]]);
        assert_eq!(v.len(), 5);
        assert_eq!(v.id("<unk>"), UNK);
    }

    #[test]
    fn decode_out_of_range_is_unk() {
        let v = VocabConfig::new().build([["a"]]);
        assert_eq!(v.decode(&[4, 99, PAD]), ["a", "<unk>", "<pad>"]);
    }

    #[test]
    fn save_load_roundtrip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let v = VocabConfig::new().build([["héllo", "wörld", "héllo"]]);
        let p = dir.path().join("vocab.json");
        v.save(&p).unwrap();
        assert_eq!(Vocab::load(&p).unwrap(), v);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"tokens\": [\"<pad>\", \"<unk>\"]}").unwrap();
        let e = Vocab::load(&bad).unwrap_err();
        assert!(matches!(&e, Error::Format { path, line: None, .. } if path == &bad), "{e}");
        assert!(e.to_string().contains("must start with"), "{e}");
        std::fs::write(&bad, "{\"tokens\": [\"<pad>\", \"<unk>\", \"<bos>\", \"<eos>\", \"a\",\n \"a\"]}").unwrap();
        let e = Vocab::load(&bad).unwrap_err();
        assert!(e.to_string().contains("duplicate token \"a\""), "{e}");
        std::fs::write(&bad, "{\"tokens\": \n\n[1, 2]}").unwrap();
        assert!(matches!(Vocab::load(&bad).unwrap_err(), Error::Format { line: Some(3), .. }));
        assert!(matches!(Vocab::load(dir.path().join("missing.json")).unwrap_err(), Error::Io { .. }));
    }

    #[test]
    fn tokenizer_keeps_inner_apostrophes_only() {
        assert_eq!(
            word_tokenize("'em rock 'n' roll, y'all’s"),
            ["'", "em", "rock", "'", "n", "'", "roll", ",", "y'all’s"]
        );
        assert_eq!(word_tokenize("  Émile  ZOLA\t"), ["émile", "zola"]);
        assert!(word_tokenize(" \r\n").is_empty());
    }
}
