//! Small real corpora compiled into the crate: no path, no network.
//!
//! Cut by `scripts/data/cut_text_samples.py` (see `embedded/text/README.md` for sources and licenses):
//!
//! | sample | content |
//! |---|---|
//! | [`sentiment`] | 624 movie-review sentences (VADER ground truth): 300 positive, 300 negative, 24 near-neutral |
//! | [`brown`] | 5 Brown corpus files (news, learned, fiction, adventure, humor): 627 sentences, 11,650 tokens |
//! | [`cmudict`] | 3,245 CMUdict pronunciations of 3,023 words |
//! | [`moby_dick`] | the first 59,981 bytes of Moby-Dick |
//!
//! ```
//! use kindling_data::text::samples;
//! assert_eq!(samples::brown()?.len(), 627);
//! assert!(samples::moby_dick().starts_with("CHAPTER 1. Loomings."));
//! # Ok::<(), kindling_core::Error>(())
//! ```

use std::path::{Path, PathBuf};

use kindling_core::Result;

use super::{CmuDict, Decoding, SentimentExample, TaggedSentence, parse_brown, parse_sentiment};

fn origin(name: &str) -> PathBuf {
    Path::new("<embedded>").join("text").join(name)
}

/// Names of the embedded Brown files, in the order [`brown`] reads them.
pub const BROWN_FILES: [&str; 5] = ["ca01", "cj01", "ck01", "cn01", "cr01"];

const BROWN_TEXTS: [&[u8]; 5] = [
    include_bytes!("../../embedded/text/brown/ca01"),
    include_bytes!("../../embedded/text/brown/cj01"),
    include_bytes!("../../embedded/text/brown/ck01"),
    include_bytes!("../../embedded/text/brown/cn01"),
    include_bytes!("../../embedded/text/brown/cr01"),
];

/// The raw bytes of the embedded movie-review sentiment TSV (CRLF, UTF-8).
pub fn sentiment_bytes() -> &'static [u8] {
    include_bytes!("../../embedded/text/movie-reviews-sample.tsv")
}

/// The embedded movie-review sentences with their valence (see [`super::binarize`] for labels).
pub fn sentiment() -> Result<Vec<SentimentExample>> {
    parse_sentiment(sentiment_bytes(), origin("movie-reviews-sample.tsv"), Decoding::StrictUtf8)
}

/// The raw text of one embedded Brown file (`ca01`, `cj01`, `ck01`, `cn01` or `cr01`).
pub fn brown_file(name: &str) -> Option<&'static [u8]> {
    BROWN_FILES.iter().position(|&n| n == name).map(|i| BROWN_TEXTS[i])
}

/// The sentences of the embedded Brown files, in [`BROWN_FILES`] order, read strictly (every tag known).
pub fn brown() -> Result<Vec<TaggedSentence>> {
    let mut out = Vec::new();
    for (name, bytes) in BROWN_FILES.iter().zip(BROWN_TEXTS) {
        out.extend(parse_brown(bytes, origin(&format!("brown/{name}")), true)?);
    }
    Ok(out)
}

/// The embedded CMUdict excerpt (with stress digits; see [`CmuDict::without_stress`]).
pub fn cmudict() -> Result<CmuDict> {
    CmuDict::parse(include_bytes!("../../embedded/text/cmudict-sample.dict"), origin("cmudict-sample.dict"))
}

/// The opening of Moby-Dick (chapters 1 to 3 in part), for character-level language models.
pub fn moby_dick() -> &'static str {
    include_str!("../../embedded/text/moby-dick-start.txt")
}

#[cfg(test)]
mod tests {
    use super::super::{CharVocab, UniversalTag, VocabConfig, binarize, word_tokenize};
    use super::*;

    // Expected values below were counted with Python on the same embedded files (see the crate's
    // embedded/text/README.md), the Brown universal counts with the official en-brown.map.

    #[test]
    fn sentiment_sample_counts() {
        let rows = sentiment().unwrap();
        assert_eq!(rows.len(), 624);
        assert_eq!((rows[0].id.as_str(), rows[0].valence), ("1", 2.266_666_7));
        assert!(rows[0].text.starts_with("The Rock is destined to be the 21st Century's new ''Conan''"));
        assert_eq!(rows[1].text, "Illuminating if overly talky documentary.");
        assert_eq!((rows[623].id.as_str(), rows[623].valence), ("10209", -1.8125));
        assert_eq!(rows.iter().filter(|r| !r.text.is_ascii()).count(), 12);
        let half = binarize(&rows, 0.5);
        assert_eq!(half.len(), 600);
        assert_eq!(half.iter().filter(|r| r.label == 1).count(), 300);
        let one = binarize(&rows, 1.0);
        assert_eq!(one.iter().filter(|r| r.label == 1).count(), 278);
        assert_eq!(one.iter().filter(|r| r.label == 0).count(), 272);
    }

    #[test]
    fn brown_sample_counts_match_official_mapping() {
        let sentences = brown().unwrap();
        assert_eq!(sentences.len(), 627);
        assert_eq!(sentences.iter().map(Vec::len).sum::<usize>(), 11_650);
        let first: Vec<_> = sentences[0][..4].iter().map(|t| (t.word.as_str(), t.raw_tag.as_str(), t.tag)).collect();
        assert_eq!(
            first,
            [
                ("The", "at", UniversalTag::Det),
                ("Fulton", "np-tl", UniversalTag::Noun),
                ("County", "nn-tl", UniversalTag::Noun),
                ("Grand", "jj-tl", UniversalTag::Adj),
            ]
        );
        assert_eq!(sentences[0].len(), 25);
        let mut counts = [0usize; 12];
        for t in sentences.iter().flatten() {
            counts[t.tag.index()] += 1;
        }
        // NOUN VERB ADJ ADV PRON DET ADP NUM CONJ PRT . X
        assert_eq!(counts, [2720, 1934, 640, 572, 570, 1377, 1368, 138, 341, 340, 1647, 3]);
        let per_file: Vec<usize> =
            BROWN_FILES.iter().map(|n| parse_brown(brown_file(n).unwrap(), *n, true).unwrap().len()).collect();
        assert_eq!(per_file, [98, 71, 172, 173, 113]);
    }

    #[test]
    fn cmudict_sample_counts() {
        let d = cmudict().unwrap();
        assert_eq!(d.len(), 3245);
        assert_eq!(d.word_count(), 3023);
        assert_eq!(d.entries().iter().filter(|e| e.variant > 1).count(), 222);
        assert_eq!(d.entries()[0].word, "'bout");
        assert_eq!(d.entries()[0].phonemes, ["B", "AW1", "T"]);
        let aalborg: Vec<_> = d.pronunciations("aalborg").map(|e| e.phonemes.join(" ")).collect();
        assert_eq!(aalborg, ["AO1 L B AO0 R G", "AA1 L B AO0 R G"]);
        assert_eq!(d.phoneme_inventory().len(), 69);
        assert_eq!(d.without_stress().phoneme_inventory().len(), 39);
        let (train, test) = d.split_by_word(0.1, 42);
        assert_eq!(train.len() + test.len(), d.len());
        assert_eq!(train.word_count() + test.word_count(), d.word_count());
        let frac = test.word_count() as f64 / d.word_count() as f64;
        assert!((0.08..0.12).contains(&frac), "{frac}");
    }

    #[test]
    fn moby_dick_sample_counts() {
        let text = moby_dick();
        assert_eq!(text.len(), 59_981);
        assert_eq!(text.chars().count(), 59_725);
        assert_eq!(text.lines().count(), 220);
        let vocab = CharVocab::from_text(text);
        assert_eq!(vocab.len(), 69);
        assert_eq!((vocab.chars()[0], vocab.chars()[68]), ('\n', '—'));
        let ids = vocab.encode(text).unwrap();
        assert_eq!(vocab.decode(&ids).unwrap(), text);
    }

    #[test]
    fn sentiment_vocab_matches_python_count() {
        let rows = sentiment().unwrap();
        let toks = word_tokenize(&rows[0].text);
        assert_eq!(toks[..6], ["the", "rock", "is", "destined", "to", "be"]);
        assert!(toks.contains(&"century's".to_string()));
        let sentences: Vec<Vec<String>> = rows.iter().map(|r| word_tokenize(&r.text)).collect();
        assert_eq!(sentences.iter().map(Vec::len).sum::<usize>(), 13_611);
        assert_eq!(VocabConfig::new().build(&sentences).len(), 4 + 3819);
        let vocab = VocabConfig::new().with_min_freq(2).build(&sentences);
        assert_eq!(vocab.len(), 4 + 1229);
        assert_eq!(vocab.tokens()[4..12], [".", "the", ",", "a", "and", "of", "to", "is"]);
        let capped = VocabConfig::new().with_min_freq(2).with_max_size(Some(100)).build(&sentences);
        assert_eq!(capped.tokens(), &vocab.tokens()[..100]);
    }
}
