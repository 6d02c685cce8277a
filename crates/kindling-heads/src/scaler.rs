//! Feature standardisation (scikit-learn's `StandardScaler`).

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Per-feature `(x - mean) / std`, fitted on training features. Constant features get `std = 1`.
///
/// ```
/// use kindling_heads::Standardizer;
/// let x = ndarray::array![[1.0f32, 5.0], [3.0, 5.0]];
/// let s = Standardizer::fit(x.view());
/// let z = s.transform(x.view());
/// assert_eq!(z, ndarray::array![[-1.0, 0.0], [1.0, 0.0]]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Feature means.
    pub mean: Array1<f64>,
    /// Feature standard deviations (population, `ddof = 0`), 1 where a feature is constant.
    pub std: Array1<f64>,
}

impl Standardizer {
    /// Means and standard deviations of the columns of `x`.
    pub fn fit(x: ArrayView2<'_, f32>) -> Self {
        let x = x.mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()));
        let std = x.std_axis(Axis(0), 0.0).mapv(|s| if s > 1e-12 { s } else { 1.0 });
        Standardizer { mean, std }
    }

    /// The identity transform for `d` features.
    pub fn identity(d: usize) -> Self {
        Standardizer { mean: Array1::zeros(d), std: Array1::ones(d) }
    }

    /// Standardised copy of `x` in `f64`.
    pub fn transform(&self, x: ArrayView2<'_, f32>) -> Array2<f64> {
        let mut z = x.mapv(f64::from);
        z -= &self.mean;
        z /= &self.std;
        z
    }
}
