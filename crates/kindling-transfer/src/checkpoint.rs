//! Atomic, resumable checkpoints: model, optimiser and scheduler records plus the trainer state,
//! each written to a temporary file and renamed into place, the state file last (it is the commit
//! point: a checkpoint is complete only once `state.json` names its epoch).

use std::path::Path;

use burn::lr_scheduler::LrSchedulerRecord;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use kindling_core::{Error, Result};

use crate::trainer::TrainState;

/// File names inside a checkpoint folder.
const MODEL: &str = "model.bpk";
const OPTIM: &str = "optimizer.bpk";
const SCHED: &str = "scheduler.bpk";
const STATE: &str = "state.json";

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename); the one
/// implementation lives in [`kindling_core::fs::write_atomic`].
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let p = dir.path().join("a.json");
/// kindling_transfer::checkpoint::write_atomic(&p, b"{}")?;
/// assert_eq!(std::fs::read(&p)?, b"{}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub use kindling_core::fs::write_atomic;

/// Saves a complete checkpoint into `dir`.
pub(crate) fn save<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    sched: &ModuleLrScheduler,
    state: &TrainState,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let record_err = |p: &Path, e: burn::store::RecordError| Error::format(p, None, format!("cannot serialise: {e}"));
    // `valid()` folds pending BatchNorm running-statistic updates into their values (a plain
    // record of the training module would be one update behind) without changing the module.
    let model_bytes = model.valid().into_record().into_bytes().map_err(|e| record_err(&dir.join(MODEL), e))?;
    write_atomic(&dir.join(MODEL), &model_bytes[..])?;
    let optim_bytes = optim.into_bytes().map_err(|e| record_err(&dir.join(OPTIM), e))?;
    write_atomic(&dir.join(OPTIM), &optim_bytes[..])?;
    let sched_bytes = sched.to_record().into_bytes().map_err(|e| record_err(&dir.join(SCHED), e))?;
    write_atomic(&dir.join(SCHED), &sched_bytes[..])?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| Error::Config(e.to_string()))?;
    write_atomic(&dir.join(STATE), &json)
}

/// Reads the trainer state of the checkpoint in `dir`, if one is complete.
pub(crate) fn load_state(dir: &Path) -> Result<Option<TrainState>> {
    let path = dir.join(STATE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::format(&path, None, format!("corrupt trainer state: {e}")))
}

/// Restores model, optimiser and scheduler from `dir`.
pub(crate) fn restore<M: Module>(
    dir: &Path,
    model: M,
    optim: ModuleOptimizer,
    sched: ModuleLrScheduler,
) -> Result<(M, ModuleOptimizer, ModuleLrScheduler)> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map(|b| (p.clone(), b)).map_err(|e| Error::io(&p, e))
    };
    let bad = |p: &Path, e: burn::store::RecordError| Error::format(p, None, format!("corrupt checkpoint: {e}"));
    let (p, bytes) = read(MODEL)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| bad(&p, e))?;
    let model = model.try_load_record(record).map_err(|e| bad(&p, e))?;
    let (p, bytes) = read(OPTIM)?;
    let optim = optim.from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| bad(&p, e))?;
    let (p, bytes) = read(SCHED)?;
    let sched = sched.load_record(LrSchedulerRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| bad(&p, e))?);
    Ok((model, optim, sched))
}
