//! Recycled workspaces: buffers a kernel writes in full before reading them, handed back after
//! use instead of freed, so that the next call skips the zero-filling pass of a new buffer.

use std::sync::Mutex;

use burn::backend::flex::FlexTensor;

/// Buffers kept for reuse at most; beyond, the smallest go.
const KEEP: usize = 8;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` values for a kernel that **writes every value before reading it** (the
/// LSTM's gate and state workspace, saved for its backward pass): the smallest buffer handed
/// back with [`recycle`] that holds `len`, with whatever values it had (no zero-filling pass:
/// ≈ 4% of an LSTM training step, BENCHMARKS.md), else a new zeroed one. In debug builds every
/// value is NaN instead, so that a kernel reading a value it did not write fails its tests.
///
/// ```
/// use kindling_core::cpu::{recycle, scratch};
/// let mut ws = scratch(1000);
/// ws.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32); // written in full, then read
/// let ptr = ws.as_ptr();
/// recycle(ws);
/// let again = scratch(800); // the same allocation, 800 of its values
/// assert_eq!((again.as_ptr(), again.len()), (ptr, 800));
/// ```
pub fn scratch(len: usize) -> Vec<f32> {
    let reused = {
        let mut pool = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let best = (0..pool.len()).filter(|&k| pool[k].capacity() >= len).min_by_key(|&k| pool[k].capacity());
        best.map(|k| pool.swap_remove(k))
    };
    let mut v = match reused {
        Some(mut v) => {
            v.truncate(len);
            v.resize(len, 0.0);
            v
        }
        None => super::zeros(len),
    };
    if cfg!(debug_assertions) {
        v.fill(f32::NAN);
    }
    v
}

/// Hands a buffer back for [`scratch`] (the pool keeps the 8 largest).
pub fn recycle(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    pool.push(v);
    if pool.len() > KEEP
        && let Some(k) = (0..pool.len()).min_by_key(|&k| pool[k].capacity())
    {
        pool.swap_remove(k);
    }
}

/// [`recycle`]s the storage of a burn-flex `f32` tensor made by
/// [`flex_from_f32`](super::flex_from_f32) when nothing else holds it (otherwise it is just
/// dropped: no copy is made).
///
/// ```
/// use kindling_core::cpu::{flex_from_f32, recycle_flex, scratch};
/// let v = vec![1.0f32; 4096];
/// let ptr = v.as_ptr();
/// recycle_flex(flex_from_f32(v, [64, 64]));
/// assert_eq!(scratch(4096).as_ptr(), ptr);
/// ```
pub fn recycle_flex(t: FlexTensor) {
    if !t.is_unique() || t.dtype() != burn::tensor::DType::F32 {
        return;
    }
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() != Some((0, n)) || t.bytes().len() != n * 4 {
        return;
    }
    // Unique and exactly its contiguous storage: the data moves out without a copy.
    if let Ok(v) = t.into_data().try_into_vec::<f32>() {
        recycle(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_and_poisons_in_debug() {
        // Sizes no other test asks for, so that the shared pool's other users do not interfere.
        let sizes: Vec<usize> = (0..KEEP + 3).map(|k| 777_001 + k).collect();
        let ptrs: Vec<*const f32> = sizes
            .iter()
            .map(|&n| {
                let v = vec![1.0f32; n];
                let p = v.as_ptr();
                recycle(v);
                p
            })
            .collect();
        // The largest buffer comes back for the largest request; its values are NaN in debug
        // builds (tests), the old ones otherwise.
        let big = scratch(sizes[KEEP + 2]);
        assert_eq!(big.as_ptr(), ptrs[KEEP + 2]);
        assert!(big.iter().all(|v| if cfg!(debug_assertions) { v.is_nan() } else { *v == 1.0 }));
        let pool = POOL.lock().unwrap();
        assert!(pool.len() <= KEEP);
        assert!(pool.iter().all(|v| v.capacity() != sizes[0]), "the smallest was dropped");
    }
}
