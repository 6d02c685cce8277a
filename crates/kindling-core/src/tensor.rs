//! Small tensor helpers used across Kindling.

use burn::tensor::{Int, Tensor, TensorData};

use crate::{Error, Result};

/// Reads a float tensor back into a `Vec<f32>` (row-major).
///
/// ```
/// let d = kindling_core::default_device();
/// let t = burn::tensor::Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 4.0]], &d);
/// assert_eq!(kindling_core::tensor::to_vec_f32(t)?, vec![1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn to_vec_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    data_to_vec_f32(t.into_data())
}

/// Converts tensor data of any float dtype to `Vec<f32>`.
pub fn data_to_vec_f32(data: TensorData) -> Result<Vec<f32>> {
    data.try_into_vec_as::<f32>().map_err(|e| Error::TensorRead(format!("{e:?}")))
}

/// Reads an integer tensor back into a `Vec<i64>`.
///
/// ```
/// let d = kindling_core::default_device();
/// let t = burn::tensor::Tensor::<1, burn::tensor::Int>::from_ints([3, 1], &d);
/// assert_eq!(kindling_core::tensor::to_vec_i64(t)?, vec![3, 1]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn to_vec_i64<const D: usize>(t: Tensor<D, Int>) -> Result<Vec<i64>> {
    t.into_data().try_into_vec_as::<i64>().map_err(|e| Error::TensorRead(format!("{e:?}")))
}

/// Index of the largest value of each row of a `[N, C]` tensor.
///
/// ```
/// let d = kindling_core::default_device();
/// let t = burn::tensor::Tensor::<2>::from_floats([[0.1, 0.9], [2.0, -1.0]], &d);
/// assert_eq!(kindling_core::tensor::argmax_rows(t)?, vec![1, 0]);
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn argmax_rows(t: Tensor<2>) -> Result<Vec<usize>> {
    let [_, c] = t.dims();
    let v = to_vec_f32(t)?;
    Ok(argmax_chunks(&v, c))
}

/// Index of the largest value of each consecutive `width`-sized chunk of `values`.
///
/// Ties resolve to the first index; NaNs never win.
///
/// ```
/// assert_eq!(kindling_core::tensor::argmax_chunks(&[1.0, 3.0, 2.0, 0.0], 2), vec![1, 0]);
/// ```
pub fn argmax_chunks(values: &[f32], width: usize) -> Vec<usize> {
    if width == 0 {
        return Vec::new();
    }
    values
        .chunks(width)
        .map(|row| {
            let mut best = 0;
            for (i, &x) in row.iter().enumerate() {
                if x > row[best] || row[best].is_nan() && !x.is_nan() {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Indices of the `k` largest values of `row`, largest first.
///
/// ```
/// assert_eq!(kindling_core::tensor::topk(&[0.1, 0.5, 0.2, 0.9], 2), vec![3, 1]);
/// ```
pub fn topk(row: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Numerically stable softmax of one row.
///
/// ```
/// let p = kindling_core::tensor::softmax(&[0.0, 0.0]);
/// assert!((p[0] - 0.5).abs() < 1e-6);
/// ```
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|&x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Largest absolute difference between two equally long slices (`inf` if lengths differ).
///
/// ```
/// assert_eq!(kindling_core::tensor::max_abs_diff(&[1.0, 2.0], &[1.5, 2.0]), 0.5);
/// ```
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
