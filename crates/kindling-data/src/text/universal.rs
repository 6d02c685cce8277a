//! The 12 universal part-of-speech tags and the Brown → universal mapping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The universal part-of-speech tagset of Petrov, Das & McDonald (2012), "A Universal Part-of-Speech
/// Tagset" (arXiv:1104.2086). [`UniversalTag::index`] follows [`UniversalTag::ALL`].
///
/// ```
/// use kindling_data::text::UniversalTag;
/// assert_eq!(UniversalTag::from_brown("nn-tl"), Some(UniversalTag::Noun));
/// assert_eq!(UniversalTag::from_brown("bez*"), Some(UniversalTag::Verb));
/// assert_eq!(UniversalTag::from_brown("fw-nn"), Some(UniversalTag::X));
/// assert_eq!(UniversalTag::from_brown("zz"), None);
/// assert_eq!(UniversalTag::Punct.to_string(), ".");
/// assert_eq!("ADP".parse::<UniversalTag>(), Ok(UniversalTag::Adp));
/// assert_eq!(UniversalTag::ALL[UniversalTag::Verb.index()], UniversalTag::Verb);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UniversalTag {
    /// Nouns (common and proper).
    Noun,
    /// Verbs (all tenses and modes), auxiliaries included.
    Verb,
    /// Adjectives.
    Adj,
    /// Adverbs.
    Adv,
    /// Pronouns.
    Pron,
    /// Determiners and articles.
    Det,
    /// Adpositions (prepositions and postpositions).
    Adp,
    /// Cardinal numbers.
    Num,
    /// Conjunctions.
    Conj,
    /// Particles and other function words.
    Prt,
    /// Punctuation (written `.`).
    Punct,
    /// Other: foreign words, typos, abbreviations.
    X,
}

impl UniversalTag {
    /// All tags, in index order.
    pub const ALL: [UniversalTag; 12] = [
        UniversalTag::Noun,
        UniversalTag::Verb,
        UniversalTag::Adj,
        UniversalTag::Adv,
        UniversalTag::Pron,
        UniversalTag::Det,
        UniversalTag::Adp,
        UniversalTag::Num,
        UniversalTag::Conj,
        UniversalTag::Prt,
        UniversalTag::Punct,
        UniversalTag::X,
    ];

    /// Position in [`UniversalTag::ALL`] (a class index for taggers).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The tag's name as written in the tagset (`NOUN`, ..., `.`, `X`).
    pub fn as_str(self) -> &'static str {
        match self {
            UniversalTag::Noun => "NOUN",
            UniversalTag::Verb => "VERB",
            UniversalTag::Adj => "ADJ",
            UniversalTag::Adv => "ADV",
            UniversalTag::Pron => "PRON",
            UniversalTag::Det => "DET",
            UniversalTag::Adp => "ADP",
            UniversalTag::Num => "NUM",
            UniversalTag::Conj => "CONJ",
            UniversalTag::Prt => "PRT",
            UniversalTag::Punct => ".",
            UniversalTag::X => "X",
        }
    }

    /// Maps a raw Brown corpus tag (any case) to its universal tag, or `None` for an unknown tag.
    ///
    /// The table reproduces Petrov et al.'s `en-brown.map`: suffixes `-hl` (headline), `-tl` (title), `-nc`
    /// (cited word) and their truncations `-t`/`-n` are removed first (`nn-tl-hl` → `nn`), foreign words
    /// `fw-*` are `X`, and a negated form (`bez*`, `md*`, `wrb+dod*`) maps like its positive form. Contractions
    /// (`ppss+md`, `nn+bez`...) follow the official table, mostly `PRT`.
    pub fn from_brown(raw: &str) -> Option<Self> {
        let lower = raw.to_ascii_lowercase();
        let mut tag = lower.as_str();
        while let Some(stripped) = ["-hl", "-tl", "-nc", "-t", "-n"].iter().find_map(|s| tag.strip_suffix(s)) {
            tag = stripped;
        }
        if tag.starts_with("fw-") {
            return Some(UniversalTag::X);
        }
        brown_base(tag).or_else(|| {
            tag.strip_suffix('*').filter(|t| t.ends_with(|c: char| c.is_ascii_alphabetic())).and_then(brown_base)
        })
    }
}

/// Base Brown tags (suffixes and negation removed) → universal tag.
fn brown_base(tag: &str) -> Option<UniversalTag> {
    use UniversalTag::*;
    Some(match tag {
        "'" | "''" | "(" | ")" | "," | "--" | "." | ":" | "``" => Punct,
        "*" | "ql" | "qlp" | "rb" | "rb+cs" | "rbr" | "rbr+cs" | "rbt" | "rn" | "wql" | "wrb" => Adv,
        "abx" | "at" | "dt" | "dt$" | "dti" | "dts" | "dtx" | "pp$" | "wdt" | "wp$" => Det,
        "ap" | "ap+ap" | "jj" | "jj+jj" | "jjr" | "jjr+cs" | "jjs" | "jjt" | "od" => Adj,
        "be" | "bed" | "bedz" | "beg" | "bem" | "ben" | "ber" | "bez" | "do" | "dod" | "doz" | "hv" | "hv+to"
        | "hvd" | "hvg" | "hvn" | "hvz" | "md" | "md+hv" | "md+ppss" | "md+to" | "vb" | "vb+at" | "vb+in" | "vb+jj"
        | "vb+ppo" | "vb+rp" | "vb+to" | "vb+vb" | "vbd" | "vbg" | "vbg+to" | "vbn" | "vbn+to" | "vbz" => Verb,
        "cc" => Conj,
        "cd" => Num,
        "cd$" | "nn" | "nn$" | "nn+in" | "nn+nn" | "nns" | "nns$" | "np" | "np$" | "nps" | "nps$" | "nr" | "nr$"
        | "nrs" | "pn" | "pn$" => Noun,
        "cs" | "in" | "in+in" | "in+ppo" => Adp,
        "pp$$" | "ppl" | "ppls" | "ppo" | "pps" | "ppss" | "wpo" | "wps" => Pron,
        "do+ppss" | "nil" | "wdt+ber+pp" | "wdt+do+pps" => X,
        "abl" | "abn" | "ap$" | "dt+bez" | "dt+md" | "dts+bez" | "ex" | "ex+bez" | "ex+hvd" | "ex+hvz" | "ex+md"
        | "jj$" | "nn+bez" | "nn+hvd" | "nn+hvz" | "nn+md" | "nns+md" | "np+bez" | "np+hvz" | "np+md" | "nr+md"
        | "pn+bez" | "pn+hvd" | "pn+hvz" | "pn+md" | "pps+bez" | "pps+hvd" | "pps+hvz" | "pps+md" | "ppss+bem"
        | "ppss+ber" | "ppss+bez" | "ppss+hv" | "ppss+hvd" | "ppss+md" | "ppss+vb" | "rb$" | "rb+bez" | "rp"
        | "rp+in" | "to" | "to+vb" | "uh" | "wdt+ber" | "wdt+bez" | "wdt+dod" | "wdt+hvz" | "wps+bez" | "wps+hvd"
        | "wps+hvz" | "wps+md" | "wrb+ber" | "wrb+bez" | "wrb+do" | "wrb+dod" | "wrb+doz" | "wrb+in" | "wrb+md" => Prt,
        _ => return None,
    })
}

impl fmt::Display for UniversalTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UniversalTag {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        UniversalTag::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| format!("unknown universal tag `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UniversalTag::*;

    #[test]
    fn official_table_samples() {
        // Entries checked against en-brown.map (Petrov et al.), including its idiosyncrasies.
        for (raw, tag) in [
            ("at", Det),
            ("ABN-HL", Prt),
            ("ap$", Prt),
            ("jj$-tl", Prt),
            ("cs", Adp),
            ("*", Adv),
            ("*-hl", Adv),
            ("---hl", Punct),
            ("(-hl", Punct),
            ("ppss+ber-n", Prt),
            ("fw-in+at-t", X),
            ("fw-*-tl", X),
            ("do+ppss", X),
            ("nil", X),
            ("nn+in", Noun),
            ("cd$", Noun),
            ("md*-hl", Verb),
            ("ppss+bez*", Prt),
            ("wrb+dod*", Prt),
            ("pp$$", Pron),
            ("nr-tl-hl", Noun),
        ] {
            assert_eq!(UniversalTag::from_brown(raw), Some(tag), "{raw}");
        }
    }

    #[test]
    fn unknown_tags_are_none() {
        for raw in ["", "-hl", "**", "nnx", "vb+zz", "x*"] {
            assert_eq!(UniversalTag::from_brown(raw), None, "{raw}");
        }
    }

    #[test]
    fn names_roundtrip() {
        for t in UniversalTag::ALL {
            assert_eq!(t.as_str().parse::<UniversalTag>(), Ok(t));
        }
        assert!("noun".parse::<UniversalTag>().is_err());
    }
}
