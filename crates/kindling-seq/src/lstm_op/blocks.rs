//! The batch of an LSTM direction in blocks of rows, one per rayon thread (see the parent module).

use rayon::prelude::*;

use kindling_core::cpu::{scratch, transpose};

use super::{Dims, Grads, backward, forward};

/// Fewest batch rows a block of its own takes.
const MIN_ROWS: usize = 8;

/// Rows per batch block, one block per rayon thread: the rows of a batch never interact in the
/// recurrence, so each block runs the whole sequence on its own thread with single-threaded
/// products (one dispatch per call instead of two per time step). The whole batch (one block,
/// products split by gemm) when it is too small to share.
pub(super) fn block_rows(b: usize) -> usize {
    let threads = rayon::current_num_threads();
    if threads > 1 && b >= 2 * MIN_ROWS { b.div_ceil(threads) } else { b.max(1) }
}

/// The blocks of `per` rows of a batch of `b`, as `(first row, rows)`.
fn blocks(b: usize, per: usize) -> Vec<(usize, usize)> {
    (0..b).step_by(per.max(1)).map(|r0| (r0, per.min(b - r0))).collect()
}

/// Rows `r0..r0 + rows` of each of the `slabs` consecutive `[b, w]` slabs of `src`.
fn gather_rows(src: &[f32], slabs: usize, b: usize, w: usize, r0: usize, rows: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(slabs * rows * w);
    for s in 0..slabs {
        out.extend_from_slice(&src[(s * b + r0) * w..(s * b + r0 + rows) * w]);
    }
    out
}

/// The inverse of [`gather_rows`]: `part`'s slabs go to rows `r0..` of `dst`'s slabs.
fn scatter_rows(dst: &mut [f32], part: &[f32], b: usize, w: usize, r0: usize, rows: usize) {
    for (s, slab) in part.chunks_exact(rows * w).enumerate() {
        dst[(s * b + r0) * w..(s * b + r0 + rows) * w].copy_from_slice(slab);
    }
}

/// The sizes of the block of rows `r0..r0 + rows`.
fn block_dims<'a>(d: &Dims<'a>, r0: usize, rows: usize) -> Dims<'a> {
    Dims { lengths: &d.lengths[r0..r0 + rows], t: d.t, b: rows, h: d.h, i: d.i }
}

/// [`forward`] over the batch [`blocks`] in parallel: the output in the full batch's layout, the
/// blocks' workspaces one after the other.
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_blocks(
    d: &Dims<'_>,
    x: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    bias: &[f32],
    h0: &[f32],
    c0: &[f32],
    reverse: bool,
    per: usize,
) -> (Vec<f32>, Vec<f32>) {
    let parts = blocks(d.b, per);
    let w_hh_t = transpose(w_hh, 4 * d.h, d.h);
    let mut ws = scratch(d.workspace()); // every value written by `forward`
    if parts.len() == 1 {
        let out = forward(d, x, w_ih, &w_hh_t, bias, h0, c0, reverse, true, &mut ws);
        return (out, ws);
    }
    // Each block fills its own region of the workspace, the regions in block order.
    let mut regions = Vec::with_capacity(parts.len());
    let mut rest = ws.as_mut_slice();
    for &(r0, rows) in &parts {
        let (region, tail) = rest.split_at_mut(block_dims(d, r0, rows).workspace());
        regions.push(region);
        rest = tail;
    }
    let h = d.h;
    let runs: Vec<_> = parts
        .par_iter()
        .zip(regions)
        .map(|(&(r0, rows), region)| {
            let sub = block_dims(d, r0, rows);
            let xb = gather_rows(x, d.t, d.b, d.i, r0, rows);
            let (h0b, c0b) = (&h0[r0 * h..(r0 + rows) * h], &c0[r0 * h..(r0 + rows) * h]);
            forward(&sub, &xb, w_ih, &w_hh_t, bias, h0b, c0b, reverse, false, region)
        })
        .collect();
    let mut out = vec![0.0f32; (d.t + 2) * d.b * h];
    for (&(r0, rows), part) in parts.iter().zip(runs) {
        scatter_rows(&mut out, &part, d.b, h, r0, rows);
    }
    (out, ws)
}

/// [`backward`] over the batch [`blocks`] of [`forward_blocks`]: per-row gradients in the full
/// batch's layout, weight and bias gradients summed over the blocks.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_blocks(
    d: &Dims<'_>,
    x: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    ws: &[f32],
    grad: &[f32],
    reverse: bool,
    per: usize,
) -> Grads {
    let parts = blocks(d.b, per);
    if parts.len() == 1 {
        return backward(d, x, w_ih, w_hh, ws, grad, reverse, true);
    }
    let (h, i) = (d.h, d.i);
    let mut starts = Vec::with_capacity(parts.len());
    let mut at = 0;
    for &(r0, rows) in &parts {
        starts.push(at);
        at += block_dims(d, r0, rows).workspace();
    }
    let runs: Vec<Grads> = parts
        .par_iter()
        .zip(&starts)
        .map(|(&(r0, rows), &start)| {
            let sub = block_dims(d, r0, rows);
            let xb = gather_rows(x, d.t, d.b, i, r0, rows);
            let gb = gather_rows(grad, d.t + 2, d.b, h, r0, rows);
            backward(&sub, &xb, w_ih, w_hh, &ws[start..start + sub.workspace()], &gb, reverse, false)
        })
        .collect();
    let mut sum = Grads {
        dx: vec![0.0f32; d.t * d.b * i],
        dw_ih: vec![0.0f32; 4 * h * i],
        dw_hh: vec![0.0f32; 4 * h * h],
        db: vec![0.0f32; 4 * h],
        dh0: vec![0.0f32; d.b * h],
        dc0: vec![0.0f32; d.b * h],
    };
    for (&(r0, rows), g) in parts.iter().zip(runs) {
        scatter_rows(&mut sum.dx, &g.dx, d.b, i, r0, rows);
        scatter_rows(&mut sum.dh0, &g.dh0, d.b, h, r0, rows);
        scatter_rows(&mut sum.dc0, &g.dc0, d.b, h, r0, rows);
        for (total, part) in [(&mut sum.dw_ih, &g.dw_ih), (&mut sum.dw_hh, &g.dw_hh), (&mut sum.db, &g.db)] {
            total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lstm_op::tests::val;

    /// The batch in blocks over two threads (9 and 8 rows) gives the single block's outputs and
    /// gradients.
    #[test]
    fn batch_blocks_match_one_block() {
        let (t, b, h, i) = (5, 17, 6, 3);
        let lengths: Vec<usize> = (0..b).map(|r| 1 + r % t).collect();
        let (x, w_ih, w_hh, bias) = (val(t * b * i, 1), val(4 * h * i, 2), val(4 * h * h, 3), val(4 * h, 4));
        let (h0, c0, grad) = (val(b * h, 5), val(b * h, 6), val((t + 2) * b * h, 7));
        let d = Dims::new(&lengths, h, i, t * b);
        let run = |threads: usize, reverse: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
            pool.install(|| {
                let per = block_rows(b);
                assert_eq!(per, if threads == 1 { b } else { 9 });
                let (out, ws) = forward_blocks(&d, &x, &w_ih, &w_hh, &bias, &h0, &c0, reverse, per);
                let g = backward_blocks(&d, &x, &w_ih, &w_hh, &ws, &grad, reverse, per);
                [out, g.dx, g.dw_ih, g.dw_hh, g.db, g.dh0, g.dc0]
            })
        };
        for reverse in [false, true] {
            for (one, two) in run(1, reverse).iter().zip(run(2, reverse)) {
                assert_eq!(one.len(), two.len());
                assert!(one.iter().chain(&two).all(|v| v.is_finite()), "a value read before it was written");
                let diff = one.iter().zip(&two).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(diff <= 1e-5, "reverse {reverse}: max |diff| {diff}");
            }
        }
    }
}
