//! Universal-tag coverage of a Brown corpus directory.
//!
//! `cargo run -p kindling-data --example brown_tags -- path/to/brown [--lenient]`
//!
//! Prints the sentence and token counts, the number of tokens per universal tag, and the raw tags that map
//! to `X`. Strict by default: an unknown raw tag stops the run with its file and line.

use std::collections::BTreeMap;

use kindling_data::text::{UniversalTag, read_brown_dir};

fn main() -> Result<(), kindling_core::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: brown_tags DIR [--lenient]");
        std::process::exit(2);
    };
    let strict = !args.iter().any(|a| a == "--lenient");
    let (sentences, files) = read_brown_dir(dir, strict)?;
    let mut per_tag = [0usize; 12];
    let mut raw_x: BTreeMap<&str, usize> = BTreeMap::new();
    let mut raw_tags = std::collections::BTreeSet::new();
    for t in sentences.iter().flatten() {
        per_tag[t.tag.index()] += 1;
        raw_tags.insert(t.raw_tag.as_str());
        if t.tag == UniversalTag::X {
            *raw_x.entry(t.raw_tag.as_str()).or_default() += 1;
        }
    }
    let mut distinct_files = files.clone();
    distinct_files.dedup();
    let tokens: usize = per_tag.iter().sum();
    println!(
        "{} files, {} sentences, {tokens} tokens, {} raw tags",
        distinct_files.len(),
        sentences.len(),
        raw_tags.len()
    );
    for tag in UniversalTag::ALL {
        let n = per_tag[tag.index()];
        println!("{:>5} {n:>8} {:>6.2}%", tag.as_str(), 100.0 * n as f64 / tokens.max(1) as f64);
    }
    println!("raw tags mapped to X: {raw_x:?}");
    Ok(())
}
