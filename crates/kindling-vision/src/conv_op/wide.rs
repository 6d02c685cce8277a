//! im2col and col2im row by row, for output rows of [`NARROW`](super::narrow::NARROW) values and
//! more (narrower maps go through the zero-bordered planes of [`narrow`](super::narrow)).

use super::Geom;

/// Appends the column matrix of `images` (consecutive `[C, H, W]` images) to `cols`, row by row:
/// `[C·kh·kw, k·OH·OW]` with `cols[(c, ki, kj), (i, oy, ox)] = image_i[c, oy·sh + ki − pt,
/// ox·sw + kj − pl]` (zero outside the image). Every value is written once (no zero-filled
/// buffer first: that fill was ≈ 2% of a fine-tuning step).
pub(super) fn im2col(g: &Geom, images: &[f32], cols: &mut Vec<f32>) {
    let (hw, w, ow) = (g.h * g.w, g.w, g.ow);
    let (valid, rows) = (g.valid_cols_all(), g.in_rows_all());
    let zeros = |cols: &mut Vec<f32>, n: usize| cols.resize(cols.len() + n, 0.0);
    for c in 0..g.c {
        for ki_rows in rows.chunks_exact(g.oh) {
            for (kj, &(lo, hi)) in valid.iter().enumerate() {
                for image in images.chunks_exact(g.c * hw) {
                    let plane = &image[c * hw..(c + 1) * hw];
                    for &iy in ki_rows {
                        let Some(iy) = iy else {
                            zeros(cols, ow);
                            continue;
                        };
                        let src = &plane[iy * w..(iy + 1) * w];
                        zeros(cols, lo);
                        if g.sw == 1 {
                            cols.extend_from_slice(&src[lo + kj - g.pl..hi + kj - g.pl]);
                        } else {
                            cols.extend((lo..hi).map(|ox| src[ox * g.sw + kj - g.pl]));
                        }
                        zeros(cols, ow - hi);
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`] for one image: adds its column entries (columns `off..` of `cols`,
/// row stride `ld`) into `x`, which the caller zeroes.
pub(super) fn col2im(g: &Geom, cols: &[f32], ld: usize, off: usize, x: &mut [f32]) {
    let (ohow, w) = (g.ohow(), g.w);
    let (valid, rows) = (g.valid_cols_all(), g.in_rows_all());
    let mut r = 0;
    for plane in x.chunks_exact_mut(g.h * w) {
        for ki_rows in rows.chunks_exact(g.oh) {
            for (kj, &(lo, hi)) in valid.iter().enumerate() {
                let src = &cols[r * ld + off..][..ohow];
                r += 1;
                for (oy, &iy) in ki_rows.iter().enumerate() {
                    let Some(iy) = iy else { continue };
                    let row = &src[oy * g.ow..][..g.ow];
                    let dst = &mut plane[iy * w..(iy + 1) * w];
                    if g.sw == 1 {
                        let dst = &mut dst[lo + kj - g.pl..hi + kj - g.pl];
                        dst.iter_mut().zip(&row[lo..hi]).for_each(|(d, &v)| *d += v);
                    } else {
                        for (ox, &v) in row.iter().enumerate().take(hi).skip(lo) {
                            dst[ox * g.sw + kj - g.pl] += v;
                        }
                    }
                }
            }
        }
    }
}
