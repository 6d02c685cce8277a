//! `kindling seq`: recurrent sequence models, one subcommand per mode.

mod classify;
mod common;
mod tag;
mod translate;

use clap::{Args, Subcommand};

use crate::CliResult;

/// Arguments of `kindling seq`.
#[derive(Args)]
pub struct SeqArgs {
    #[command(subcommand)]
    command: SeqCommand,
}

#[derive(Subcommand)]
enum SeqCommand {
    /// Many-to-one: classify whole sequences (sentence sentiment, JapaneseVowels speakers).
    Classify(classify::ClassifyArgs),
    /// Synced many-to-many: tag every token (Brown part of speech, universal tagset).
    Tag(tag::TagArgs),
    /// Many-to-many: encoder-decoder with attention (CMUdict grapheme-to-phoneme, TSV pairs).
    Translate(translate::TranslateArgs),
}

/// Runs `kindling seq`.
pub fn run(args: SeqArgs) -> CliResult {
    match args.command {
        SeqCommand::Classify(a) => classify::run(a),
        SeqCommand::Tag(a) => tag::run(a),
        SeqCommand::Translate(a) => translate::run(a),
    }
}
