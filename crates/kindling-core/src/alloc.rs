//! mimalloc for the `#[global_allocator]` of a binary that runs Kindling on the CPU (feature
//! `mimalloc`; the `kindling` CLI and the benchmark runner use it).
//!
//! With glibc's malloc every large tensor buffer (activations, im2col matrices, gradients) is
//! mapped afresh and unmapped on free, so each training or inference step pays page faults, kernel
//! zeroing and TLB shootdowns: 10–35% of a step on the benchmark workloads (BENCHMARKS.md).
//! mimalloc keeps freed memory for reuse; [`keep_freed_memory`] also turns off its delayed return
//! of idle memory to the OS, which otherwise re-faults the buffers of the next step.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: kindling_core::alloc::MiMalloc = kindling_core::alloc::MiMalloc;
//!
//! fn main() {
//!     kindling_core::alloc::keep_freed_memory(); // first, before other threads start
//!     let v = vec![0.0f32; 1 << 20];
//!     assert_eq!(v.len(), 1 << 20);
//! }
//! ```
#![allow(unsafe_code)]

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` (the same index in mimalloc 2 and 3; libmimalloc-sys leaves the
/// experimental options without constants): milliseconds before freed memory goes back to the
/// OS, -1 for never.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps memory that mimalloc has freed mapped for reuse instead of returning it to the OS a
/// second later (the process's memory then stays at its peak, as with PyTorch's CPU allocator). A
/// ResNet-18 fine-tuning step ran ≈ 15% faster with it (BENCHMARKS.md).
///
/// Call it at the start of `main`, before other threads start: mimalloc's option setters are
/// not thread safe. It only has an effect when mimalloc is the global allocator.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set` writes one integer option; the documented requirement is that no
    // other thread sets options concurrently, which the caller upholds (see above).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_the_purge_delay() {
        // mimalloc 3's default purge delay is 1000 ms; the index must read it before it is set.
        // SAFETY: reading an option; tests of this module do not set options concurrently.
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(before, 1000);
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, -1);
    }
}
