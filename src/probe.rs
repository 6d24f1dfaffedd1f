//! The floor that benchmarks compare against: a bare binding call that copies a fresh id string
//! and returns a number, in the two call shapes napi-rs offers (a class method and a free
//! function over an `External`). The engine's shape was chosen by measuring these.

use napi::bindgen_prelude::External;
use napi_derive::napi;

use crate::id_text::IdArg;

fn checksum(id: &IdArg) -> u32 {
    id.bytes().map_or(0, |bytes| {
        bytes.first().copied().map_or(0, u32::from) + bytes.len() as u32
    })
}

/// A class whose only method copies an id: the cost of a class-method crossing.
#[napi]
pub struct FloorProbe {
    calls: u32,
}

#[napi]
impl FloorProbe {
    /// Creates a probe.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        FloorProbe { calls: 0 }
    }

    /// Copies the id into a stack buffer and returns a number derived from it.
    #[napi(catch_unwind, ts_args_type = "id: string")]
    pub fn copy_id(&mut self, id: IdArg) -> u32 {
        self.calls = self.calls.wrapping_add(1);
        checksum(&id)
    }
}

/// State behind the free-function probe.
pub struct ProbeState {
    calls: u32,
}

/// Creates the state for `floorCopyId`.
#[napi(catch_unwind, ts_return_type = "ExternalObject<'FloorProbeState'>")]
pub fn floor_probe_state() -> External<ProbeState> {
    External::new(ProbeState { calls: 0 })
}

/// Copies the id into a stack buffer and returns a number: the cost of a free-function crossing
/// over an `External`.
#[napi(
    catch_unwind,
    ts_args_type = "state: ExternalObject<'FloorProbeState'>, id: string"
)]
pub fn floor_copy_id(state: &mut External<ProbeState>, id: IdArg) -> u32 {
    state.calls = state.calls.wrapping_add(1);
    checksum(&id)
}

/// A crossing with no string: the fixed cost of any binding call.
#[napi(catch_unwind)]
pub fn floor_noop(value: u32) -> u32 {
    value.wrapping_add(1)
}

/// The same copy through napi-rs's own `String` conversion (two V8 calls and a heap allocation).
#[napi(catch_unwind)]
pub fn floor_copy_string(id: String) -> u32 {
    id.len() as u32
}
