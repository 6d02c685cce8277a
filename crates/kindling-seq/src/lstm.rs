//! LSTM step (PyTorch `nn.LSTM`, gate order `i, f, g, o`).

use burn::tensor::Tensor;

use crate::act::{sigmoid, tanh};

/// One LSTM step from the fused pre-activations `pre = W_ih x + b_ih + W_hh h + b_hh` `[B, 4H]`.
///
/// All four gates go through one sigmoid: `scale` `[1, 4H]` doubles the cell gate's
/// pre-activation first, since `tanh(a) = 2 sigmoid(2a) - 1`. Then
/// `c' = f * c + i * g` and `h' = o * tanh(c')`.
pub(crate) fn step(pre: Tensor<2>, c: Tensor<2>, scale: Tensor<2>, h: usize) -> (Tensor<2>, Tensor<2>) {
    let s = sigmoid(pre * scale);
    let i = s.clone().narrow(1, 0, h);
    let f = s.clone().narrow(1, h, h);
    let g = s.clone().narrow(1, 2 * h, h) * 2.0 - 1.0;
    let o = s.narrow(1, 3 * h, h);
    let c = f * c + i * g;
    let h = o * tanh(c.clone());
    (h, c)
}
