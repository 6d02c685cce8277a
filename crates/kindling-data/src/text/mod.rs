//! Text corpora and vocabularies.
