//! Stride-1 convolutions without a column matrix. With the images zero-padded and their planes
//! flattened row by row (`wp` values per padded row), output position `(oy, ox)` sits at
//! `p = oy·wp + ox` and kernel tap `(ki, kj)` reads the padded plane at `p + ki·wp + kj`: each tap
//! is one product of the tap's `[Co, C]` weights with the padded images read at an offset, and the
//! convolution is their sum. The im2col matrix (`kh·kw` copies of the input, written and read
//! again by every pass) is never built; the price is computing the `wp − OW` columns between
//! padded rows, discarded, so the path takes maps whose padding adds little ([`applies`]).
//!
//! The weight gradient per tap is `dY · shift(X)ᵀ` and the input gradient adds `W_tapᵀ · dY` at
//! the tap's offset into the padded gradient, with the discarded columns of `dY` set to zero.

use kindling_core::cpu::{View, matmul, matmul_add};

use super::{Geom, Scratch};

/// Most padded positions per output position the path accepts: 56×56 and 28×28 maps padded by
/// one (1.07, 1.15); from 14×14 (1.31) the per-tap products lose more than im2col costs.
const MAX_SPREAD: f64 = 1.2;

/// Padded plane height and width.
fn padded(g: &Geom) -> (usize, usize) {
    (g.oh + g.kh - 1, g.ow + g.kw - 1)
}

/// Whether `g` is a stride-1 convolution with a kernel wider than 1×1 on maps large enough.
pub(super) fn applies(g: &Geom) -> bool {
    let (hp, wp) = padded(g);
    g.sh == 1 && g.sw == 1 && g.kh * g.kw > 1 && (hp * wp) as f64 <= MAX_SPREAD * g.ohow() as f64
}

/// The weight `[Co, C, kh, kw]` tap-major: `kh·kw` matrices `[Co, C]`.
pub(super) fn tap_major(g: &Geom, w: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let mut out = vec![0.0f32; w.len()];
    for (oc, kernel) in w.chunks_exact(taps).enumerate() {
        for (t, &v) in kernel.iter().enumerate() {
            out[t * g.co * g.c + oc] = v;
        }
    }
    out
}

/// The inverse of [`tap_major`].
pub(super) fn from_tap_major(g: &Geom, t_major: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let mut out = vec![0.0f32; t_major.len()];
    for (t, matrix) in t_major.chunks_exact(g.co * g.c).enumerate() {
        for (oc, &v) in matrix.iter().enumerate() {
            out[oc * taps + t] = v;
        }
    }
    out
}

/// Sizes of a group of `k` images: (padded plane, columns computed per product).
fn span(g: &Geom, k: usize) -> (usize, usize) {
    let (hp, wp) = padded(g);
    (hp * wp, (k - 1) * hp * wp + (g.oh - 1) * wp + g.ow)
}

/// The group's images padded, channel-major: `[C, k, hp·wp]` in `xp`, each value written once.
fn pad(g: &Geom, x: &[f32], images: std::ops::Range<usize>, xp: &mut Vec<f32>) {
    let ((hp, wp), (chw, hw)) = (padded(g), (g.c * g.h * g.w, g.h * g.w));
    let zeros = |xp: &mut Vec<f32>, n: usize| xp.resize(xp.len() + n, 0.0);
    xp.clear();
    xp.reserve(g.c * images.len() * hp * wp);
    for c in 0..g.c {
        for n in images.clone() {
            zeros(xp, g.pt * wp);
            for row in x[n * chw + c * hw..][..hw].chunks_exact(g.w) {
                zeros(xp, g.pl);
                xp.extend_from_slice(row);
                zeros(xp, wp - g.pl - g.w);
            }
            zeros(xp, (hp - g.pt - g.h) * wp);
        }
    }
}

/// `len` values in `buf` for a product to overwrite: kept as they are when the length matches
/// (the previous group's, no zero-filling pass), else resized.
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() != len {
        buf.clear();
        buf.resize(len, 0.0);
    }
    buf
}

/// Where tap `t` (row-major over the kernel) reads the padded plane, relative to the output position.
fn tap_offset(g: &Geom, t: usize) -> usize {
    let (_, wp) = padded(g);
    (t / g.kw) * wp + t % g.kw
}

/// Forward of one group: `dst` (`[k, Co, OH, OW]`) without bias.
pub(super) fn forward_group(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    images: std::ops::Range<usize>,
    dst: &mut [f32],
    scratch: &mut Scratch,
    par: bool,
) {
    let k = images.len();
    let (plane, n) = span(g, k);
    let (_, wp) = padded(g);
    let Scratch { cols: xp, block: yp, .. } = scratch;
    pad(g, x, images, xp);
    let yp = sized(yp, g.co * n);
    for (t, wt) in wt.chunks_exact(g.co * g.c).enumerate() {
        let b = View { data: &xp[tap_offset(g, t)..], rs: k * plane, cs: 1 };
        let a = View::rows(wt, g.c);
        if t == 0 {
            matmul(g.co, g.c, n, yp, n, a, b, par);
        } else {
            matmul_add(g.co, g.c, n, yp, n, a, b, par);
        }
    }
    for (i, image) in dst.chunks_exact_mut(g.co * g.ohow()).enumerate() {
        for (o, out) in image.chunks_exact_mut(g.ohow()).enumerate() {
            for (oy, row) in out.chunks_exact_mut(g.ow).enumerate() {
                row.copy_from_slice(&yp[o * n + i * plane + oy * wp..][..g.ow]);
            }
        }
    }
}

/// Backward of one group from its output gradient `dy_g` (`[k, Co, OH, OW]`): adds the
/// tap-major weight gradient into `scratch.dw` when asked, writes the input gradient into `dxg`.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward_group(
    g: &Geom,
    x: &[f32],
    wt: &[f32],
    dy_g: &[f32],
    images: std::ops::Range<usize>,
    dxg: Option<&mut [f32]>,
    need_dw: bool,
    scratch: &mut Scratch,
    par: bool,
) {
    let k = images.len();
    let (plane, n) = span(g, k);
    let (_, wp) = padded(g);
    let Scratch { cols: xp, block: dyp, dw } = scratch;
    // The output gradient on the padded grid `[Co, n]`, zero in the discarded columns.
    dyp.clear();
    dyp.reserve(g.co * n);
    for o in 0..g.co {
        for i in 0..k {
            let out = &dy_g[(i * g.co + o) * g.ohow()..][..g.ohow()];
            for row in out.chunks_exact(g.ow) {
                dyp.extend_from_slice(row);
                dyp.resize(dyp.len() + wp - g.ow, 0.0);
            }
            dyp.resize(dyp.len() + (plane - g.oh * wp), 0.0);
        }
        // Each row holds `n` columns: the last image's trailing discarded columns are not kept.
        dyp.truncate((o + 1) * n);
    }
    let taps = g.kh * g.kw;
    if need_dw {
        pad(g, x, images.clone(), xp);
        dw.resize(taps * g.co * g.c, 0.0);
        for (t, dwt) in dw.chunks_exact_mut(g.co * g.c).enumerate() {
            // shift(X)ᵀ: `[n, C]`, element (p, c) at c·k·plane + offset + p.
            let xt = View { data: &xp[tap_offset(g, t)..], rs: 1, cs: k * plane };
            matmul_add(g.co, n, g.c, dwt, g.c, View::rows(dyp, n), xt, par);
        }
    }
    if let Some(dxg) = dxg {
        // The padded input gradient: tap 0 (offset 0) writes columns `..n` of each row, the
        // rest of each row is zeroed, the other taps add.
        let dxp = sized(xp, g.c * k * plane);
        for row in dxp.chunks_exact_mut(k * plane) {
            row[n..].fill(0.0);
        }
        for (t, wt) in wt.chunks_exact(g.co * g.c).enumerate() {
            let w_t = View { data: wt, rs: 1, cs: g.c };
            let off = tap_offset(g, t);
            if t == 0 {
                matmul(g.c, g.co, n, dxp, k * plane, w_t, View::rows(dyp, n), par);
            } else {
                matmul_add(g.c, g.co, n, &mut dxp[off..], k * plane, w_t, View::rows(dyp, n), par);
            }
        }
        let (chw, hw) = (g.c * g.h * g.w, g.h * g.w);
        for (i, dxn) in dxg.chunks_exact_mut(chw).enumerate() {
            for (c, dplane) in dxn.chunks_exact_mut(hw).enumerate() {
                let src = &dxp[(c * k + i) * plane..][..plane];
                for (iy, row) in dplane.chunks_exact_mut(g.w).enumerate() {
                    row.copy_from_slice(&src[(iy + g.pt) * wp + g.pl..][..g.w]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_major_round_trips() {
        let g = Geom::new(&[1, 3, 8, 8], &[2, 3, 3, 2], [1, 1, 1, 1, 0, 1]);
        let w: Vec<f32> = (0..2 * 3 * 6).map(|v| v as f32).collect();
        let t = tap_major(&g, &w);
        assert_eq!(t[..6], [0.0, 6.0, 12.0, 18.0, 24.0, 30.0]); // tap 0 of every (o, c)
        assert_eq!(from_tap_major(&g, &t), w);
    }
}
