//! The `kindling` command-line tool.
//!
//! Minimal entry point for the vision commands (`predict`, `weights`); the lead merges the other
//! subcommands into it.

mod predict;
mod weights;

use clap::{Parser, Subcommand};

/// Kindling: transfer learning and classic deep-learning models on burn.
#[derive(Debug, Parser)]
#[command(name = "kindling", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify images (or a normalised input tensor) with a VGG or ResNet; one JSON object per line.
    Predict(predict::PredictArgs),
    /// Fetch or list torchvision's official weight files.
    Weights(weights::WeightsArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Predict(args) => predict::run(args),
        Command::Weights(args) => weights::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
