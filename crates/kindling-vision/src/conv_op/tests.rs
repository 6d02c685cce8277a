//! The op's kernels against the definition of a convolution and finite differences.

use super::*;

fn val(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|k| ((k as u32).wrapping_mul(2654435761).wrapping_add(seed * 40503) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// Direct convolution, the definition.
fn direct(g: &Geom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; g.n * g.co * g.ohow()];
    for n in 0..g.n {
        for o in 0..g.co {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = b[o];
                    for c in 0..g.c {
                        for ki in 0..g.kh {
                            for kj in 0..g.kw {
                                let iy = (oy * g.sh + ki) as isize - g.pt as isize;
                                let ix = (ox * g.sw + kj) as isize - g.pl as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                    let xi = ((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize;
                                    s += x[xi] * w[((o * g.c + c) * g.kh + ki) * g.kw + kj];
                                }
                            }
                        }
                    }
                    y[((n * g.co + o) * g.oh + oy) * g.ow + ox] = s;
                }
            }
        }
    }
    y
}

/// Forward against the definition, backward against finite differences of `sum(y · r)`,
/// over strides, asymmetric padding, 1×1, grouped and single-image products, narrow maps
/// (zero-bordered planes) and wide ones.
#[test]
fn matches_direct_convolution_and_finite_differences() {
    let cases = [
        ([3, 2, 7, 6], [4, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
        ([1, 3, 8, 9], [2, 3, 3, 2], [2, 2, 0, 1, 1, 0]),
        ([2, 4, 5, 5], [3, 4, 1, 1], [1, 1, 0, 0, 0, 0]),
        ([2, 2, 9, 7], [2, 2, 5, 5], [2, 3, 2, 2, 2, 2]),
        // Large enough for one image per product (1×1 in place).
        ([2, 3, 24, 20], [2, 3, 1, 1], [1, 1, 0, 0, 0, 0]),
        // Output rows of 16 and more: im2col row by row (the narrower ones through padded planes).
        ([3, 2, 20, 20], [2, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
        ([1, 2, 40, 36], [2, 2, 3, 3], [2, 2, 1, 1, 1, 1]),
        // Stride 1 with 5×5 kernels and asymmetric padding.
        ([2, 3, 6, 7], [2, 3, 5, 5], [1, 1, 2, 2, 2, 2]),
        ([2, 2, 5, 6], [3, 2, 2, 2], [1, 1, 0, 1, 0, 1]),
        ([1, 2, 4, 5], [2, 2, 3, 3], [1, 1, 0, 2, 1, 1]),
    ];
    for (xs, ws, spec) in cases {
        let g = Geom::new(&xs, &ws, spec);
        assert!(!shifted::applies(&g), "{xs:?} {ws:?}: im2col cases");
        // Column matrices are kept for the backward pass unless each image is its own.
        let own = g.pointwise() && Plan::new(&g).groups == g.n;
        assert_eq!(check(xs, ws, spec), !own, "{xs:?} {ws:?}: column matrices kept");
    }
}

/// An empty batch gives an empty output and gradients of the right sizes, on every path.
#[test]
fn empty_batch() {
    for (xs, ws, spec) in
        [([0, 2, 24, 24], [3, 2, 3, 3], [1, 1, 1, 1, 1, 1]), ([0, 2, 5, 5], [3, 2, 3, 3], [2, 2, 1, 1, 1, 1])]
    {
        let g = Geom::new(&xs, &ws, spec);
        let (x, w) = (Vec::new(), val(ws.iter().product(), 1));
        assert!(forward(&g, &x, &w, &[], true).0.is_empty());
        let [dx, dw, _] = backward(&g, &x, &w, &[], [true, true, false], None);
        assert_eq!((dx.map(|d| d.len()), dw.map(|d| d.len())), (Some(0), Some(w.len())));
    }
}

/// The same for stride-1 convolutions through the shifted-image products: one image and
/// groups of images per product, a non-square kernel with asymmetric padding.
#[test]
fn shifted_products_match_direct_convolution_and_finite_differences() {
    let cases = [
        ([2, 2, 24, 24], [2, 2, 3, 3], [1, 1, 1, 1, 1, 1]),
        ([5, 2, 11, 11], [3, 2, 2, 2], [1, 1, 0, 1, 0, 1]),
        ([2, 2, 24, 23], [2, 2, 2, 3], [1, 1, 0, 1, 1, 1]),
    ];
    for (xs, ws, spec) in cases {
        let g = Geom::new(&xs, &ws, spec);
        assert!(shifted::applies(&g), "{xs:?} {ws:?}: shifted-image cases");
        assert_eq!(Plan::new(&g).groups < xs[0], xs[0] == 5, "{xs:?}: grouping");
        check(xs, ws, spec);
    }
}

/// The weight gradient summed transposed (many output positions, [`transposed_dw`]) against its
/// definition `dW[o, c, ki, kj] = Σ dY[n, o, oy, ox] · X[n, c, oy·sh + ki − pt, ox·sw + kj − pl]`,
/// from kept and from rebuilt column matrices, and for 1×1 convolutions whose images are their own.
#[test]
fn transposed_weight_gradient_matches_its_definition() {
    let cases =
        [([3, 2, 96, 90], [3, 2, 3, 3], [2, 2, 1, 1, 1, 0]), ([2, 3, 48, 48], [4, 3, 1, 1], [1, 1, 0, 0, 0, 0])];
    for (xs, ws, spec) in cases {
        let g = Geom::new(&xs, &ws, spec);
        assert!(transposed_dw(&g) && !shifted::applies(&g), "{xs:?}: transposed weight-gradient case");
        let (x, w) = (val(xs.iter().product(), 1), val(ws.iter().product(), 2));
        let (y, kept) = forward(&g, &x, &w, &[], true);
        let dy = val(y.len(), 4);
        let mut want = vec![0.0f64; w.len()];
        for (n, o, oy, ox) in output_positions(g.n, g.co, g.oh, g.ow) {
            let d = f64::from(dy[((n * g.co + o) * g.oh + oy) * g.ow + ox]);
            for c in 0..g.c {
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        let (iy, ix) =
                            ((oy * g.sh + ki) as isize - g.pt as isize, (ox * g.sw + kj) as isize - g.pl as isize);
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            let xv = x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                            want[((o * g.c + c) * g.kh + ki) * g.kw + kj] += d * f64::from(xv);
                        }
                    }
                }
            }
        }
        for kept in [kept.as_ref(), None] {
            let [_, dw, _] = backward(&g, &x, &w, &dy, [false, true, false], kept);
            let dw = dw.unwrap_or_default();
            assert_eq!(dw.len(), want.len());
            for (k, (&got, &want)) in dw.iter().zip(&want).enumerate() {
                assert!((f64::from(got) - want).abs() < 1e-3 * (1.0 + want.abs()), "{xs:?} dW[{k}]: {got} vs {want}");
            }
        }
    }
}

/// Every `(n, o, oy, ox)` of an output `[N, Co, OH, OW]`.
fn output_positions(n: usize, co: usize, oh: usize, ow: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (0..n).flat_map(move |a| (0..co).flat_map(move |b| (0..oh).flat_map(move |c| (0..ow).map(move |d| (a, b, c, d)))))
}

/// Checks one convolution; returns whether its forward pass kept the column matrices.
fn check(xs: [usize; 4], ws: [usize; 4], spec: [usize; 6]) -> bool {
    let g = Geom::new(&xs, &ws, spec);
    let (x, w, b) = (val(xs.iter().product(), 1), val(ws.iter().product(), 2), val(ws[0], 3));
    let (y, kept) = forward(&g, &x, &w, &b, true);
    let reference = direct(&g, &x, &w, &b);
    let max = y.iter().zip(&reference).map(|(a, r)| (a - r).abs()).fold(0.0f32, f32::max);
    assert!(max < 1e-5, "{xs:?} {ws:?} {spec:?}: forward off by {max}");
    let r = val(y.len(), 4);
    let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
        direct(&g, x, w, b).iter().zip(&r).map(|(&a, &c)| f64::from(a) * f64::from(c)).sum()
    };
    let [dx, dw, db] = backward(&g, &x, &w, &r, [true, true, true], None);
    // The kept column matrices give the very same gradients as rebuilt ones.
    assert_eq!(backward(&g, &x, &w, &r, [true, true, true], kept.as_ref()), [dx.clone(), dw.clone(), db.clone()]);
    let analytic = [dx.unwrap_or_default(), dw.unwrap_or_default(), db.unwrap_or_default()];
    for (which, grad) in analytic.iter().enumerate() {
        let len = [x.len(), w.len(), b.len()][which];
        assert_eq!(grad.len(), len);
        for k in (0..len).step_by(5) {
            let mut args = [x.clone(), w.clone(), b.clone()];
            args[which][k] += 1e-2;
            let up = loss(&args[0], &args[1], &args[2]);
            args[which][k] -= 2e-2;
            let down = loss(&args[0], &args[1], &args[2]);
            let numeric = (up - down) / 2e-2;
            assert!((numeric - f64::from(grad[k])).abs() < 1e-3, "{xs:?} input {which}[{k}]: {numeric} vs {}", grad[k]);
        }
    }
    let [dx, dw, db] = backward(&g, &x, &w, &r, [false, true, false], kept.as_ref());
    assert!(dx.is_none() && db.is_none() && dw.is_some());
    kept.is_some()
}
