//! Atomic, resumable checkpoints: `model.bpk`, `optimizer.bpk`, `best.bpk` (the best model so
//! far) and `state.json`, each written to a temporary file and renamed into place, `state.json`
//! last: a checkpoint is complete once `state.json` names its epoch.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use kindling_core::Error;
use kindling_core::fs::write_atomic;

use super::TrainHistory;
use crate::Result;

const MODEL: &str = "model.bpk";
const BEST: &str = "best.bpk";
const OPTIM: &str = "optimizer.bpk";
const STATE: &str = "state.json";

fn record_err(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(p, None, format!("cannot serialise: {e}"))
}

/// The bytes of a module's record (burn's burnpack format).
pub(crate) fn module_bytes<M: Module>(model: &M, path: &Path) -> Result<Bytes> {
    Ok(model.clone().into_record().into_bytes().map_err(|e| record_err(path, e))?)
}

/// Loads record bytes into `model`.
pub(crate) fn load_module_bytes<M: Module>(model: M, bytes: Vec<u8>, path: &Path) -> Result<M> {
    let bad = |e: burn::store::RecordError| Error::format(path, None, format!("corrupt model record: {e}"));
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(bad)?;
    Ok(model.try_load_record(record).map_err(bad)?)
}

/// Saves the checkpoint of a finished epoch; `valid` is the model in validation mode.
pub(crate) fn save<M: Module>(
    dir: &Path,
    valid: &M,
    optim: &ModuleOptimizer,
    history: &TrainHistory,
    improved: bool,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let bytes = module_bytes(valid, &dir.join(MODEL))?;
    write_atomic(&dir.join(MODEL), &bytes[..])?;
    if improved {
        write_atomic(&dir.join(BEST), &bytes[..])?;
    }
    let optim_bytes = optim.into_bytes().map_err(|e| record_err(&dir.join(OPTIM), e))?;
    write_atomic(&dir.join(OPTIM), &optim_bytes[..])?;
    let json = serde_json::to_vec_pretty(history).map_err(|e| record_err(&dir.join(STATE), e))?;
    Ok(write_atomic(&dir.join(STATE), &json)?)
}

/// The history of the checkpoint in `dir`, if there is a complete one.
pub(crate) fn load_history(dir: &Path) -> Result<Option<TrainHistory>> {
    let path = dir.join(STATE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let history = serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(&path, Some(e.line()), format!("corrupt trainer state: {e}")))?;
    Ok(Some(history))
}

/// Restores the training model, the optimiser and (with `has_best`) the best model so far.
pub(crate) fn restore<M: Module>(
    dir: &Path,
    model: M,
    optim: ModuleOptimizer,
    has_best: bool,
) -> Result<(M, ModuleOptimizer, Option<M>)> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map(|b| (p.clone(), b)).map_err(|e| Error::io(&p, e))
    };
    let best = if has_best {
        let (p, bytes) = read(BEST)?;
        Some(load_module_bytes(model.clone(), bytes, &p)?.valid())
    } else {
        None
    };
    let (p, bytes) = read(MODEL)?;
    let model = load_module_bytes(model, bytes, &p)?;
    let (p, bytes) = read(OPTIM)?;
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::format(&p, None, format!("corrupt optimizer record: {e}")))?;
    Ok((model, optim, best))
}
