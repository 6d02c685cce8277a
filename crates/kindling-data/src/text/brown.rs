//! The Brown corpus (form C: `word/tag` tokens), mapped to the universal tagset.

use std::path::{Path, PathBuf};

use kindling_core::{Error, Result};

use super::{UniversalTag, read_file, strict_utf8, text_lines};

/// One token of a tagged sentence.
///
/// ```
/// use kindling_data::text::{TaggedToken, UniversalTag};
/// let t = TaggedToken { word: "Jury".into(), tag: UniversalTag::Noun, raw_tag: "nn-tl".into() };
/// assert_eq!(t.tag.as_str(), "NOUN");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedToken {
    /// The word as written in the corpus.
    pub word: String,
    /// Its universal tag.
    pub tag: UniversalTag,
    /// The corpus's own tag (for Brown, e.g. `nn-tl`).
    pub raw_tag: String,
}

/// A sentence of tagged tokens.
pub type TaggedSentence = Vec<TaggedToken>;

/// `(word, universal tag)` pairs of a sentence.
///
/// ```
/// use kindling_data::text::{parse_brown, UniversalTag};
/// let s = parse_brown(b"\tThe/at dog/nn barked/vbd ./.\n", "x", true)?;
/// let pairs = kindling_data::text::word_tag_pairs(&s[0]);
/// assert_eq!(pairs[1], ("dog", UniversalTag::Noun));
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn word_tag_pairs(sentence: &[TaggedToken]) -> Vec<(&str, UniversalTag)> {
    sentence.iter().map(|t| (t.word.as_str(), t.tag)).collect()
}

/// Parses Brown corpus text: one sentence per non-blank line (paragraphs are separated by blank lines),
/// tokens separated by whitespace, each token `word/tag` split at its **last** `/` (words such as `1/2`
/// contain slashes).
///
/// Raw tags are mapped with [`UniversalTag::from_brown`]. With `strict`, a tag the table does not know is an
/// error naming the line; otherwise it maps to [`UniversalTag::X`] (the raw tag is kept either way). A token
/// without `/`, with an empty word or an empty tag, and invalid UTF-8 are always errors. `origin` names the
/// source in errors.
///
/// ```
/// use kindling_data::text::{parse_brown, UniversalTag};
/// let text = b"\n\n\tHe/pps isn't/bez* 1/2/cd done/vbn ./.\n\n\n\tOK/uh-hl\n";
/// let s = parse_brown(text, "cx01", true)?;
/// assert_eq!(s.len(), 2);
/// assert_eq!(s[0][1].tag, UniversalTag::Verb);
/// assert_eq!((s[0][2].word.as_str(), s[0][2].raw_tag.as_str()), ("1/2", "cd"));
/// let err = parse_brown(b"ok/uh\nbad/zz\n", "cx01", true).unwrap_err();
/// assert_eq!(err.to_string(), "cx01:2: unknown Brown tag `zz` in token `bad/zz`");
/// assert_eq!(parse_brown(b"bad/zz\n", "cx01", false)?[0][0].tag, UniversalTag::X);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn parse_brown(bytes: &[u8], origin: impl AsRef<Path>, strict: bool) -> Result<Vec<TaggedSentence>> {
    let origin = origin.as_ref();
    let text = strict_utf8(bytes, origin)?;
    let mut sentences = Vec::new();
    for (line_no, line) in text_lines(text) {
        let mut sentence = Vec::new();
        for token in line.split_whitespace() {
            let bad = |msg: String| Error::format(origin, Some(line_no), msg);
            let (word, raw) = token.rsplit_once('/').ok_or_else(|| bad(format!("token `{token}` has no `/tag`")))?;
            if word.is_empty() || raw.is_empty() {
                return Err(bad(format!("token `{token}` needs a word and a tag around its last `/`")));
            }
            let tag = match UniversalTag::from_brown(raw) {
                Some(t) => t,
                None if strict => return Err(bad(format!("unknown Brown tag `{raw}` in token `{token}`"))),
                None => UniversalTag::X,
            };
            sentence.push(TaggedToken { word: word.to_string(), tag, raw_tag: raw.to_string() });
        }
        if !sentence.is_empty() {
            sentences.push(sentence);
        }
    }
    Ok(sentences)
}

/// Reads one Brown corpus file (see [`parse_brown`]).
pub fn read_brown(path: impl AsRef<Path>, strict: bool) -> Result<Vec<TaggedSentence>> {
    let path = path.as_ref();
    parse_brown(&read_file(path)?, path, strict)
}

/// Whether a file name is a Brown corpus text (`ca01` ... `cr09`: `c`, a genre letter `a`-`r`, two digits).
pub(crate) fn is_brown_file_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 4 && b[0] == b'c' && (b'a'..=b'r').contains(&b[1]) && b[2].is_ascii_digit() && b[3].is_ascii_digit()
}

/// Reads every Brown text of a directory (`ca01` ... `cr09`, in name order), skipping the other files
/// (`README`, `CONTENTS`, `cats.txt`, `package.json`...). Returns the sentences of all files in order, and the
/// file each came from.
///
/// ```no_run
/// let (sentences, files) = kindling_data::text::read_brown_dir("data/brown", true)?;
/// assert_eq!(sentences.len(), files.len());
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn read_brown_dir(dir: impl AsRef<Path>, strict: bool) -> Result<(Vec<TaggedSentence>, Vec<PathBuf>)> {
    let (mut sentences, mut sources) = (Vec::new(), Vec::new());
    for p in brown_files(dir.as_ref())? {
        let file_sentences = read_brown(&p, strict)?;
        sources.extend(std::iter::repeat_n(p, file_sentences.len()));
        sentences.extend(file_sentences);
    }
    Ok((sentences, sources))
}

/// The Brown texts of a directory, in name order (an error when there are none).
fn brown_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(is_brown_file_name))
        .collect();
    if paths.is_empty() {
        return Err(Error::format(dir, None, "no Brown corpus files (ca01 ... cr09) in this directory"));
    }
    paths.sort();
    Ok(paths)
}

/// Brown corpus text as running prose (for language modelling): the tags dropped, the tokens joined
/// by spaces except before closing punctuation (`, . ; : ! ? ) ]`) and after `(` `[`, the corpus's
/// `` `` `` and `''` quotes written `"` against the words they enclose, `--` as an em dash `—`
/// (the Moby-Dick convention), sentences of a paragraph on one line and paragraphs apart by a blank
/// line. Errors as [`parse_brown`] for tokens without a tag; `origin` names the source.
///
/// ```
/// let text = b"\n\tHe/pps said/vbd ``/`` no/at ''/'' ,/, then/rb left/vbd --/-- fast/rb ./.\nOK/uh ./.\n\n\tBye/uh (/( now/rb )/) ./.\n";
/// let prose = kindling_data::text::brown_running_text(text, "cx01")?;
/// assert_eq!(prose, "He said \"no\", then left—fast. OK.\n\nBye (now).");
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn brown_running_text(bytes: &[u8], origin: impl AsRef<Path>) -> Result<String> {
    let origin = origin.as_ref();
    let text = strict_utf8(bytes, origin)?;
    let mut paragraphs: Vec<String> = Vec::new();
    let (mut para, mut glue) = (String::new(), true);
    for (line_no, line) in text_lines(text) {
        if line.trim().is_empty() {
            if !para.is_empty() {
                paragraphs.push(std::mem::take(&mut para));
            }
            glue = true;
            continue;
        }
        for token in line.split_whitespace() {
            let word = match token.rsplit_once('/') {
                Some((w, tag)) if !w.is_empty() && !tag.is_empty() => w,
                _ => {
                    return Err(Error::format(
                        origin,
                        Some(line_no),
                        format!("token `{token}` has no `word/tag` form"),
                    ));
                }
            };
            let closing = word.chars().all(|c| ",.;:!?)]".contains(c));
            let (text, space_before, glue_after) = match word {
                "``" => ("\"", true, true),
                "''" => ("\"", false, false),
                "--" => ("—", false, true),
                "(" | "[" => (word, true, true),
                _ if closing => (word, false, false),
                _ => (word, true, false),
            };
            if space_before && !glue {
                para.push(' ');
            }
            para.push_str(text);
            glue = glue_after;
        }
    }
    if !para.is_empty() {
        paragraphs.push(para);
    }
    Ok(paragraphs.join("\n\n"))
}

/// Every Brown text of a directory as running prose ([`brown_running_text`]), files in name order,
/// apart by a blank line: ≈ 6.0 M characters for the whole corpus.
///
/// ```no_run
/// let prose = kindling_data::text::read_brown_text_dir("data/brown")?;
/// assert!(prose.starts_with("The Fulton County Grand Jury said Friday"));
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn read_brown_text_dir(dir: impl AsRef<Path>) -> Result<String> {
    let mut texts = Vec::new();
    for p in brown_files(dir.as_ref())? {
        let t = brown_running_text(&read_file(&p)?, &p)?;
        if !t.is_empty() {
            texts.push(t);
        }
    }
    Ok(texts.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt_err(e: &Error) -> (String, Option<usize>) {
        match e {
            Error::Format { path, line, .. } => (path.display().to_string(), *line),
            other => panic!("expected a format error, got {other}"),
        }
    }

    #[test]
    fn token_without_tag_names_file_and_line() {
        let e = parse_brown(b"\n\tThe/at dog/nn\n\n\tbarked ./.\n", "ck99", true).unwrap_err();
        assert_eq!(fmt_err(&e), ("ck99".into(), Some(4)));
        assert!(e.to_string().contains("`barked` has no `/tag`"), "{e}");
        for bad in ["/nn", "word/"] {
            let e = parse_brown(bad.as_bytes(), "f", false).unwrap_err();
            assert_eq!(fmt_err(&e), ("f".into(), Some(1)), "{bad}");
        }
    }

    #[test]
    fn unknown_tag_strict_errors_lenient_maps_to_x() {
        let text = b"a/at\n\nb/qq-hl c/nn\n";
        let e = parse_brown(text, "cz01", true).unwrap_err();
        assert_eq!(fmt_err(&e), ("cz01".into(), Some(3)));
        let s = parse_brown(text, "cz01", false).unwrap();
        assert_eq!(s[1][0].tag, UniversalTag::X);
        assert_eq!(s[1][0].raw_tag, "qq-hl");
        assert_eq!(s[1][1].tag, UniversalTag::Noun);
    }

    #[test]
    fn invalid_utf8_names_line() {
        let e = parse_brown(b"a/at\nb\xe9/nn\n", "cz02", false).unwrap_err();
        assert_eq!(fmt_err(&e), ("cz02".into(), Some(2)));
    }

    #[test]
    fn running_text_joins_paragraphs_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cb02"), "\tB/np .../... !/.\n").unwrap();
        std::fs::write(dir.path().join("ca01"), "\tA/at x/nn\n\n\n\t[/( y/nn ]/) ;/. ``/`` z/nn ''/''\n").unwrap();
        std::fs::write(dir.path().join("README"), "not/a/brown file at all").unwrap();
        assert_eq!(read_brown_text_dir(dir.path()).unwrap(), "A x\n\n[y]; \"z\"\n\nB...!");
        let e = brown_running_text(b"a/at\n\nb c/nn\n", "cz03").unwrap_err();
        assert_eq!(fmt_err(&e), ("cz03".into(), Some(3)));
        assert_eq!(brown_running_text(b"\n\n", "cz04").unwrap(), "");
    }

    #[test]
    fn directory_reader_skips_non_corpus_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cb02"), "\tB/np ./.\n").unwrap();
        std::fs::write(dir.path().join("ca01"), "\tA/at x/nn\n\n\tY/uh\n").unwrap();
        for junk in ["README", "cats.txt", "package.json", "CONTENTS", "cs01", "ca1"] {
            std::fs::write(dir.path().join(junk), "not/a/brown file at all").unwrap();
        }
        let (s, files) = read_brown_dir(dir.path(), true).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[2][0].word, "B");
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["ca01", "ca01", "cb02"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(read_brown_dir(empty.path(), true).unwrap_err(), Error::Format { line: None, .. }));
    }
}
