//! Batching helpers: pad variable-length sequences and keep their lengths.

use burn::tensor::{Device, Int, Tensor, TensorData};
use kindling_data::text::PAD;

use crate::{Result, SeqError};

/// The input of a sequence model: token ids or numeric feature vectors.
///
/// ```
/// use kindling_seq::batch::{SeqInput, pad_tokens};
/// let d = kindling_core::default_device();
/// let (ids, _) = pad_tokens(&[&[4, 5][..]], &d)?;
/// assert_eq!(SeqInput::Tokens(ids).dims(), [1, 2]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone)]
pub enum SeqInput {
    /// Token ids `[B, T]`, padded with [`PAD`] (0).
    Tokens(Tensor<2, Int>),
    /// Feature vectors `[B, T, F]`, padded with zeros.
    Features(Tensor<3>),
}

impl SeqInput {
    /// `[batch, time]`.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            SeqInput::Tokens(t) => t.dims(),
            SeqInput::Features(t) => {
                let [b, t, _] = t.dims();
                [b, t]
            }
        }
    }
}

fn check_lengths(lengths: &[usize]) -> Result<()> {
    if lengths.is_empty() {
        return Err(SeqError::Input("an empty batch".into()));
    }
    if let Some(i) = lengths.iter().position(|&l| l == 0) {
        return Err(SeqError::Input(format!("sequence {i} of the batch is empty")));
    }
    Ok(())
}

/// Pads token-id sequences with [`PAD`] to the longest one: `[B, T]` ids and the lengths.
///
/// ```
/// use kindling_seq::batch::pad_tokens;
/// let d = kindling_core::default_device();
/// let (ids, lengths) = pad_tokens(&[&[5, 6, 7][..], &[8]], &d)?;
/// assert_eq!(lengths, vec![3, 1]);
/// assert_eq!(kindling_core::tensor::to_vec_i64(ids)?, vec![5, 6, 7, 8, 0, 0]);
/// assert!(pad_tokens(&[&[][..]], &d).is_err());
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn pad_tokens(seqs: &[&[usize]], device: &Device) -> Result<(Tensor<2, Int>, Vec<usize>)> {
    let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    check_lengths(&lengths)?;
    let t = lengths.iter().copied().max().unwrap_or(0);
    let mut ids = vec![PAD as i64; seqs.len() * t];
    for (b, s) in seqs.iter().enumerate() {
        for (i, &id) in s.iter().enumerate() {
            ids[b * t + i] = id as i64;
        }
    }
    Ok((Tensor::from_data(TensorData::new(ids, [seqs.len(), t]), device), lengths))
}

/// Pads time-major feature sequences (`values[t * dims + f]`, `values.len() / dims` steps) with
/// zeros to the longest one: `[B, T, dims]` and the lengths.
///
/// ```
/// use kindling_seq::batch::pad_features;
/// let d = kindling_core::default_device();
/// let (x, lengths) = pad_features(&[&[1.0, 2.0, 3.0, 4.0][..], &[5.0, 6.0]], 2, &d)?;
/// assert_eq!((x.dims(), lengths), ([2, 2, 2], vec![2, 1]));
/// assert_eq!(kindling_core::tensor::to_vec_f32(x)?, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
pub fn pad_features(seqs: &[&[f32]], dims: usize, device: &Device) -> Result<(Tensor<3>, Vec<usize>)> {
    if dims == 0 {
        return Err(SeqError::Input("feature sequences need at least one dimension".into()));
    }
    if let Some(i) = seqs.iter().position(|s| !s.len().is_multiple_of(dims)) {
        return Err(SeqError::Input(format!(
            "sequence {i} has {} values, not a multiple of {dims} dimensions",
            seqs[i].len()
        )));
    }
    let lengths: Vec<usize> = seqs.iter().map(|s| s.len() / dims).collect();
    check_lengths(&lengths)?;
    let t = lengths.iter().copied().max().unwrap_or(0);
    let mut x = vec![0.0f32; seqs.len() * t * dims];
    for (b, s) in seqs.iter().enumerate() {
        x[b * t * dims..b * t * dims + s.len()].copy_from_slice(s);
    }
    Ok((Tensor::from_data(TensorData::new(x, [seqs.len(), t, dims]), device), lengths))
}

/// A `[B, T]` float mask: 1 on valid steps, 0 on padding.
///
/// ```
/// let d = kindling_core::default_device();
/// let m = kindling_seq::batch::length_mask(&[2, 1], 3, &d);
/// assert_eq!(kindling_core::tensor::to_vec_f32(m)?, vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn length_mask(lengths: &[usize], steps: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = lengths.iter().flat_map(|&l| (0..steps).map(move |t| if t < l { 1.0 } else { 0.0 })).collect();
    Tensor::from_data(TensorData::new(v, [lengths.len(), steps]), device)
}

/// Class labels as a `[B]` int tensor.
///
/// ```
/// let d = kindling_core::default_device();
/// let y = kindling_seq::batch::labels(&[1, 0, 2], &d);
/// assert_eq!(y.dims(), [3]);
/// ```
pub fn labels(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(v, [labels.len()]), device)
}
