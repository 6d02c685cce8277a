//! Training progress on stderr: one updating line on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::EpochStats;

/// Where training progress goes.
///
/// ```
/// use kindling_seq::train::ProgressMode;
/// assert_eq!("quiet".parse::<ProgressMode>()?, ProgressMode::Quiet);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressMode {
    /// An updating line when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines on stderr (about ten per epoch, and one per epoch end).
    Plain,
    /// Nothing.
    Quiet,
}

impl std::str::FromStr for ProgressMode {
    type Err = crate::SeqError;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "plain" => Ok(Self::Plain),
            "quiet" => Ok(Self::Quiet),
            _ => Err(crate::SeqError::Config(format!("unknown progress mode `{s}`: expected auto, plain or quiet"))),
        }
    }
}

pub(crate) struct Progress {
    /// `Auto` here means "on a terminal".
    mode: ProgressMode,
    label: String,
    every: usize,
    epoch: String,
    start: Instant,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, label: &str) -> Self {
        let mode = match mode {
            ProgressMode::Auto if !std::io::stderr().is_terminal() => ProgressMode::Plain,
            m => m,
        };
        let label = if label.is_empty() { "train".to_string() } else { label.to_string() };
        Self { mode, label, every: 1, epoch: String::new(), start: Instant::now() }
    }

    pub(crate) fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.every = steps.div_ceil(10).max(1);
        self.epoch = format!("epoch {}/{epochs}", epoch + 1);
        self.start = Instant::now();
    }

    pub(crate) fn step(&mut self, step: usize, steps: usize, loss: f64, lr: f64) {
        let line = || {
            let secs = self.start.elapsed().as_secs_f64();
            let eta = secs / step as f64 * (steps - step) as f64;
            format!(
                "{}: {} step {step}/{steps} loss {loss:.4} lr {lr:.2e} ({secs:.0} s, eta {eta:.0} s)",
                self.label, self.epoch
            )
        };
        match self.mode {
            ProgressMode::Auto => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", line());
                let _ = err.flush();
            }
            ProgressMode::Plain if step.is_multiple_of(self.every) && step < steps => eprintln!("{}", line()),
            _ => {}
        }
    }

    pub(crate) fn end_epoch(&mut self, s: &EpochStats) {
        if self.mode == ProgressMode::Quiet {
            return;
        }
        if self.mode == ProgressMode::Auto {
            eprint!("\r\x1b[2K");
        }
        let val = s.val.as_ref().map(|v| format!(", val loss {:.4} acc {:.4}", v.loss, v.accuracy)).unwrap_or_default();
        eprintln!(
            "{}: {} train loss {:.4} acc {:.4}{val} ({:.1} s)",
            self.label, self.epoch, s.train_loss, s.train_accuracy, s.seconds
        );
    }
}
