//! Ragged batches: sequence lengths, step masks and time-step splitting.
//!
//! Padding is handled like PyTorch's `pack_padded_sequence`, without packing:
//!
//! - only the first `max(lengths)` steps are computed, and padded input positions are zeroed first,
//!   so neither extra padding nor the values stored there can change anything;
//! - at each step `t >= min(lengths)` a mask keeps the previous state of every sequence with
//!   `t >= length` and zeroes its output, so final states are taken at each sequence's true end;
//! - the reverse direction walks `t = max_len-1 .. 0` under the same mask: a sequence keeps its
//!   initial state until `t = length-1`, i.e. it starts at its own last valid step, exactly like
//!   reversing each sequence within its length, but without any gather.

use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::{Result, SeqError};

/// Lengths of a batch and the masks derived from them.
pub(crate) struct Padding {
    /// Steps to compute: `max(lengths)` (or `T` without lengths).
    pub max_len: usize,
    /// Per computed step `t`, `Some(mask [B, H])` true where `t >= length`, `None` where all
    /// sequences are still running.
    pub invalid: Vec<Option<Tensor<2, Bool>>>,
    /// `Some(mask [B, max_len, I])` true on padded input positions, when there are any.
    pub input_mask: Option<Tensor<3, Bool>>,
}

impl Padding {
    /// Validates `lengths` against a `[batch, steps, input]` input and builds the masks.
    pub(crate) fn new(
        lengths: Option<&[usize]>,
        [batch, steps, input]: [usize; 3],
        hidden: usize,
        device: &Device,
    ) -> Result<Self> {
        validate(lengths, batch, steps)?;
        let Some(lengths) = lengths else {
            return Ok(Self { max_len: steps, invalid: vec![None; steps], input_mask: None });
        };
        let max_len = lengths.iter().copied().max().unwrap_or(0);
        let min_len = lengths.iter().copied().min().unwrap_or(0);
        let invalid = (0..max_len)
            .map(|t| {
                (t >= min_len).then(|| {
                    let v: Vec<bool> = lengths.iter().flat_map(|&l| std::iter::repeat_n(t >= l, hidden)).collect();
                    Tensor::from_data(TensorData::new(v, [batch, hidden]), device)
                })
            })
            .collect();
        let input_mask = (min_len < max_len).then(|| {
            let v: Vec<bool> = lengths
                .iter()
                .flat_map(|&l| (0..max_len).flat_map(move |t| std::iter::repeat_n(t >= l, input)))
                .collect();
            Tensor::from_data(TensorData::new(v, [batch, max_len, input]), device)
        });
        Ok(Self { max_len, invalid, input_mask })
    }
}

/// Checks that there is one length per sequence and none exceeds `steps`.
pub(crate) fn validate(lengths: Option<&[usize]>, batch: usize, steps: usize) -> Result<()> {
    let Some(lengths) = lengths else { return Ok(()) };
    if lengths.len() != batch {
        return Err(SeqError::Input(format!("{} lengths given for a batch of {batch} sequences", lengths.len())));
    }
    if let Some((i, &l)) = lengths.iter().enumerate().find(|&(_, &l)| l > steps) {
        return Err(SeqError::Input(format!("length {l} of sequence {i} exceeds the {steps} time steps of the input")));
    }
    Ok(())
}

/// Splits a time-major `[T*B, F]` tensor into `T` tensors `[B, F]`.
///
/// Halving recursively instead of slicing each step out of the whole keeps the backward pass
/// (where every slice's gradient is expanded to its parent's size) at `O(T log T)` instead of
/// `O(T^2)`; without autodiff both are free views.
pub(crate) fn split_steps(x: Tensor<2>, batch: usize) -> Vec<Tensor<2>> {
    let steps = x.dims()[0] / batch.max(1);
    let mut out = Vec::with_capacity(steps);
    split_rec(x, batch, steps, &mut out);
    out
}

fn split_rec(x: Tensor<2>, batch: usize, steps: usize, out: &mut Vec<Tensor<2>>) {
    if steps <= 1 {
        out.push(x);
        return;
    }
    let half = steps / 2;
    split_rec(x.clone().narrow(0, 0, half * batch), batch, half, out);
    split_rec(x.narrow(0, half * batch, (steps - half) * batch), batch, steps - half, out);
}

/// Slices each of the `T` steps out of a time-major `[T*B, F]` tensor (views; for untracked tensors).
pub(crate) fn slice_steps(x: Tensor<2>, batch: usize) -> Vec<Tensor<2>> {
    let steps = x.dims()[0] / batch.max(1);
    (0..steps).map(|t| x.clone().narrow(0, t * batch, batch)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_slices() {
        let d = kindling_core::default_device();
        let v: Vec<f32> = (0..7 * 3 * 2).map(|i| i as f32).collect();
        let x = Tensor::<1>::from_floats(v.as_slice(), &d).reshape([7 * 3, 2]);
        let a = split_steps(x.clone(), 3);
        let b = slice_steps(x, 3);
        assert_eq!(a.len(), 7);
        for (p, q) in a.into_iter().zip(b) {
            assert_eq!(p.into_data(), q.into_data());
        }
    }

    #[test]
    fn masks_follow_lengths() {
        let d = kindling_core::default_device();
        let p = Padding::new(Some(&[2, 3, 1]), [3, 4, 2], 2, &d).expect("test value");
        assert_eq!(p.max_len, 3);
        assert!(p.invalid[0].is_none());
        let m1 = p.invalid[1].clone().expect("test value").into_data().try_to_vec::<bool>().expect("test value");
        assert_eq!(m1, vec![false, false, false, false, true, true]);
        let m2 = p.invalid[2].clone().expect("test value").into_data().try_to_vec::<bool>().expect("test value");
        assert_eq!(m2, vec![true, true, false, false, true, true]);
        assert!(Padding::new(Some(&[2, 5, 1]), [3, 4, 2], 2, &d).is_err());
        assert!(Padding::new(Some(&[2, 1]), [3, 4, 2], 2, &d).is_err());
    }
}
