//! im2col and col2im for narrow maps (fewer than [`NARROW`] output columns: ResNet's stages on
//! 32×32 images work on 8×8 to 1×1 maps). Copying such maps row by row costs a call per two to
//! eight values; here a table, built once per call, holds for every kernel tap and output
//! position the input offset it reads (or a zero slot past the plane), and the column matrix is
//! gathered from it value by value (the input gradient scattered through it).

use super::Geom;

/// Output rows narrower than this take the table path.
pub(super) const NARROW: usize = 16;

/// Per kernel tap `t` and output position `p`: `idx[t·OH·OW + p]`, the offset in the input plane
/// that the tap reads there, or the plane size `H·W` (a zero slot) where it reads padding.
#[derive(Debug)]
pub(super) struct Table {
    idx: Vec<u32>,
}

impl Table {
    pub(super) fn new(g: &Geom) -> Self {
        let hw = g.h * g.w;
        let mut idx = Vec::with_capacity(g.kh * g.kw * g.ohow());
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + ki).checked_sub(g.pt).filter(|&iy| iy < g.h);
                    for ox in 0..g.ow {
                        let ix = (ox * g.sw + kj).checked_sub(g.pl).filter(|&ix| ix < g.w);
                        let at = match (iy, ix) {
                            (Some(iy), Some(ix)) => iy * g.w + ix,
                            _ => hw,
                        };
                        idx.push(u32::try_from(at).unwrap_or(u32::MAX));
                    }
                }
            }
        }
        Self { idx }
    }
}

/// Appends the column matrix of `images` (`k` consecutive `[C, H, W]` images) to `cols`, as
/// [`wide::im2col`](super::wide::im2col) does.
pub(super) fn im2col(g: &Geom, table: &Table, images: &[f32], k: usize, cols: &mut Vec<f32>) {
    let (hw, ohow, chw) = (g.h * g.w, g.ohow(), g.c * g.h * g.w);
    // Channel `c` of every image, each plane followed by its zero slot.
    let mut planes = vec![0.0f32; k * (hw + 1)];
    for c in 0..g.c {
        for (i, dst) in planes.chunks_exact_mut(hw + 1).enumerate() {
            dst[..hw].copy_from_slice(&images[i * chw + c * hw..][..hw]);
        }
        for taps in table.idx.chunks_exact(ohow) {
            for plane in planes.chunks_exact(hw + 1) {
                cols.extend(taps.iter().map(|&at| plane[at as usize]));
            }
        }
    }
}

/// The adjoint of [`im2col`]: the group's input gradient `dx` (`k` images `[C, H, W]`,
/// overwritten) from its column matrix `cols` (`[C·kh·kw, k·OH·OW]`).
pub(super) fn col2im(g: &Geom, table: &Table, cols: &[f32], k: usize, dx: &mut [f32]) {
    let (hw, ohow, chw) = (g.h * g.w, g.ohow(), g.c * g.h * g.w);
    let taps = g.kh * g.kw;
    let mut planes = vec![0.0f32; k * (hw + 1)];
    for c in 0..g.c {
        planes.fill(0.0);
        for (t, idx) in table.idx.chunks_exact(ohow).enumerate() {
            let row = &cols[(c * taps + t) * k * ohow..][..k * ohow];
            for (plane, vals) in planes.chunks_exact_mut(hw + 1).zip(row.chunks_exact(ohow)) {
                for (&at, &v) in idx.iter().zip(vals) {
                    plane[at as usize] += v;
                }
            }
        }
        for (i, plane) in planes.chunks_exact(hw + 1).enumerate() {
            dx[i * chw + c * hw..][..hw].copy_from_slice(&plane[..hw]);
        }
    }
}
