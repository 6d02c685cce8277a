//! Elman RNN step (PyTorch `nn.RNN` with `tanh`).

use burn::tensor::Tensor;

/// `h' = tanh(pre)`, where `pre = W_ih x + b_ih + W_hh h + b_hh`.
pub(crate) fn step(pre: Tensor<2>) -> Tensor<2> {
    crate::act::tanh(pre)
}
