//! SMO for binary C-SVC on a precomputed kernel matrix.
//!
//! This is linfa-svm 0.8.1's `solver_smo` (itself a port of libsvm's `Solver`) restricted to C-SVC
//! without shrinking, reading a kernel matrix computed beforehand with a blocked matrix product instead of
//! linfa-kernel's per-pair loop, and reading rows contiguously. Working-set selection (second-order,
//! Fan, Chen & Lin 2005), the two-variable update, the stopping rule `Gmax + Gmax2 < eps` and the bias
//! computation are the same, so the solutions agree with linfa-svm's (checked by a test). linfa-svm is
//! MIT/Apache-2.0, Copyright (c) 2020 the linfa developers.

/// Rows of a symmetric kernel matrix over the samples of one binary problem.
pub(crate) trait KernelRows {
    /// Number of samples.
    fn len(&self) -> usize;
    /// Row `i`: `K(x_i, x_j)` for every `j`.
    fn row(&self, i: usize) -> &[f32];
    /// `K(x_i, x_i)`.
    fn diag(&self, i: usize) -> f64 {
        f64::from(self.row(i)[i])
    }
}

/// A dense row-major `n x n` kernel matrix.
pub(crate) struct DenseKernel<'a> {
    pub(crate) n: usize,
    pub(crate) values: &'a [f32],
}

impl KernelRows for DenseKernel<'_> {
    fn len(&self) -> usize {
        self.n
    }
    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.n..(i + 1) * self.n]
    }
}

/// Solution of one binary problem.
#[derive(Debug, Clone)]
pub(crate) struct BinarySolution {
    /// Signed dual coefficients `y_i * alpha_i` (zero for non-support vectors).
    pub(crate) coef: Vec<f64>,
    /// Bias: the decision is `sum_i coef_i K(x_i, x) - rho`.
    pub(crate) rho: f64,
    /// SMO iterations run.
    pub(crate) iterations: usize,
    /// Whether the stopping rule was met before the iteration cap.
    pub(crate) converged: bool,
}

/// Solves `min 1/2 a'Qa - e'a, y'a = 0, 0 <= a_i <= c` with `Q_ij = y_i y_j K_ij`.
pub(crate) fn solve(kernel: &dyn KernelRows, positive: &[bool], c: f64, eps: f64, max_iter: usize) -> BinarySolution {
    let n = kernel.len();
    let y: Vec<f64> = positive.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
    let mut alpha = vec![0.0f64; n];
    let mut grad = vec![-1.0f64; n];
    let diag: Vec<f64> = (0..n).map(|i| kernel.diag(i)).collect();
    let upper = |a: f64| a >= c;
    let lower = |a: f64| a <= 0.0;
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iter {
        // i: max of -y_t G_t over I_up; Gmax2: max of y_t G_t over I_low.
        let (mut gmax, mut gmax_idx, mut gmax2) = (f64::NEG_INFINITY, usize::MAX, f64::NEG_INFINITY);
        for t in 0..n {
            let in_up = if y[t] > 0.0 { !upper(alpha[t]) } else { !lower(alpha[t]) };
            let in_low = if y[t] > 0.0 { !lower(alpha[t]) } else { !upper(alpha[t]) };
            let v = -y[t] * grad[t];
            if in_up && v >= gmax {
                gmax = v;
                gmax_idx = t;
            }
            if in_low && -v >= gmax2 {
                gmax2 = -v;
            }
        }
        if gmax_idx == usize::MAX || gmax + gmax2 < eps {
            converged = true;
            break;
        }
        let i = gmax_idx;
        let ki = kernel.row(i);
        // j: second-order choice among I_low with Gmax + y_j G_j > 0.
        let (mut best, mut j) = (f64::INFINITY, usize::MAX);
        for t in 0..n {
            let in_low = if y[t] > 0.0 { !lower(alpha[t]) } else { !upper(alpha[t]) };
            if !in_low {
                continue;
            }
            let b = gmax + y[t] * grad[t];
            if b > 0.0 {
                let a = diag[i] + diag[t] - 2.0 * f64::from(ki[t]);
                let a = if a > 0.0 { a } else { 1e-12 };
                let obj = -(b * b) / a;
                if obj <= best {
                    best = obj;
                    j = t;
                }
            }
        }
        if j == usize::MAX {
            converged = true;
            break;
        }
        iterations += 1;
        let kj = kernel.row(j);
        let (old_i, old_j) = (alpha[i], alpha[j]);
        let qij = y[i] * y[j] * f64::from(ki[j]);
        if y[i] != y[j] {
            let quad = (diag[i] + diag[j] + 2.0 * qij).max(1e-12);
            let delta = (-grad[i] - grad[j]) / quad;
            let diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if diff > 0.0 {
                if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = diff;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = -diff;
            }
            if diff > 0.0 {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = c - diff;
                }
            } else if alpha[j] > c {
                alpha[j] = c;
                alpha[i] = c + diff;
            }
        } else {
            let quad = (diag[i] + diag[j] - 2.0 * qij).max(1e-12);
            let delta = (grad[i] - grad[j]) / quad;
            let sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if sum > c {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = sum - c;
                }
            } else if alpha[j] < 0.0 {
                alpha[j] = 0.0;
                alpha[i] = sum;
            }
            if sum > c {
                if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = sum - c;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = sum;
            }
        }
        // G_t += Q_ti da_i + Q_tj da_j, with Q_ti = y_t y_i K_ti.
        let (di, dj) = ((alpha[i] - old_i) * y[i], (alpha[j] - old_j) * y[j]);
        for t in 0..n {
            grad[t] += y[t] * (f64::from(ki[t]) * di + f64::from(kj[t]) * dj);
        }
    }
    let rho = bias(&y, &alpha, &grad, c);
    let coef = alpha.iter().zip(&y).map(|(a, y)| a * y).collect();
    BinarySolution { coef, rho, iterations, converged }
}

/// libsvm's `calculate_rho`: the mean of `y_i G_i` over free variables, else the middle of the feasible range.
fn bias(y: &[f64], alpha: &[f64], grad: &[f64], c: f64) -> f64 {
    let (mut ub, mut lb, mut sum, mut free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for t in 0..y.len() {
        let yg = y[t] * grad[t];
        if alpha[t] >= c {
            if y[t] > 0.0 { lb = lb.max(yg) } else { ub = ub.min(yg) }
        } else if alpha[t] <= 0.0 {
            if y[t] > 0.0 { ub = ub.min(yg) } else { lb = lb.max(yg) }
        } else {
            free += 1;
            sum += yg;
        }
    }
    if free > 0 { sum / free as f64 } else { (ub + lb) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_points_get_the_max_margin_solution() {
        // 1-D points -2, -1 (negative) and 1, 2 (positive), linear kernel: the optimum uses the inner
        // pair with alpha = 1/2 each (w = 1, b = 0).
        let x = [-2.0f32, -1.0, 1.0, 2.0];
        let values: Vec<f32> = x.iter().flat_map(|a| x.iter().map(move |b| a * b)).collect();
        let k = DenseKernel { n: 4, values: &values };
        let s = solve(&k, &[false, false, true, true], 10.0, 1e-9, 1000);
        assert!(s.converged);
        let expect = [0.0, -0.5, 0.5, 0.0];
        for (c, e) in s.coef.iter().zip(expect) {
            assert!((c - e).abs() < 1e-9, "{:?}", s.coef);
        }
        assert!(s.rho.abs() < 1e-9);
    }

    #[test]
    fn box_constraint_caps_the_coefficients() {
        // Overlapping classes: every coefficient stays within [-C, C] and the decision still ranks them.
        let x = [-1.0f32, 0.5, -0.5, 1.0];
        let values: Vec<f32> = x.iter().flat_map(|a| x.iter().map(move |b| a * b)).collect();
        let k = DenseKernel { n: 4, values: &values };
        let c = 0.1;
        let s = solve(&k, &[false, false, true, true], c, 1e-9, 1000);
        assert!(s.coef.iter().all(|a| a.abs() <= c + 1e-12), "{:?}", s.coef);
        assert!(s.coef.iter().sum::<f64>().abs() < 1e-12, "y'a = 0");
        let decision = |t: usize| (0..4).map(|i| s.coef[i] * f64::from(values[i * 4 + t])).sum::<f64>() - s.rho;
        assert!(decision(3) > decision(0));
    }
}
