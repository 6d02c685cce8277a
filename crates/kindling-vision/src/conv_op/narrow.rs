//! im2col and col2im for narrow maps (fewer than [`NARROW`] output columns: ResNet's stages on
//! 32×32 images work on 8×8 to 1×1 maps). Copying such maps row by row with the border checks
//! of [`wide`](super::wide) costs a call per two to eight values; here each input plane is first
//! copied into a zero-bordered plane ([`Padded`]) large enough for every tap, so that each output
//! row of a tap is a plain run of `OW` values (stride 1) or `OW` values `sw` apart, with the row
//! width a compile-time constant: short fixed-size copies the compiler turns into a few vector
//! moves (an earlier version gathered value by value through a table of offsets: 10% of a
//! ResNet-18 training step on 32×32 images). The input gradient goes the other way: rows added
//! into the padded plane, whose interior is then the image's gradient.

use super::Geom;

/// Output rows narrower than this take the padded-plane path.
pub(super) const NARROW: usize = 16;

/// The zero-bordered plane: `rows × cols`, image pixel `(iy, ix)` at `(iy + pt, ix + pl)`, tap
/// `(ki, kj)` of output `(oy, ox)` reading `(oy·sh + ki, ox·sw + kj)` (never outside it). Of the
/// image, the first `in_rows` rows and `in_width` values of each land inside (an image larger than
/// the taps reach, such as a stride that skips its last row, is cropped).
#[derive(Debug, Clone, Copy)]
pub(super) struct Padded {
    rows: usize,
    cols: usize,
    in_rows: usize,
    in_width: usize,
}

impl Padded {
    pub(super) fn new(g: &Geom) -> Self {
        let rows = (g.oh.max(1) - 1) * g.sh + g.kh;
        let cols = (g.ow.max(1) - 1) * g.sw + g.kw;
        let in_rows = g.h.min(rows.saturating_sub(g.pt));
        let in_width = g.w.min(cols.saturating_sub(g.pl));
        Self { rows, cols, in_rows, in_width }
    }

    fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Copies image plane `src` (`H·W`) into the interior of `dst` (whose border stays as it is).
    fn fill(&self, g: &Geom, src: &[f32], dst: &mut [f32]) {
        for iy in 0..self.in_rows {
            dst[(iy + g.pt) * self.cols + g.pl..][..self.in_width].copy_from_slice(&src[iy * g.w..][..self.in_width]);
        }
    }

    /// The interior of `src` into image plane `dst` (`H·W`, overwritten; pixels no tap reads get 0).
    fn crop(&self, g: &Geom, src: &[f32], dst: &mut [f32]) {
        if (self.in_rows, self.in_width) != (g.h, g.w) {
            dst.fill(0.0);
        }
        for iy in 0..self.in_rows {
            dst[iy * g.w..][..self.in_width].copy_from_slice(&src[(iy + g.pt) * self.cols + g.pl..][..self.in_width]);
        }
    }
}

/// Calls `$body` with `$ow` bound to the output width as a constant (one compiled copy per
/// narrow width, so that the per-row copies have a known length).
macro_rules! with_width {
    ($ow:ident, $width:expr, $body:expr) => {
        with_width!(@arms $ow, $width, $body, 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@arms $ow:ident, $width:expr, $body:expr, $($n:literal)*) => {
        match $width {
            $($n => {
                const $ow: usize = $n;
                $body
            })*
            // Wider maps never come here (they take `wide`); an empty one has nothing to copy.
            _ => {}
        }
    };
}

/// Appends the column matrix of `images` (`k` consecutive `[C, H, W]` images) to `cols`, as
/// [`wide::im2col`](super::wide::im2col) does.
pub(super) fn im2col(g: &Geom, pad: &Padded, images: &[f32], k: usize, cols: &mut Vec<f32>) {
    with_width!(OW, g.ow, im2col_rows::<OW>(g, pad, images, k, cols));
}

fn im2col_rows<const OW: usize>(g: &Geom, pad: &Padded, images: &[f32], k: usize, cols: &mut Vec<f32>) {
    let (hw, chw, plane) = (g.h * g.w, g.c * g.h * g.w, pad.len());
    // Channel `c` of every image, zero-bordered; the border is never written.
    let mut planes = vec![0.0f32; k * plane];
    for c in 0..g.c {
        for (i, dst) in planes.chunks_exact_mut(plane).enumerate() {
            pad.fill(g, &images[i * chw + c * hw..][..hw], dst);
        }
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for src in planes.chunks_exact(plane) {
                    for oy in 0..g.oh {
                        let start = (oy * g.sh + ki) * pad.cols + kj;
                        if g.sw == 1 {
                            cols.extend_from_slice(&src[start..start + OW]);
                        } else {
                            let run = &src[start..start + (OW - 1) * g.sw + 1];
                            cols.extend(run.iter().step_by(g.sw));
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: the group's input gradient `dx` (`k` images `[C, H, W]`,
/// overwritten) from its column matrix `cols` (`[C·kh·kw, k·OH·OW]`).
pub(super) fn col2im(g: &Geom, pad: &Padded, cols: &[f32], k: usize, dx: &mut [f32]) {
    with_width!(OW, g.ow, col2im_rows::<OW>(g, pad, cols, k, dx));
}

fn col2im_rows<const OW: usize>(g: &Geom, pad: &Padded, cols: &[f32], k: usize, dx: &mut [f32]) {
    let (hw, ohow, chw, plane) = (g.h * g.w, g.ohow(), g.c * g.h * g.w, pad.len());
    let mut planes = vec![0.0f32; k * plane];
    for c in 0..g.c {
        planes.fill(0.0);
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                // Row `(c, ki, kj)` of the column matrix.
                let row = &cols[((c * g.kh + ki) * g.kw + kj) * k * ohow..][..k * ohow];
                for (dst, vals) in planes.chunks_exact_mut(plane).zip(row.chunks_exact(ohow)) {
                    for (oy, vals) in vals.chunks_exact(OW).enumerate() {
                        let start = (oy * g.sh + ki) * pad.cols + kj;
                        if g.sw == 1 {
                            let run = &mut dst[start..start + OW];
                            run.iter_mut().zip(vals).for_each(|(d, &v)| *d += v);
                        } else {
                            let run = &mut dst[start..start + (OW - 1) * g.sw + 1];
                            run.iter_mut().step_by(g.sw).zip(vals).for_each(|(d, &v)| *d += v);
                        }
                    }
                }
            }
        }
        for (i, src) in planes.chunks_exact(plane).enumerate() {
            pad.crop(g, src, &mut dx[i * chw + c * hw..][..hw]);
        }
    }
}
