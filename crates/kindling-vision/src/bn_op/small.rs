//! BatchNorm kernels for small maps (fewer than [`SMALL`] positions per plane: ResNet's stages on
//! 32×32 images work on 8×8 down to 1×1 maps, the last stage at 224×224 on 7×7).
//!
//! The kernels of [`super`] walk one channel's planes at a time, which for a 2×2 map is 64 planes
//! of 4 values per channel: their time went into per-plane overhead (a BatchNorm backward pass of
//! ResNet-18's training step on 32×32 images took ≈ 8 ns per value, 2.7× PyTorch's). Here each
//! pass goes image by image over the image's contiguous `[C, H·W]` block, with the per-channel
//! constants expanded to one per position, so that every pass is one elementwise loop of `C·H·W`
//! values that vectorizes; images are split over the threads, and per-channel sums add up
//! per-position partial sums (f32 over a thread's images, then f64).

use kindling_core::cpu::{par_filled, vectorize};
use rayon::prelude::*;

use super::{Norm, affine, dims, inv_std};

/// Planes with fewer positions than this take these kernels (from 128 values, eight AVX-512
/// vectors, a plane amortises its overhead: the fine-tuning step at 224×224, whose third stage
/// works on 14×14 planes, ran 839 vs 827 ms with this bound at 256, within noise).
pub(super) const SMALL: usize = 128;

/// One value per channel, repeated for each of the channel's `hw` positions.
fn expand(per_channel: impl Iterator<Item = f32>, hw: usize) -> Vec<f32> {
    per_channel.flat_map(|v| std::iter::repeat_n(v, hw)).collect()
}

/// Per-channel `(Σ s, Σ t)` where `add(image, s, t)` adds one image's values to per-position
/// accumulators `s` and `t` (`C·H·W` each); images split over the threads.
fn channel_sums(n: usize, c: usize, hw: usize, add: impl Fn(usize, &mut [f32], &mut [f32]) + Sync) -> Vec<(f64, f64)> {
    let chw = c * hw;
    let per = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let parts: Vec<(Vec<f32>, Vec<f32>)> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|block| {
            let (mut s, mut t) = (vec![0.0f32; chw], vec![0.0f32; chw]);
            for img in block * per..((block + 1) * per).min(n) {
                add(img, &mut s, &mut t);
            }
            (s, t)
        })
        .collect();
    let sum = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
    (0..c)
        .map(|ch| {
            let at = ch * hw..(ch + 1) * hw;
            parts.iter().fold((0.0, 0.0), |(a, b), (s, t)| (a + sum(&s[at.clone()]), b + sum(&t[at.clone()])))
        })
        .collect()
}

/// `[mean…, var…]` per channel (biased variance, two passes), as [`super::stats`].
pub(super) fn stats(x: &[f32], shape: &[usize]) -> Vec<f32> {
    let (n, c, hw) = dims(shape);
    let (chw, count) = (c * hw, (n * hw).max(1) as f64);
    let sums = channel_sums(n, c, hw, |img, s, _| {
        let xs = &x[img * chw..(img + 1) * chw];
        vectorize(
            #[inline(always)]
            || s.iter_mut().zip(xs).for_each(|(a, &v)| *a += v),
        );
    });
    let means: Vec<f64> = sums.iter().map(|s| s.0 / count).collect();
    let m = expand(means.iter().map(|&v| v as f32), hw);
    let vars = channel_sums(n, c, hw, |img, s, _| {
        let xs = &x[img * chw..(img + 1) * chw];
        vectorize(
            #[inline(always)]
            || s.iter_mut().zip(xs).zip(&m).for_each(|((a, &v), &m)| *a += (v - m) * (v - m)),
        );
    });
    means.iter().map(|&m| m as f32).chain(vars.iter().map(|s| (s.0 / count) as f32)).collect()
}

/// The per-position affine maps `x ↦ a·x + b` of a normalisation.
fn affine_maps(norm: &Norm<'_>, rstd: &[f32], hw: usize) -> (Vec<f32>, Vec<f32>) {
    let c = rstd.len();
    let maps: Vec<(f32, f32)> = (0..c).map(|ch| affine(norm.gamma, norm.beta, norm.stats, rstd, ch)).collect();
    (expand(maps.iter().map(|m| m.0), hw), expand(maps.iter().map(|m| m.1), hw))
}

/// The forward normalisation, as [`super::normalize`].
pub(super) fn normalize(norm: Norm<'_>) -> Vec<f32> {
    let Norm { x, shape, residual, epsilon, relu, .. } = norm;
    let (_, c, hw) = dims(shape);
    let chw = c * hw;
    let (a, b) = affine_maps(&norm, &inv_std(norm.stats, c, epsilon), hw);
    let out = |z: f32| if relu && z < 0.0 { 0.0 } else { z };
    par_filled(x.len(), chw.max(1), |img, yp| {
        let xs = &x[img * chw..(img + 1) * chw];
        let maps = xs.iter().zip(&a).zip(&b);
        vectorize(
            #[inline(always)]
            || match residual.get(img * chw..(img + 1) * chw) {
                Some(rs) if !residual.is_empty() => {
                    yp.extend(maps.zip(rs).map(|(((&v, &a), &b), &r)| out(v.mul_add(a, b) + r)))
                }
                _ => yp.extend(maps.map(|((&v, &a), &b)| out(v.mul_add(a, b)))),
            },
        );
    })
}

/// The output gradient that reaches the normalisation under a ReLU: `dy` where the output was
/// positive, else 0 (`None` without a ReLU: all of `dy`). Computed once, read by both passes of
/// the backward, and the residual's gradient itself.
fn masked(norm: &Norm<'_>, dy: &[f32], a: &[f32], b: &[f32], chw: usize) -> Option<Vec<f32>> {
    let keep = |z: f32, d: f32| if z > 0.0 { d } else { 0.0 };
    norm.relu.then(|| {
        par_filled(dy.len(), chw.max(1), |img, out| {
            let at = img * chw..(img + 1) * chw;
            let maps = norm.x[at.clone()].iter().zip(a).zip(b).zip(&dy[at.clone()]);
            vectorize(
                #[inline(always)]
                || match norm.residual.get(at) {
                    Some(rs) if !norm.residual.is_empty() => {
                        out.extend(maps.zip(rs).map(|((((&v, &a), &b), &d), &r)| keep(v.mul_add(a, b) + r, d)))
                    }
                    _ => out.extend(maps.map(|(((&v, &a), &b), &d)| keep(v.mul_add(a, b), d))),
                },
            );
        })
    })
}

/// `(dx, dgamma, dbeta, dresidual)`, as [`super::normalize_backward`].
pub(super) fn normalize_backward(norm: Norm<'_>, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, c, hw) = dims(norm.shape);
    let (chw, count) = (c * hw, (n * hw).max(1) as f32);
    let rstd = inv_std(norm.stats, c, norm.epsilon);
    let (a, b) = affine_maps(&norm, &rstd, hw);
    let m = expand(norm.stats[..c].iter().copied(), hw);
    let x = norm.x;
    let masked = masked(&norm, dy, &a, &b, chw);
    let g_all = masked.as_deref().unwrap_or(dy);
    let sums = channel_sums(n, c, hw, |img, s, t| {
        let (xs, g) = (&x[img * chw..(img + 1) * chw], &g_all[img * chw..(img + 1) * chw]);
        vectorize(
            #[inline(always)]
            || {
                for ((((s, t), &v), &d), &m) in s.iter_mut().zip(t.iter_mut()).zip(xs).zip(g).zip(&m) {
                    *s += d;
                    *t += (v - m) * d;
                }
            },
        );
    });
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let dgamma: Vec<f32> = sums.iter().zip(&rstd).map(|(s, &r)| s.1 as f32 * r).collect();
    // dx = γ/σ · (g − dβ/M − (x − mean)/σ · dγ/M), with its per-channel factors per position.
    let scale = expand((0..c).map(|ch| norm.gamma[ch] * rstd[ch]), hw);
    let mean_g = expand(dbeta.iter().map(|&v| v / count), hw);
    let slope = expand((0..c).map(|ch| rstd[ch] * dgamma[ch] / count), hw);
    let dx = par_filled(x.len(), chw.max(1), |img, out| {
        let (xs, g) = (&x[img * chw..(img + 1) * chw], &g_all[img * chw..(img + 1) * chw]);
        let consts = scale.iter().zip(&mean_g).zip(&slope).zip(&m);
        vectorize(
            #[inline(always)]
            || {
                out.extend(
                    xs.iter().zip(g).zip(consts).map(|((&v, &d), (((&k, &mg), &sl), &m))| k * (d - mg - (v - m) * sl)),
                )
            },
        );
    });
    let dresidual = match (norm.residual.is_empty(), masked) {
        (true, _) => Vec::new(),
        (false, Some(g)) => g,
        (false, None) => dy.to_vec(),
    };
    (dx, dgamma, dbeta, dresidual)
}
