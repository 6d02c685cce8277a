//! Helpers shared by the model families: stage parameter groups and layer sizes.

use burn::module::ParamGroup;
use burn::nn::Linear;
use kindling_core::{Error, Result};

/// `(d_input, d_output)` of a burn `Linear` (weight `[in, out]`), without initialising it.
pub(crate) fn linear_dims(linear: &Linear) -> (usize, usize) {
    let shape = linear.weight.lazy_shape();
    (shape[0], shape[1])
}

/// A parameter group matching every path that starts with `prefix` + one of `stages` + `.`.
pub(crate) fn stage_group(prefix: &str, stages: &[&str], known: &[&str]) -> Result<ParamGroup> {
    if stages.is_empty() {
        return Err(Error::Config("no stage named: expected at least one stage".into()));
    }
    if let Some(bad) = stages.iter().find(|s| !known.contains(s)) {
        return Err(Error::Config(format!("unknown stage `{bad}`: expected one of {}", known.join(", "))));
    }
    let pattern = format!(r"^{}(?:{})\.", regex_escape(prefix), stages.join("|"));
    ParamGroup::from_regex(&pattern).map_err(|e| Error::Config(format!("stage group `{pattern}`: {e:?}")))
}

/// The regular expression of one stage's parameter paths (`None` for an unknown stage).
pub(crate) fn stage_pattern(prefix: &str, stage: &str, known: &[&str]) -> Option<String> {
    known.contains(&stage).then(|| format!(r"^{}{stage}\.", regex_escape(prefix)))
}

fn regex_escape(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] }).collect()
}
