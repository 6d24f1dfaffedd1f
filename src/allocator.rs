//! mimalloc purges freed memory back to the OS only some time after it was freed (10 ms, 100 ms
//! for whole segments), and runs those delayed purges only from later allocator calls in the
//! same part of the heap. After a mass expiry nothing comes back there, so the freed pages of
//! 4M sessions stayed resident: 1,223 MiB after they expired against 86 MiB before
//! (bench/growth-stall.ts expire). Purging at once gives them back: 103 MiB. The cost is a
//! madvise per emptied 64 KiB mimalloc page, which a later session re-faults.
//!
//! mimalloc also commits each 1 GiB arena it reserves eagerly by default on Linux; filling a
//! table to 3M sessions in Rust then had 313 creates over 0.5 ms of thread CPU, the slowest 9 ms,
//! clustered where arenas were committed; committed on demand, 2, the slowest 0.54 ms.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};
use std::sync::Once;

/// `mi_option_arena_eager_commit` and `mi_option_purge_delay` in mimalloc v2's `mi_option_e`
/// (libmimalloc-sys 0.1.49, v2 feature, pinned with the crate in Cargo.toml).
const MI_OPTION_ARENA_EAGER_COMMIT: c_int = 4;
const MI_OPTION_PURGE_DELAY: c_int = 15;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets the purge delay to 0 and arena commits to on demand, once per process, before the
/// first engine allocates.
pub(crate) fn tune() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: mi_option_set takes any option index and value, and options are atomics
        // mimalloc reads on each purge decision; the index is the pinned version's.
        unsafe {
            mi_option_set(MI_OPTION_PURGE_DELAY, 0);
            mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    });
}
