//! `kindling`: the Kindling command-line tool.
//!
//! Run `kindling --help` for the list of commands.

mod data;
mod demo;
mod extract;
mod fit;
mod fit_head;
mod predict;
mod predict_head;
mod seq;
mod weights;

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
    /// The main job: scratch CNN vs fine-tuned pretrained EfficientNet-Lite0 vs linear probe, SVM and
    /// boosted trees on its features, on the embedded Fashion-MNIST subset (no flags, no network).
    Demo(demo::DemoArgs),
    /// Inspect datasets (embedded samples, IDX folders, ImageFolder trees).
    Data(data::DataArgs),
    /// Classify images (or a normalised input tensor) with a VGG or ResNet; one JSON object per line.
    Predict(predict::PredictArgs),
    /// Fetch or list official weight files.
    Weights(weights::WeightsArgs),
    /// Train an image classifier from scratch (report folder with metrics, curves, checkpoints).
    Train(fit::TrainArgs),
    /// Fine-tune a pretrained CNN: new head, smaller LR for pretrained stages, frozen first stages.
    Finetune(fit::FinetuneArgs),
    /// Evaluate a trained run on a dataset split (JSON metrics).
    Eval(fit::EvalArgs),
    /// Extract CNN features of a dataset split to a safetensors file (`features` [N, D], `labels` [N]).
    Extract(extract::ExtractArgs),
    /// Fit a classical head (SVM, boosted trees, logistic regression) on feature files; prints one JSON line.
    FitHead(fit_head::FitHeadArgs),
    /// Recurrent sequence models: classify sequences, tag tokens.
    Seq(seq::SeqArgs),
}

/// Large tensor buffers are reused instead of mapped afresh for every step
/// (`kindling_core::alloc`); the `mimalloc` feature, on by default.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: kindling_core::alloc::MiMalloc = kindling_core::alloc::MiMalloc;

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    kindling_core::alloc::keep_freed_memory();
    kindling_core::cpu::join_global_pool();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Data(args) => data::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Weights(args) => weights::run(args),
        Command::Train(args) => fit::run_train(args),
        Command::Finetune(args) => fit::run_finetune(args),
        Command::Eval(args) => fit::run_eval(args),
        Command::Extract(args) => extract::run(args),
        Command::FitHead(args) => fit_head::run(args),
        Command::Seq(args) => seq::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
