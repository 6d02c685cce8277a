//! # kindling-transfer
//!
//! Transfer learning for Kindling: take a CNN pretrained on ImageNet, replace its head with one for
//! your classes, fine-tune with a smaller learning rate for the pretrained stages (optionally decayed
//! per stage) and freeze the first stages — their BatchNorm statistics included — since early layers
//! hold general features.
//!
//! ```no_run
//! use kindling_transfer::{FineTuneConfig, FreezePolicy, RunOptions, TrainData, fit};
//! use kindling_vision::StagedClassifier;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = kindling_core::default_device();
//! let model = kindling_vision::pretrained::efficientnet_lite0(&device)?.with_num_classes(10);
//! let source: kindling_data::DataSource = "fashion-mnist".parse()?;
//! let train = source.load(kindling_data::Split::Train)?;
//! let spec = kindling_vision::pretrained::PretrainedSpec::get("efficientnet_lite0")?;
//! let data = TrainData {
//!     classes: train.classes(),
//!     train,
//!     val: None,
//!     train_pipeline: spec.preprocessing(),
//!     eval_pipeline: spec.preprocessing(),
//! };
//! let config = FineTuneConfig::new(10)
//!     .with_freeze(FreezePolicy { until: Some("stage3".into()), ..Default::default() });
//! let out = fit(model, &data, &config, &RunOptions::default(), &device)?;
//! println!("{:?}", out.state.history.last());
//! # Ok(()) }
//! ```

pub mod checkpoint;
mod config;
mod metrics;
pub mod policy;
mod progress;
pub mod report;
mod trainer;

pub use config::{FineTuneConfig, FreezePolicy, LrPolicy, OptimizerKind, ScheduleKind};
pub use metrics::{ClassScore, Metrics};
pub use progress::ProgressMode;
pub use trainer::{
    EpochRecord, FitOutcome, RunOptions, TrainData, TrainState, ValSummary, build_optimizer, evaluate, fit,
};
