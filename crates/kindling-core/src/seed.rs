//! Deterministic seeding.

use burn::tensor::Device;
use rand::SeedableRng;

/// The random generator Kindling uses on the host side (data shuffling, augmentation, splits).
pub type SeedRng = rand::rngs::StdRng;

/// Seeds burn's device RNG (weight init, dropout) and returns a host RNG from the same seed.
///
/// Use the returned generator for everything host-side; derive independent streams with
/// [`derive_seed`] so that adding a consumer does not shift another one's numbers.
///
/// ```
/// let device = kindling_core::default_device();
/// let mut a = kindling_core::seed_everything(7, &device);
/// let mut b = kindling_core::seed_everything(7, &device);
/// assert_eq!(rand::Rng::random::<u64>(&mut a), rand::Rng::random::<u64>(&mut b));
/// ```
pub fn seed_everything(seed: u64, device: &Device) -> SeedRng {
    device.seed(seed);
    seeded_rng(seed)
}

/// A host RNG from `seed` alone.
///
/// ```
/// let mut r = kindling_core::seeded_rng(1);
/// let _: f32 = rand::Rng::random(&mut r);
/// ```
pub fn seeded_rng(seed: u64) -> SeedRng {
    SeedRng::seed_from_u64(seed)
}

/// Derives an independent, reproducible seed for a named stream (SplitMix64 over an FNV hash).
///
/// ```
/// use kindling_core::derive_seed;
/// assert_eq!(derive_seed(1, "shuffle"), derive_seed(1, "shuffle"));
/// assert_ne!(derive_seed(1, "shuffle"), derive_seed(1, "augment"));
/// ```
pub fn derive_seed(seed: u64, stream: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
