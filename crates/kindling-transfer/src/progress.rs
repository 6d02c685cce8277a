//! Training progress: a bar on a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::trainer::EpochRecord;

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines on stderr.
    Plain,
    /// Nothing.
    Quiet,
}

/// Receives training events.
pub(crate) struct Progress {
    mode: ProgressMode,
    label: String,
    bar: Option<ProgressBar>,
    every: usize,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, label: &str) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Auto,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        Progress { mode, label: label.to_string(), bar: None, every: 1 }
    }

    pub(crate) fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: usize, frozen: &[String]) {
        let frozen = if frozen.is_empty() { String::new() } else { format!(" (frozen: {})", frozen.join(",")) };
        match self.mode {
            ProgressMode::Auto => {
                let bar = ProgressBar::new(steps as u64);
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(format!("{} epoch {}/{}{frozen}", self.label, epoch + 1, epochs));
                self.bar = Some(bar);
            }
            ProgressMode::Plain => {
                self.every = steps.div_ceil(4).max(1);
                eprintln!("{}: epoch {}/{}: {steps} steps{frozen}", self.label, epoch + 1, epochs);
            }
            ProgressMode::Quiet => {}
        }
    }

    pub(crate) fn step(&mut self, step: usize, steps: usize, loss: f64, lr: f64) {
        match self.mode {
            ProgressMode::Auto => {
                if let Some(bar) = &self.bar {
                    bar.set_position(step as u64);
                    bar.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                }
            }
            ProgressMode::Plain if step.is_multiple_of(self.every) || step == steps => {
                eprintln!("{}:   step {step}/{steps} loss {loss:.4} lr {lr:.2e}", self.label);
            }
            _ => {}
        }
    }

    pub(crate) fn end_epoch(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.mode != ProgressMode::Quiet {
            let val = record
                .val
                .as_ref()
                .map(|v| format!(", val loss {:.4} acc {:.4}", v.loss, v.accuracy))
                .unwrap_or_default();
            eprintln!(
                "{}: epoch {} train loss {:.4} acc {:.4}{val} ({:.1} s)",
                self.label,
                record.epoch + 1,
                record.train_loss,
                record.train_accuracy,
                record.seconds
            );
        }
    }
}
