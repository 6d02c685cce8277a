//! GRU step (PyTorch `nn.GRU`, gate order `r, z, n`).

use burn::tensor::Tensor;

use crate::act::{sigmoid, tanh};

/// One GRU step.
///
/// `xp = W_ih x + b_ih + [b_hr, b_hz, 0]` and `hidden = W_hh h`, both `[B, 3H]`; `b_hn` `[1, H]`
/// enters inside the reset product as in PyTorch:
/// `r, z = sigmoid(xp_rz + hidden_rz)`, `n = tanh(xp_n + r * (hidden_n + b_hn))`,
/// `h' = (1 - z) * n + z * h = n + z * (h - n)`.
pub(crate) fn step(
    xp: Tensor<2>,
    hidden: Tensor<2>,
    h_prev: Tensor<2>,
    b_hn: Option<Tensor<2>>,
    h: usize,
) -> Tensor<2> {
    let rz = sigmoid(xp.clone().narrow(1, 0, 2 * h) + hidden.clone().narrow(1, 0, 2 * h));
    let r = rz.clone().narrow(1, 0, h);
    let z = rz.narrow(1, h, h);
    let mut hn = hidden.narrow(1, 2 * h, h);
    if let Some(b) = b_hn {
        hn = hn + b;
    }
    let n = tanh(xp.narrow(1, 2 * h, h) + r * hn);
    n.clone() + z * (h_prev - n)
}
