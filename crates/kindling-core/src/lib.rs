//! # kindling-core
//!
//! The base of the Kindling workspace: device/backend selection from a string, deterministic
//! seeding, small tensor helpers and the error types shared by every other Kindling crate; the
//! CPU kernels the fast paths share ([`cpu`]), optimizers whose step is one fused pass on
//! burn-flex ([`optim`]) and, with the `mimalloc` feature, the allocator set-up of Kindling's
//! binaries (`alloc`).
//!
//! ```
//! use kindling_core::{DeviceSpec, seed_everything};
//!
//! let spec: DeviceSpec = "cpu".parse()?;
//! let device = spec.device()?;
//! let mut rng = seed_everything(42, &device);
//! let x: u32 = rand::Rng::random(&mut rng);
//! let _ = x;
//! # Ok::<(), kindling_core::Error>(())
//! ```

#[cfg(feature = "mimalloc")]
pub mod alloc;
pub mod cpu;
mod device;
mod error;
pub mod fs;
pub mod optim;
mod seed;
pub mod tensor;

pub use device::{DeviceSpec, default_device, device_from_str};
pub use error::{Error, Result};
pub use seed::{SeedRng, derive_seed, seed_everything, seeded_rng};

/// Re-export of the burn version Kindling is built on, so downstream crates use the same one.
pub use burn;
