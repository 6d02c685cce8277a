//! A fused, differentiable LSTM layer direction for burn-flex training.
//!
//! Under autodiff the tensor path records ~15 operations per time step (and their backward
//! passes); this op records one for the whole sequence. Forward: one input-projection product for
//! all steps, one `[B, H] × [H, 4H]` product and one vectorized gate pass per step, keeping the
//! gate activations and cell states. Backward (back-propagation through time): one gate-gradient
//! pass and one `[B, 4H] × [4H, H]` product per step, then the weight, bias and input gradients
//! as three products over all steps. Batches of 16 rows or more run in one block of rows per
//! rayon thread ([`blocks`]), each block the whole sequence with single-threaded products (rows
//! never interact), the weight gradients summed over the blocks. The arithmetic is PyTorch's
//! LSTM; results match the tensor path to float rounding (tests in `tests/parity.rs` and the
//! unit tests below).
//!
//! It is a burn backend extension: [`LstmOps`] for burn-flex (host kernels) and for
//! `Autodiff<burn-flex>` (the backward pass). Other backends keep the tensor path.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Device, Tensor};
use kindling_core::cpu::{
    View, flex_f32, flex_from_f32, matmul, recycle, recycle_flex, scratch, sigmoid, tanh, vectorize,
};

use crate::cell::{CellKind, RecurrentCell};

mod blocks;
use blocks::{backward_blocks, block_rows, forward_blocks};

/// The fused LSTM direction as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait LstmOps: Backend {
    /// Runs one LSTM direction over a time-major input.
    ///
    /// `x` `[T*B, I]`, `w_ih` `[4H, I]`, `w_hh` `[4H, H]`, `bias` `[4H]` (`b_ih + b_hh`), `h0`,
    /// `c0` `[B, H]`; `lengths` has one entry per sequence (`t >= length` keeps the state and
    /// outputs zero); `reverse` walks `t = T-1 .. 0`. Returns `[T*B + 2B, H]`: the outputs of
    /// every step, then the final `h`, then the final `c`.
    #[allow(clippy::too_many_arguments)]
    fn lstm_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        lengths: Vec<usize>,
        reverse: bool,
    ) -> FloatTensor<Self>;
}

/// Host kernels behind [`LstmOps`] (burn-flex).
pub trait LstmKernels: Backend {
    /// Forward pass that also returns the workspace its backward pass needs; the batch runs in
    /// blocks of `block_rows` rows (see `block_rows`), which the backward pass must be given too.
    #[allow(clippy::too_many_arguments)]
    fn lstm_forward(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        lengths: &[usize],
        reverse: bool,
        block_rows: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Gradients of `x`, `w_ih`, `w_hh`, `bias`, `h0`, `c0` from the output gradient.
    #[allow(clippy::too_many_arguments)]
    fn lstm_backward(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        workspace: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        lengths: &[usize],
        reverse: bool,
        block_rows: usize,
    ) -> [FloatTensor<Self>; 6];
}

impl LstmOps for Flex {
    fn lstm_sequence(
        x: FlexTensor,
        w_ih: FlexTensor,
        w_hh: FlexTensor,
        bias: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        lengths: Vec<usize>,
        reverse: bool,
    ) -> FlexTensor {
        let rows = block_rows(lengths.len());
        let (out, workspace) = Self::lstm_forward(x, w_ih, w_hh, bias, h0, c0, &lengths, reverse, rows);
        recycle_flex(workspace); // no backward pass: the next call reuses it
        out
    }
}

impl LstmKernels for Flex {
    fn lstm_forward(
        x: FlexTensor,
        w_ih: FlexTensor,
        w_hh: FlexTensor,
        bias: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        lengths: &[usize],
        reverse: bool,
        block_rows: usize,
    ) -> (FlexTensor, FlexTensor) {
        let hd = w_hh.layout().shape()[1];
        let input = w_ih.layout().shape()[1];
        let dims = Dims::new(lengths, hd, input, x.layout().shape()[0]);
        let (out, ws) = forward_blocks(
            &dims,
            &flex_f32(&x),
            &flex_f32(&w_ih),
            &flex_f32(&w_hh),
            &flex_f32(&bias),
            &flex_f32(&h0),
            &flex_f32(&c0),
            reverse,
            block_rows,
        );
        (flex_from_f32(out, [dims.t * dims.b + 2 * dims.b, hd]), flex_from_f32(ws, [1, dims.workspace()]))
    }

    fn lstm_backward(
        x: FlexTensor,
        w_ih: FlexTensor,
        w_hh: FlexTensor,
        workspace: FlexTensor,
        grad: FlexTensor,
        lengths: &[usize],
        reverse: bool,
        block_rows: usize,
    ) -> [FlexTensor; 6] {
        let hd = w_hh.layout().shape()[1];
        let input = w_ih.layout().shape()[1];
        let dims = Dims::new(lengths, hd, input, x.layout().shape()[0]);
        let g = backward_blocks(
            &dims,
            &flex_f32(&x),
            &flex_f32(&w_ih),
            &flex_f32(&w_hh),
            &flex_f32(&workspace),
            &flex_f32(&grad),
            reverse,
            block_rows,
        );
        recycle_flex(workspace); // the next forward pass takes it back (`scratch`)
        let (t, b, g4) = (dims.t, dims.b, 4 * hd);
        [
            flex_from_f32(g.dx, [t * b, input]),
            flex_from_f32(g.dw_ih, [g4, input]),
            flex_from_f32(g.dw_hh, [g4, hd]),
            flex_from_f32(g.db, [g4]),
            flex_from_f32(g.dh0, [b, hd]),
            flex_from_f32(g.dc0, [b, hd]),
        ]
    }
}

#[derive(Debug)]
struct LstmBackward;

impl<B: Backend + LstmKernels> Backward<B, 6> for LstmBackward {
    /// `x`, `w_ih`, `w_hh`, workspace, lengths, reverse, rows per batch block.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, Vec<usize>, bool, usize);

    fn backward(self, ops: Ops<Self::State, 6>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let (x, w_ih, w_hh, ws, lengths, reverse, rows) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let out = B::lstm_backward(x, w_ih, w_hh, ws, grad, &lengths, reverse, rows);
        for (parent, g) in ops.parents.into_iter().zip(out) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + LstmOps + LstmKernels, C: CheckpointStrategy> LstmOps for Autodiff<B, C> {
    fn lstm_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        lengths: Vec<usize>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), w_ih.node(), w_hh.node(), bias.node(), h0.node(), c0.node()];
        let (x, w_ih, w_hh) = (x.into_primitive(), w_ih.into_primitive(), w_hh.into_primitive());
        let (bias, h0, c0) = (bias.into_primitive(), h0.into_primitive(), c0.into_primitive());
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let rows = block_rows(lengths.len());
                let (out, ws) =
                    B::lstm_forward(x.clone(), w_ih.clone(), w_hh.clone(), bias, h0, c0, &lengths, reverse, rows);
                prep.finish((x, w_ih, w_hh, ws, lengths, reverse, rows), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lstm_sequence(x, w_ih, w_hh, bias, h0, c0, lengths, reverse)),
        }
    }
}

/// Whether [`run`] replaces the per-step tensor path for a layer: an LSTM training on
/// burn-flex in f32. Dropout between stacked layers then draws one mask over the whole
/// time-major `[T*B, D*H]` output, which consumes the random stream in the order the per-step
/// masks of the tensor path do (a 2-layer G2P encoder printed the same losses on both paths).
pub(crate) fn applies(kind: CellKind, x: &Tensor<2>) -> bool {
    let device = x.device();
    kind == CellKind::Lstm && device.is_autodiff() && device == Device::flex() && x.dtype() == DType::F32
}

/// One direction of an LSTM layer through the fused op: `x` time-major `[T*B, I]`, `weight_hh`
/// the cell's recurrent matrix (or it under weight dropout). Returns the outputs `[T*B, H]` and
/// the final `h` and `c` `[B, H]`.
pub(crate) fn run(
    cell: &RecurrentCell,
    weight_hh: Tensor<2>,
    x: Tensor<2>,
    h0: Option<Tensor<2>>,
    c0: Option<Tensor<2>>,
    lengths: &[usize],
    reverse: bool,
) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
    let device = x.device();
    let (rows, b, h) = (x.dims()[0], lengths.len(), cell.hidden_size);
    let bias = match (&cell.bias_ih, &cell.bias_hh) {
        (Some(a), Some(c)) => a.val() + c.val(),
        (Some(a), None) | (None, Some(a)) => a.val(),
        (None, None) => Tensor::zeros([4 * h], &device),
    };
    let h0 = h0.unwrap_or_else(|| Tensor::zeros([b, h], &device));
    let c0 = c0.unwrap_or_else(|| Tensor::zeros([b, h], &device));
    let out = Tensor::<2>::from_dispatch(Dispatch::lstm_sequence(
        x.into_dispatch(),
        cell.weight_ih.val().into_dispatch(),
        weight_hh.into_dispatch(),
        bias.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
        lengths.to_vec(),
        reverse,
    ));
    (out.clone().narrow(0, 0, rows), out.clone().narrow(0, rows, b), out.narrow(0, rows + b, b))
}

/// Sizes of one call.
struct Dims<'a> {
    lengths: &'a [usize],
    t: usize,
    b: usize,
    h: usize,
    i: usize,
}

impl<'a> Dims<'a> {
    fn new(lengths: &'a [usize], h: usize, i: usize, rows: usize) -> Self {
        let b = lengths.len();
        Self { lengths, t: rows / b.max(1), b, h, i }
    }

    /// Workspace: gate activations `[T, B, 4H]` (by time), then states `h` and `c`
    /// `[T+1, B, H]` each (by processing step: before step 0, after step 0, ...).
    fn workspace(&self) -> usize {
        self.t * self.b * 4 * self.h + 2 * (self.t + 1) * self.b * self.h
    }

    /// Time index of processing step `s`.
    fn time(&self, s: usize, reverse: bool) -> usize {
        if reverse { self.t - 1 - s } else { s }
    }
}

/// Forward pass: returns the output `[T*B + 2B, H]` and fills the workspace `ws`
/// (`d.workspace()` values; every one is written). Takes `W_hh^T` `[H, 4H]` (see
/// [`kindling_core::cpu::transpose`]): as gemm's left operand of the transposed product it is
/// column-major and gets used in place, instead of being re-packed at every step.
#[allow(clippy::too_many_arguments)]
fn forward(
    d: &Dims<'_>,
    x: &[f32],
    w_ih: &[f32],
    w_hh_t: &[f32],
    bias: &[f32],
    h0: &[f32],
    c0: &[f32],
    reverse: bool,
    parallel: bool,
    ws: &mut [f32],
) -> Vec<f32> {
    let (t_len, b, h, g) = (d.t, d.b, d.h, 4 * d.h);
    let (gates, states) = ws.split_at_mut(t_len * b * g);
    let (hs, cs) = states.split_at_mut((t_len + 1) * b * h);
    // Pre-activations of every step: x W_ih^T + bias, written over the gate area.
    matmul(t_len * b, d.i, g, gates, g, View::rows(x, d.i), View { data: w_ih, rs: 1, cs: d.i }, parallel);
    hs[..b * h].copy_from_slice(h0);
    cs[..b * h].copy_from_slice(c0);
    let mut hp = vec![0.0f32; b * g];
    let mut out = vec![0.0f32; (t_len + 2) * b * h];
    for s in 0..t_len {
        let t = d.time(s, reverse);
        let (h_prev, h_next) = hs[s * b * h..(s + 2) * b * h].split_at_mut(b * h);
        let (c_prev, c_next) = cs[s * b * h..(s + 2) * b * h].split_at_mut(b * h);
        matmul(b, h, g, &mut hp, g, View::rows(h_prev, h), View::rows(w_hh_t, g), parallel);
        let step_gates = &mut gates[t * b * g..(t + 1) * b * g];
        vectorize(
            #[inline(always)]
            || {
                for r in 0..b {
                    let (hp_r, hn, cn) =
                        (&hp[r * g..(r + 1) * g], &mut h_next[r * h..(r + 1) * h], &mut c_next[r * h..(r + 1) * h]);
                    let (ho, co) = (&h_prev[r * h..(r + 1) * h], &c_prev[r * h..(r + 1) * h]);
                    if t >= d.lengths[r] {
                        hn.copy_from_slice(ho);
                        cn.copy_from_slice(co);
                        continue;
                    }
                    let a = &mut step_gates[r * g..(r + 1) * g];
                    for (v, (&p, &bv)) in a.iter_mut().zip(hp_r.iter().zip(bias)) {
                        *v += p + bv;
                    }
                    let (ai, rest) = a.split_at_mut(h);
                    let (af, rest) = rest.split_at_mut(h);
                    let (ag, ao) = rest.split_at_mut(h);
                    for j in 0..h {
                        let i = sigmoid(ai[j]);
                        let f = sigmoid(af[j]);
                        let gg = tanh(ag[j]);
                        let o = sigmoid(ao[j]);
                        let c = f.mul_add(co[j], i * gg);
                        (ai[j], af[j], ag[j], ao[j]) = (i, f, gg, o);
                        cn[j] = c;
                        hn[j] = o * tanh(c);
                    }
                }
            },
        );
        for r in 0..b {
            if t < d.lengths[r] {
                out[(t * b + r) * h..(t * b + r + 1) * h].copy_from_slice(&h_next[r * h..(r + 1) * h]);
            }
        }
    }
    out[t_len * b * h..(t_len + 1) * b * h].copy_from_slice(&hs[t_len * b * h..]);
    out[(t_len + 1) * b * h..].copy_from_slice(&cs[t_len * b * h..]);
    out
}

/// Gradients of one call.
struct Grads {
    dx: Vec<f32>,
    dw_ih: Vec<f32>,
    dw_hh: Vec<f32>,
    db: Vec<f32>,
    dh0: Vec<f32>,
    dc0: Vec<f32>,
}

/// Back-propagation through time from the output gradient `grad` `[T*B + 2B, H]`.
#[allow(clippy::too_many_arguments)]
fn backward(
    d: &Dims<'_>,
    x: &[f32],
    w_ih: &[f32],
    w_hh: &[f32],
    ws: &[f32],
    grad: &[f32],
    reverse: bool,
    parallel: bool,
) -> Grads {
    let (t_len, b, h, g) = (d.t, d.b, d.h, 4 * d.h);
    let (gates, states) = ws.split_at(t_len * b * g);
    let (hs, cs) = states.split_at((t_len + 1) * b * h);
    let mut dh = grad[t_len * b * h..(t_len + 1) * b * h].to_vec();
    let mut dc = grad[(t_len + 1) * b * h..].to_vec();
    // Pre-activation gradients by time `[T*B, 4H]` and the matching previous `h`: every value
    // is written below (recycled workspaces, see `scratch`).
    let mut dp = scratch(t_len * b * g);
    let mut h_prev_t = scratch(t_len * b * h);
    let mut dh_rec = vec![0.0f32; b * h];
    for s in (0..t_len).rev() {
        let t = d.time(s, reverse);
        h_prev_t[t * b * h..(t + 1) * b * h].copy_from_slice(&hs[s * b * h..(s + 1) * b * h]);
        let (c_prev, c_cur) = (&cs[s * b * h..(s + 1) * b * h], &cs[(s + 1) * b * h..(s + 2) * b * h]);
        let step_dp = &mut dp[t * b * g..(t + 1) * b * g];
        vectorize(
            #[inline(always)]
            || {
                for r in 0..b {
                    if t >= d.lengths[r] {
                        step_dp[r * g..(r + 1) * g].fill(0.0);
                        continue; // state and its gradient pass through unchanged
                    }
                    let a = &gates[(t * b + r) * g..(t * b + r + 1) * g];
                    let (ai, af, ag, ao) = (&a[..h], &a[h..2 * h], &a[2 * h..3 * h], &a[3 * h..g]);
                    let go = &grad[(t * b + r) * h..(t * b + r + 1) * h];
                    let (dhr, dcr) = (&mut dh[r * h..(r + 1) * h], &mut dc[r * h..(r + 1) * h]);
                    let (cp, cc) = (&c_prev[r * h..(r + 1) * h], &c_cur[r * h..(r + 1) * h]);
                    let (pi, rest) = step_dp[r * g..(r + 1) * g].split_at_mut(h);
                    let (pf, rest) = rest.split_at_mut(h);
                    let (pg, po) = rest.split_at_mut(h);
                    for j in 0..h {
                        let (i, f, gg, o) = (ai[j], af[j], ag[j], ao[j]);
                        let dhj = dhr[j] + go[j];
                        let tc = tanh(cc[j]);
                        let dct = (dhj * o).mul_add(1.0 - tc * tc, dcr[j]);
                        pi[j] = dct * gg * i * (1.0 - i);
                        pf[j] = dct * cp[j] * f * (1.0 - f);
                        pg[j] = dct * i * (1.0 - gg * gg);
                        po[j] = dhj * tc * o * (1.0 - o);
                        dcr[j] = dct * f;
                    }
                }
            },
        );
        // dh_prev = dP W_hh for the running sequences; finished ones keep dh.
        matmul(b, g, h, &mut dh_rec, h, View::rows(step_dp, g), View::rows(w_hh, h), parallel);
        for r in 0..b {
            if t < d.lengths[r] {
                dh[r * h..(r + 1) * h].copy_from_slice(&dh_rec[r * h..(r + 1) * h]);
            }
        }
    }
    let rows = t_len * b;
    let mut dw_ih = vec![0.0f32; g * d.i];
    let mut dw_hh = vec![0.0f32; g * h];
    let mut dx = vec![0.0f32; rows * d.i];
    let dp_t = View { data: &dp, rs: 1, cs: g };
    matmul(g, rows, d.i, &mut dw_ih, d.i, dp_t, View::rows(x, d.i), parallel);
    matmul(g, rows, h, &mut dw_hh, h, dp_t, View::rows(&h_prev_t, h), parallel);
    matmul(rows, g, d.i, &mut dx, d.i, View::rows(&dp, g), View::rows(w_ih, d.i), parallel);
    let mut db = vec![0.0f32; g];
    for row in dp.chunks_exact(g) {
        db.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    recycle(dp);
    recycle(h_prev_t);
    Grads { dx, dw_ih, dw_hh, db, dh0: dh, dc0: dc }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kindling_core::cpu::transpose;

    pub(super) fn val(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(seed * 40503) % 1000) as f32 / 1000.0 - 0.5)
            .collect()
    }

    /// Finite differences of a scalar loss `sum(out * w)` against the analytic gradients.
    #[test]
    fn gradients_match_finite_differences() {
        let (t, b, h, i) = (4, 3, 5, 2);
        let lengths = [4, 2, 3];
        let (x, w_ih, w_hh, bias) = (val(t * b * i, 1), val(4 * h * i, 2), val(4 * h * h, 3), val(4 * h, 4));
        let (h0, c0) = (val(b * h, 5), val(b * h, 6));
        let weights = val((t + 2) * b * h, 7);
        for reverse in [false, true] {
            let d = Dims::new(&lengths, h, i, t * b);
            let loss = |x: &[f32], w_ih: &[f32], w_hh: &[f32], bias: &[f32], h0: &[f32], c0: &[f32]| -> f64 {
                let w_hh_t = transpose(w_hh, 4 * h, h);
                let out = forward(&d, x, w_ih, &w_hh_t, bias, h0, c0, reverse, false, &mut vec![0.0; d.workspace()]);
                out.iter().zip(&weights).map(|(&o, &w)| f64::from(o) * f64::from(w)).sum()
            };
            let mut ws = vec![0.0; d.workspace()];
            forward(&d, &x, &w_ih, &transpose(&w_hh, 4 * h, h), &bias, &h0, &c0, reverse, false, &mut ws);
            let grads = backward(&d, &x, &w_ih, &w_hh, &ws, &weights, reverse, false);
            let inputs = [&x, &w_ih, &w_hh, &bias, &h0, &c0];
            let analytic = [&grads.dx, &grads.dw_ih, &grads.dw_hh, &grads.db, &grads.dh0, &grads.dc0];
            for (which, (v, g)) in inputs.iter().zip(analytic).enumerate() {
                for k in (0..v.len()).step_by(3) {
                    let eps = 1e-2f32;
                    let mut args: Vec<Vec<f32>> = inputs.iter().map(|a| a.to_vec()).collect();
                    args[which][k] += eps;
                    let up = loss(&args[0], &args[1], &args[2], &args[3], &args[4], &args[5]);
                    args[which][k] -= 2.0 * eps;
                    let down = loss(&args[0], &args[1], &args[2], &args[3], &args[4], &args[5]);
                    let numeric = (up - down) / (2.0 * f64::from(eps));
                    assert!(
                        (numeric - f64::from(g[k])).abs() < 2e-3,
                        "reverse {reverse}, input {which}[{k}]: numeric {numeric} vs analytic {}",
                        g[k]
                    );
                }
            }
        }
    }
}
