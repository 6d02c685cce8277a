//! `kindling seq`: recurrent sequence models, one subcommand per mode.

mod classify;
mod common;
mod tag;

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
}

/// Runs `kindling seq`.
pub fn run(args: SeqArgs) -> CliResult {
    match args.command {
        SeqCommand::Classify(a) => classify::run(a),
        SeqCommand::Tag(a) => tag::run(a),
    }
}
