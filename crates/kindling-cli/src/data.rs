//! `kindling data`: dataset inspection.

use clap::{Args, Subcommand};
use kindling_data::{DataSource, Split};

use crate::CliResult;

/// Arguments of `kindling data`.
#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Show the size, image shape and class balance of a dataset.
    Info {
        /// Dataset: `fashion-mnist`, `mnist`, `idx:DIR`, `folder:DIR`.
        #[arg(long, short, default_value = "fashion-mnist")]
        data: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: DataArgs) -> CliResult {
    match args.command {
        DataCommand::Info { data, json } => info(&data, json),
    }
}

fn info(data: &str, json: bool) -> CliResult {
    let source: DataSource = data.parse()?;
    let mut splits = serde_json::Map::new();
    for split in [Split::Train, Split::Test] {
        let ds = source.load(split)?;
        let classes = ds.classes();
        let mut counts = vec![0usize; classes.len()];
        for l in ds.labels() {
            counts[l] += 1;
        }
        let first = burn::data::dataset::Dataset::get(&ds, 0)?;
        let (w, h) = (first.image.width(), first.image.height());
        if !json {
            println!(
                "{source} [{}]: {} images, first image {w}x{h}, {} classes",
                split.name(),
                counts.iter().sum::<usize>(),
                classes.len()
            );
            for (c, n) in classes.iter().zip(&counts) {
                println!("  {n:>6}  {c}");
            }
        }
        splits.insert(
            split.name().into(),
            serde_json::json!({
                "images": counts.iter().sum::<usize>(),
                "first_image_size": [w, h],
                "classes": classes,
                "class_counts": counts,
            }),
        );
    }
    if json {
        println!("{}", serde_json::json!({ "source": source.to_string(), "splits": splits }));
    }
    Ok(())
}
