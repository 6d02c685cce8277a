//! `kindling predict --head FILE`: CNN features → a classical head saved by `kindling fit-head --save`.

use std::io::Write;
use std::path::Path;

use kindling_heads::{ExtractConfig, SavedHead, VisionExtractor, predict_image_files};
use kindling_vision::{Arch, VisionModel};

use crate::CliResult;
use crate::predict::PredictArgs;

/// Classifies `args.images` with the head in `head`, printing one JSON object per image and line:
/// `{"file", "probabilities", "top": [{"label", "class", "score"}]}` (scores are probabilities when the head
/// has them, decision scores otherwise). The head's recorded preprocessing is used unless resize, crop or
/// normalisation flags are given.
pub fn run(
    args: &PredictArgs,
    head: &Path,
    model: VisionModel,
    arch: Arch,
    device: &burn::tensor::Device,
) -> CliResult {
    let saved = SavedHead::load(head)?;
    if args.input_tensor.is_some() {
        return Err("--head classifies images, not --input-tensor".into());
    }
    let flags_given =
        args.resize.is_some() || args.crop.is_some() || args.mean.is_some() || args.std.is_some() || args.no_normalize;
    let pipeline = match (&saved.preprocessing, flags_given) {
        (Some(p), false) => p.clone(),
        _ => args.pipeline(arch),
    };
    let config = ExtractConfig::new(pipeline).with_batch_size(args.batch_size);
    let extractor = VisionExtractor::new(arch, model, device)?;
    let records = predict_image_files(&extractor, &saved, &args.images, &config, device, args.topk)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for record in &records {
        writeln!(out, "{}", serde_json::to_string(record)?)?;
    }
    out.flush()?;
    Ok(())
}
