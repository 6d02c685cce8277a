//! `kindling`: the Kindling command-line tool.
//!
//! Run `kindling --help` for the list of commands.

mod data;
mod extract;
mod fit_head;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Error type of every command.
pub type CliResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Kindling: CNNs, transfer learning, classical heads on CNN features and recurrent models in Rust.
#[derive(Parser)]
#[command(name = "kindling", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect datasets (embedded samples, IDX folders, ImageFolder trees).
    Data(data::DataArgs),
    /// Extract CNN features of a dataset split to a safetensors file (`features` [N, D], `labels` [N]).
    Extract(extract::ExtractArgs),
    /// Fit a classical head (SVM, boosted trees, logistic regression) on feature files; prints one JSON line.
    FitHead(fit_head::FitHeadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(args) => data::run(args),
        Command::Extract(args) => extract::run(args),
        Command::FitHead(args) => fit_head::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
