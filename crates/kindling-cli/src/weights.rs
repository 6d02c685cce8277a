//! `kindling weights`: fetch and list torchvision's official weight files.

use std::io::Write;
use std::path::PathBuf;

use crate::CliResult;
use kindling_vision::pretrained::PretrainedSpec;
use kindling_vision::{Arch, fetch};

/// Arguments of `kindling weights`.
#[derive(Debug, Clone, clap::Args)]
pub struct WeightsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: WeightsCommand,
}

/// `kindling weights` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum WeightsCommand {
    /// Download an architecture's torchvision weights to the cache (verified by SHA-256) and
    /// print the file's path.
    Fetch {
        /// Architecture, by torchvision name (resnet18, vgg16_bn, ...).
        arch: String,
        /// torchvision weights tag: IMAGENET1K_V1 (default) or IMAGENET1K_V2 (ResNet-50/101/152).
        #[arg(long)]
        tag: Option<String>,
        /// Cache directory (default: $KINDLING_CACHE/weights or ~/.cache/kindling/weights).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the known weight files: architecture, tag, URL, hash check, cached or not.
    List {
        /// Cache directory (default as for `fetch`).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
}

/// Runs `kindling weights`.
pub fn run(args: WeightsArgs) -> CliResult {
    match args.command {
        WeightsCommand::Fetch { arch, tag, cache_dir, quiet } => {
            // Weights shipped with Kindling (EfficientNet-Lite0) need no download.
            if let Ok(spec) = PretrainedSpec::get(&arch) {
                println!("{}", spec.resolve()?.display());
                return Ok(());
            }
            let arch: Arch = arch.parse()?;
            let spec = fetch::weights_for(arch, tag.as_deref())?;
            let cache = cache_dir.unwrap_or_else(fetch::cache_dir);
            let mut last_percent = None;
            let mut report = |received: u64, total: Option<u64>| {
                let percent = total.filter(|&t| t > 0).map(|t| received * 100 / t);
                if percent != last_percent && percent.is_some_and(|p| p % 10 == 0) {
                    eprintln!(
                        "{}: {}% of {} MB",
                        spec.file_name(),
                        percent.unwrap_or(0),
                        total.unwrap_or(0) / 1_000_000
                    );
                    last_percent = percent;
                }
            };
            let progress: Option<fetch::Progress<'_>> = if quiet { None } else { Some(&mut report) };
            let path = fetch::fetch(spec, &cache, progress)?;
            println!("{}", path.display());
        }
        WeightsCommand::List { cache_dir } => {
            let cache = cache_dir.unwrap_or_else(fetch::cache_dir);
            let mut out = std::io::stdout().lock();
            for spec in kindling_vision::pretrained::PRETRAINED {
                let place = spec.resolve().map(|p| p.display().to_string()).unwrap_or_else(|_| "-".into());
                writeln!(out, "{}\tshipped\t{place}\t-\t-", spec.name)?;
            }
            for spec in fetch::TORCHVISION_WEIGHTS {
                let check = if spec.sha256.is_some() { "sha256" } else { "sha256-prefix" };
                let cached = if fetch::cached(spec, &cache).is_some() { "cached" } else { "-" };
                writeln!(out, "{}\t{}\t{}\t{check}\t{cached}", spec.arch, spec.tag, spec.url)?;
            }
        }
    }
    Ok(())
}
