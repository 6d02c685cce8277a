//! CPU kernels shared by Kindling's fast paths (the CNN inference engine of kindling-vision, the
//! recurrent inference path of kindling-seq):
//!
//! - [`matmul`]: a safe, bounds-checked front end to the `gemm` crate (the matrix product
//!   burn-flex uses; AVX-512 or AVX2/FMA kernels chosen at run time);
//! - [`vectorize`]: runs a closure compiled for the widest SIMD instruction set of the CPU;
//! - [`exp`], [`sigmoid`], [`tanh`]: branch-free `f32` functions that vectorize inside it;
//! - [`scratch`], [`recycle`]: workspaces handed back and reused instead of zero-filled anew;
//! - [`profile`]: time per product shape, when asked (`KINDLING_GEMM_PROFILE`).
//!
//! `gemm::gemm` takes raw pointers and strides; [`matmul`] checks that every element the strides
//! reach lies inside the given slices and that destination rows do not overlap, then calls it.
//! That call and the lengths set by [`par_filled`] and [`par_channels`] once every value is
//! written are the only `unsafe` code of Kindling's kernels.
#![allow(unsafe_code)]

pub mod profile;
mod scratch;
pub use scratch::{recycle, recycle_flex, scratch};

/// A read-only strided matrix view: element `(r, c)` is `data[r * rs + c * cs]`.
///
/// ```
/// use kindling_core::cpu::View;
/// let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = View::rows(&data, 3); // [[1, 2, 3], [4, 5, 6]]
/// let t = View { data: &data, rs: 1, cs: 3 }; // its transpose [[1, 4], [2, 5], [3, 6]]
/// assert_eq!((a.rs, t.cs), (3, 3));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major view with row stride `rs`.
    pub fn rows(data: &'a [f32], rs: usize) -> Self {
        Self { data, rs, cs: 1 }
    }

    /// Number of elements a `rows × cols` matrix spans.
    fn span(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 { 0 } else { (rows - 1) * self.rs + (cols - 1) * self.cs + 1 }
    }
}

/// `dst[m × n] = a[m × k] · b[k × n]`, `dst` row-major with row stride `dst_rs`.
///
/// `parallel` lets gemm split the product over rayon's threads (for one large product); kernels
/// that already run one product per rayon task pass `false`.
///
/// # Panics
/// If a view or `dst` is too short for its shape and strides, or if `dst` rows would overlap.
///
/// ```
/// use kindling_core::cpu::{View, matmul};
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [1.0, 0.0, 1.0, 1.0]; // [[1, 0], [1, 1]]
/// let mut c = [0.0; 4];
/// matmul(2, 2, 2, &mut c, 2, View::rows(&a, 2), View::rows(&b, 2), false);
/// assert_eq!(c, [3.0, 2.0, 7.0, 4.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn matmul(m: usize, k: usize, n: usize, dst: &mut [f32], dst_rs: usize, a: View<'_>, b: View<'_>, parallel: bool) {
    gemm_checked(m, k, n, dst, dst_rs, a, b, parallel, false);
}

/// `dst[m × n] += a[m × k] · b[k × n]`: [`matmul`] that accumulates into `dst` (for sums of
/// products, such as a weight gradient over the images of a batch).
///
/// # Panics
/// As [`matmul`].
///
/// ```
/// use kindling_core::cpu::{View, matmul_add};
/// let a = [1.0, 2.0]; // [[1, 2]]
/// let b = [3.0, 4.0]; // [[3], [4]]
/// let mut c = [1.0];
/// matmul_add(1, 2, 1, &mut c, 1, View::rows(&a, 2), View::rows(&b, 1), false);
/// assert_eq!(c, [12.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn matmul_add(
    m: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: View<'_>,
    b: View<'_>,
    parallel: bool,
) {
    gemm_checked(m, k, n, dst, dst_rs, a, b, parallel, true);
}

#[allow(clippy::too_many_arguments)]
fn gemm_checked(
    m: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
    dst_rs: usize,
    a: View<'_>,
    b: View<'_>,
    parallel: bool,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 1 || dst_rs >= n, "matmul: destination rows overlap ({dst_rs} < {n})");
    assert!(dst.len() > (m - 1) * dst_rs + n - 1, "matmul: destination too short");
    if k == 0 {
        if accumulate {
            return;
        }
        for row in 0..m {
            dst[row * dst_rs..row * dst_rs + n].fill(0.0);
        }
        return;
    }
    assert!(a.data.len() >= a.span(m, k), "matmul: left operand too short");
    assert!(b.data.len() >= b.span(k, n), "matmul: right operand too short");
    let parallelism = if parallel { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    let timed = profile::enabled().then(std::time::Instant::now);
    // SAFETY: the asserts above keep every index `r * rs + c * cs` the strides produce for
    // r < rows, c < cols inside its slice; `dst` is exclusively borrowed and its rows are disjoint
    // (dst_rs >= n), so gemm's (possibly parallel) writes do not race; `a` and `b` are shared
    // borrows and cannot alias `dst`. With `read_dst = false` gemm never reads `dst`; with
    // `accumulate` it reads the same (initialised) elements it writes.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    if let Some(start) = timed {
        let shape = profile::Shape { mkn: [m, k, n], a: [a.rs, a.cs], b: [b.rs, b.cs], parallel };
        profile::record(shape, start.elapsed().as_secs_f64());
    }
}

/// The `f32` elements of a burn-flex tensor in row-major order, for host kernels: borrowed when the
/// tensor is contiguous, copied otherwise.
///
/// # Panics
/// If the tensor's elements are not `f32` (host kernels check the dtype before they run).
///
/// ```
/// let t = kindling_core::cpu::flex_from_f32(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
/// assert_eq!(&*kindling_core::cpu::flex_f32(&t), &[1.0, 2.0, 3.0, 4.0]);
/// ```
pub fn flex_f32(t: &burn::backend::flex::FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(t.dtype(), burn::tensor::DType::F32, "host kernels: f32 tensors only");
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default()),
    }
}

/// Write-only access to a run of output values not yet initialised: values go in order through
/// [`extend`](Self::extend); those left unwritten are zero once the owner ([`par_filled`])
/// finishes, so the run is always fully initialised.
#[derive(Debug)]
pub struct Out<'a> {
    buf: &'a mut [std::mem::MaybeUninit<f32>],
    pos: usize,
}

impl Out<'_> {
    /// Values of the run, written or not.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the run holds no value.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes `values` after those already written (at most as many as the run has left).
    #[inline(always)]
    pub fn extend(&mut self, values: impl IntoIterator<Item = f32>) {
        let mut written = 0;
        for (slot, v) in self.buf[self.pos..].iter_mut().zip(values) {
            slot.write(v);
            written += 1;
        }
        self.pos += written;
    }

    /// Zeroes what was left unwritten.
    fn finish(self) {
        for slot in &mut self.buf[self.pos..] {
            slot.write(0.0);
        }
    }
}

/// `len` values computed in parallel, `chunk` at a time, without the zero-filling pass of an
/// initialised buffer (one write pass over the output saved: ≈ 3% of a ResNet-18 fine-tuning step
/// when the BatchNorm kernels use it, BENCHMARKS.md). `fill(k, out)` writes chunk `k` (values
/// `k·chunk..`) in order through `out`; values it leaves unwritten are zero.
///
/// ```
/// let v = kindling_core::cpu::par_filled(10, 4, |k, out| out.extend((0..out.len()).map(|i| (k * 4 + i) as f32)));
/// assert_eq!(v, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
/// ```
pub fn par_filled(len: usize, chunk: usize, fill: impl Fn(usize, &mut Out<'_>) + Sync) -> Vec<f32> {
    use rayon::prelude::*;
    let mut v: Vec<f32> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)).enumerate().for_each(|(k, buf)| {
        let mut out = Out { buf, pos: 0 };
        fill(k, &mut out);
        out.finish();
    });
    // SAFETY: each of the first `len` values was written, by `fill` through `Out` or by
    // `Out::finish` (a panic in `fill` propagates before this line, leaving `v` empty).
    unsafe { v.set_len(len) };
    v
}

/// `outputs` buffers of `n × c` planes of `hw` values each (an `[N, C, H·W]` layout) computed in
/// parallel over the channels: `fill(ch, planes)` writes plane `planes[k][img]` of output `k` for
/// channel `ch` of every image, through write-only cursors as in [`par_filled`] (unwritten values
/// are zero), and returns a per-channel result. Kernels that first reduce over a channel and then
/// write it (BatchNorm's backward) read its planes a second time while they are still in cache.
///
/// ```
/// // Each channel's values minus the channel's mean, over 2 images × 2 channels × 3 positions.
/// let x = [1.0, 2.0, 3.0, 10.0, 10.0, 10.0, 5.0, 6.0, 7.0, 20.0, 20.0, 20.0];
/// let (outs, means) = kindling_core::cpu::par_channels(2, 2, 3, 1, |ch, planes| {
///     let plane = |img: usize| &x[(img * 2 + ch) * 3..(img * 2 + ch + 1) * 3];
///     let mean = (plane(0).iter().sum::<f32>() + plane(1).iter().sum::<f32>()) / 6.0;
///     for (img, out) in planes[0].iter_mut().enumerate() {
///         out.extend(plane(img).iter().map(|v| v - mean));
///     }
///     mean
/// });
/// assert_eq!(means, [4.0, 15.0]);
/// assert_eq!(outs[0], [-3.0, -2.0, -1.0, -5.0, -5.0, -5.0, 1.0, 2.0, 3.0, 5.0, 5.0, 5.0]);
/// ```
pub fn par_channels<R: Send>(
    n: usize,
    c: usize,
    hw: usize,
    outputs: usize,
    fill: impl Fn(usize, &mut [Vec<Out<'_>>]) -> R + Sync,
) -> (Vec<Vec<f32>>, Vec<R>) {
    use rayon::prelude::*;
    let len = n * c * hw;
    let mut bufs: Vec<Vec<f32>> = (0..outputs).map(|_| Vec::with_capacity(len)).collect();
    let mut channels: Vec<Vec<Vec<Out<'_>>>> =
        (0..c).map(|_| (0..outputs).map(|_| Vec::with_capacity(n)).collect()).collect();
    for (k, buf) in bufs.iter_mut().enumerate() {
        for (p, plane) in buf.spare_capacity_mut()[..len].chunks_mut(hw.max(1)).enumerate() {
            channels[p % c][k].push(Out { buf: plane, pos: 0 });
        }
    }
    let results = channels
        .into_par_iter()
        .enumerate()
        .map(|(ch, mut planes)| {
            let r = fill(ch, &mut planes);
            planes.into_iter().flatten().for_each(Out::finish);
            r
        })
        .collect();
    for buf in &mut bufs {
        // SAFETY: the planes cover the first `len` values (`len` is a multiple of `hw`, or zero);
        // each was written by `fill` through `Out` or by `Out::finish` (a panic in `fill`
        // propagates before this line, leaving the buffer empty).
        unsafe { buf.set_len(len) };
    }
    (bufs, results)
}

/// Makes the calling thread worker 0 of rayon's global pool, the pool Kindling's CPU kernels run
/// on; call it first thing in `main`. Otherwise each parallel kernel called from `main` hands its
/// work to the pool's threads and sleeps until they are done: a wake-up per kernel, hundreds per
/// training step (`perf stat` over 60 ResNet-18 steps at batch 64: 55 k context switches, 13 k
/// with this; BENCHMARKS.md has the step times). The pool keeps its size (`RAYON_NUM_THREADS`, or
/// one thread per core): the calling thread takes the place of one of its threads.
///
/// Returns `false`, changing nothing, when the global pool already exists (something ran on it
/// before, or it was built elsewhere).
///
/// ```
/// // First thing in `main`:
/// kindling_core::cpu::join_global_pool();
/// let v = kindling_core::cpu::zeros(1 << 20); // runs partly on this thread
/// assert_eq!(v.len(), 1 << 20);
/// ```
pub fn join_global_pool() -> bool {
    rayon::ThreadPoolBuilder::new().use_current_thread().build_global().is_ok()
}

/// `len` zeros, written by every rayon thread when the buffer is large: kernels that allocate an
/// output and then fill it in parallel otherwise pay the zeroing on one thread while the others
/// wait (≈ 3% of a ResNet-18 fine-tuning step, BENCHMARKS.md).
///
/// ```
/// let v = kindling_core::cpu::zeros(1 << 20);
/// assert_eq!(v.len(), 1 << 20);
/// assert!(v.iter().all(|&x| x == 0.0));
/// ```
pub fn zeros(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const PARALLEL_FROM: usize = 1 << 16;
    if len < PARALLEL_FROM || rayon::current_num_threads() == 1 {
        return vec![0.0; len];
    }
    let mut v = Vec::new();
    (0..len).into_par_iter().with_min_len(PARALLEL_FROM / 4).map(|_| 0.0f32).collect_into_vec(&mut v);
    v
}

/// A burn-flex tensor of `shape` holding `values` in row-major order: a host kernel's result, the
/// way back from [`flex_f32`].
///
/// # Panics
/// If `values` does not hold as many elements as `shape` has.
///
/// ```
/// let t = kindling_core::cpu::flex_from_f32(vec![1.0, 2.0, 3.0], [3]);
/// assert_eq!(t.layout().shape().to_vec(), vec![3]);
/// ```
pub fn flex_from_f32(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> burn::backend::flex::FlexTensor {
    burn::backend::flex::FlexTensor::from_data(burn::tensor::TensorData::new(values, shape))
}

/// The transpose of the row-major `rows × cols` matrix `src`: `cols × rows`, row-major, copied in
/// 32 × 32 tiles so that both sides stay in cache.
///
/// # Panics
/// If `src` does not hold `rows × cols` elements.
///
/// ```
/// let t = kindling_core::cpu::transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
/// assert_eq!(t, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
pub fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    assert_eq!(src.len(), rows * cols, "transpose: {} elements for {rows} × {cols}", src.len());
    let mut dst = vec![0f32; src.len()];
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                let row = &src[i * cols..(i + 1) * cols];
                for j in j0..(j0 + TILE).min(cols) {
                    dst[j * rows + i] = row[j];
                }
            }
        }
    }
    dst
}

/// Runs `f` compiled for the best SIMD instruction set of this CPU (AVX-512, AVX2+FMA or
/// baseline), chosen at run time through `pulp`.
///
/// Mark the closure `#[inline(always)]` (and the helpers it calls) so that its loops are compiled
/// inside the dispatched function and auto-vectorize with that instruction set; `f32::mul_add`
/// then becomes a fused multiply-add instruction.
///
/// ```
/// let mut v = vec![1.0f32; 100];
/// kindling_core::cpu::vectorize(#[inline(always)] || v.iter_mut().for_each(|x| *x = x.mul_add(2.0, 1.0)));
/// assert!(v.iter().all(|&x| x == 3.0));
/// ```
#[inline(always)]
pub fn vectorize<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// `e^x` for `f32`, within 2 ulp of `f32::exp` over `[-87, 88]` (Cephes' polynomial on a
/// power-of-two range reduction), clamped outside it; branch-free so that loops over it vectorize.
///
/// ```
/// use kindling_core::cpu::exp;
/// assert!((exp(1.0) - std::f32::consts::E).abs() < 1e-6);
/// assert_eq!(exp(-1000.0), exp(-87.0));
/// ```
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = x.mul_add(LOG2E, 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5); // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e = p.mul_add(r * r, r) + 1.0;
    // 2^n without a float-to-int conversion (which does not vectorize): the low mantissa bits of
    // 2^23 + 127 + n hold the biased exponent n + 127 (in 1..=254 after the clamp).
    let biased = n + 8_388_735.0;
    e * f32::from_bits(biased.to_bits() << 23)
}

/// `1 / (1 + e^-x)` with [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x) = 2 sigmoid(2x) - 1` with [`exp`] (absolute error below 2e-7).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 * sigmoid(2.0 * x) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_filled_zeroes_what_fill_leaves() {
        // Chunks of 3: the first value of each written, the others left to `finish`.
        let v = par_filled(8, 3, |k, out| out.extend([k as f32 + 1.0]));
        assert_eq!(v, [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0]);
        // More values than the run holds: the rest are ignored.
        let v = par_filled(4, 2, |_, out| out.extend([5.0; 7]));
        assert_eq!(v, [5.0; 4]);
        assert!(par_filled(0, 4, |_, _| unreachable!("no chunk")).is_empty());
    }

    #[test]
    fn par_channels_writes_each_channel_s_planes() {
        // 3 images × 2 channels × 2 positions; output 0 gets `img·10 + ch` in its first value only,
        // output 1 is left to `finish`.
        let (outs, chans) = par_channels(3, 2, 2, 2, |ch, planes| {
            assert_eq!((planes.len(), planes[0].len(), planes[0][0].len()), (2, 3, 2));
            for (img, out) in planes[0].iter_mut().enumerate() {
                out.extend([(img * 10 + ch) as f32]);
            }
            ch
        });
        assert_eq!(chans, [0, 1]);
        assert_eq!(outs[0], [0.0, 0.0, 1.0, 0.0, 10.0, 0.0, 11.0, 0.0, 20.0, 0.0, 21.0, 0.0]);
        assert_eq!(outs[1], [0.0; 12]);
        let (outs, chans) = par_channels(0, 3, 4, 1, |ch, planes| (ch, planes[0].len()));
        assert_eq!((outs[0].len(), chans), (0, vec![(0, 0), (1, 0), (2, 0)]));
    }

    fn naive(m: usize, k: usize, n: usize, a: View<'_>, b: View<'_>) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| a.data[r * a.rs + i * a.cs] * b.data[i * b.rs + c * b.cs]).sum();
            }
        }
        out
    }

    #[test]
    fn matches_naive_with_strides() {
        let (m, k, n) = (37, 19, 23);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 * 0.5 - 2.0).collect();
        // b read transposed: element (i, c) at c * k + i.
        for (bv, parallel) in [(View::rows(&b, n), false), (View { data: &b, rs: 1, cs: k }, true)] {
            let mut dst = vec![f32::NAN; m * (n + 3)];
            matmul(m, k, n, &mut dst, n + 3, View::rows(&a, k), bv, parallel);
            let want = naive(m, k, n, View::rows(&a, k), bv);
            for r in 0..m {
                for c in 0..n {
                    assert!((dst[r * (n + 3) + c] - want[r * n + c]).abs() < 1e-4);
                }
            }
        }
    }

    /// Sizes around the 32 × 32 tiles' edges.
    #[test]
    fn transpose_matches_its_definition() {
        for (rows, cols) in [(1, 1), (1, 37), (37, 1), (31, 33), (32, 32), (33, 64), (300, 517)] {
            let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
            let t = transpose(&src, rows, cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(t[j * rows + i], src[i * cols + j], "{rows} × {cols}: ({i}, {j})");
                }
            }
        }
        assert!(transpose(&[], 0, 5).is_empty());
    }

    #[test]
    fn exp_sigmoid_tanh_match_std() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.025;
            let (e, s) = (x.exp(), 1.0 / (1.0 + (-x).exp()));
            if (-87.0..=88.0).contains(&x) {
                assert!((exp(x) - e).abs() <= 3e-7 * e, "exp({x}) = {} vs {e}", exp(x));
            }
            assert!((sigmoid(x) - s).abs() <= 1e-7, "sigmoid({x})");
            assert!((tanh(x) - x.tanh()).abs() <= 3e-7, "tanh({x}) = {} vs {}", tanh(x), x.tanh());
        }
        assert!((0.0..1e-37).contains(&sigmoid(-1e4)), "saturates without NaN");
        assert_eq!(sigmoid(1e4), 1.0);
        assert_eq!(tanh(1e4), 1.0);
    }

    #[test]
    #[should_panic(expected = "left operand too short")]
    fn rejects_short_operands() {
        let mut dst = vec![0.0; 4];
        matmul(2, 3, 2, &mut dst, 2, View::rows(&[1.0; 5], 3), View::rows(&[1.0; 6], 2), false);
    }
}
