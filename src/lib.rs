//! N-API binding of the sessionkeeper engine. Thin glue only: argument conversion and error
//! mapping live here, every rule lives in `sessionkeeper-core`. Every exported function is
//! `catch_unwind`: the engine is written not to panic, and should it ever, JavaScript gets an
//! exception instead of an aborted process (no measurable cost, bench/call-shape.ts).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Freeing a million sessions' strings through glibc malloc stalls a sweep call for up to
/// 76-114 ms (fastbin consolidation); mimalloc frees in O(1) with no global pauses (README,
/// Design notes). Its v2 feature, pinned with the crate: mimalloc v3 (the crate's default) keeps
/// thread state that does not survive the addon being loaded again in a new Worker, and the
/// process segfaults (__test__/workers.spec.ts). Large blocks go to a huge-page arena
/// (src/allocator.rs).
#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

mod allocator;
mod cookie;
mod engine;
mod errors;
mod expiry_lag;
mod external_memory;
mod handle_buffer;
mod id_text;
mod js_buffers;
mod owner_lock;
mod packed;
mod persist;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod prefault;
mod probe;

pub use allocator::release_freed_memory;
pub use cookie::*;
pub use engine::*;
pub use expiry_lag::*;
pub use owner_lock::*;
pub use persist::*;
pub use probe::{
    floor_copy_id, floor_copy_string, floor_noop, floor_probe_state, FloorProbe, ProbeState,
};
