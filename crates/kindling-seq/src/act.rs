//! Gate nonlinearities built from `exp`.
//!
//! burn-flex evaluates `sigmoid` and `tanh` with scalar libm calls, and burn's autodiff recomputes
//! them in the backward pass. Composing them from one `exp` and cheap vectorised arithmetic is
//! 2x (sigmoid) to 5x (tanh) faster forward and backward on this backend, and exact to ~1e-7.

use burn::tensor::Tensor;

/// `sigmoid(x) = 1 / (1 + exp(-x))`; saturates cleanly (`exp` overflow gives 0, never NaN).
pub(crate) fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    (x.neg().exp() + 1.0).recip()
}

/// `tanh(x) = 2 * sigmoid(2x) - 1`.
pub(crate) fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x * 2.0) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use burn::tensor::Tensor;

    #[test]
    fn matches_reference_functions() {
        let d = kindling_core::default_device();
        let xs: Vec<f32> = (-200..=200).map(|i| i as f32 * 0.25).collect();
        let t = Tensor::<1>::from_floats(xs.as_slice(), &d);
        let s = kindling_core::tensor::to_vec_f32(super::sigmoid(t.clone())).expect("test value");
        let h = kindling_core::tensor::to_vec_f32(super::tanh(t)).expect("test value");
        for (i, &x) in xs.iter().enumerate() {
            assert!((s[i] - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "sigmoid({x})");
            assert!((h[i] - x.tanh()).abs() < 1e-6, "tanh({x}) = {} vs {}", h[i], x.tanh());
        }
    }
}
