//! N-API binding of the sessionkeeper engine. Thin glue only: argument conversion and error
//! mapping live here, every rule lives in `sessionkeeper-core`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod engine;
mod errors;
mod handle_buffer;
mod id_text;
mod probe;

pub use engine::*;
pub use probe::{
    floor_copy_id, floor_copy_string, floor_noop, floor_probe_state, FloorProbe, ProbeState,
};
