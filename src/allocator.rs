//! mimalloc purges freed memory back to the OS only some time after it was freed (10 ms, 100 ms
//! for whole segments), and runs those delayed purges only from later allocator calls in the
//! same part of the heap. After a mass expiry nothing comes back there, so the freed pages of
//! 4M sessions stay resident (bench/growth-stall.ts expire). Purging at once (purge delay 0)
//! gave them back, but put a madvise per emptied 64 KiB page into the sweep: 10^6 sessions
//! expiring blocked the event loop for 7.4-9.9 ms instead of 2.6 ms, and took 360 ms instead of
//! 272 (bench/store-worker.ts native 1000000 full, alternating builds, load below 1). Issue 11's
//! bound on expiry blocks wins: the default delay stays.
//!
//! mimalloc also commits each 1 GiB arena it reserves eagerly by default on Linux; filling a
//! table to 3M sessions in Rust then had 313 creates over 0.5 ms of thread CPU, the slowest 9 ms,
//! clustered where arenas were committed; committed on demand, 2, the slowest 0.54 ms.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};
use std::sync::Once;

/// `mi_option_arena_eager_commit` in mimalloc v2's `mi_option_e` (libmimalloc-sys 0.1.49, v2
/// feature, pinned with the crate in Cargo.toml).
const MI_OPTION_ARENA_EAGER_COMMIT: c_int = 4;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets arena commits to on demand, once per process, before the first engine allocates.
pub(crate) fn tune() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: mi_option_set takes any option index and value, and options are atomics
        // mimalloc reads on each purge decision; the index is the pinned version's.
        unsafe {
            mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    });
}
