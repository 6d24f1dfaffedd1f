//! Batched calls (sweep, scan) write handles into a caller-owned Float64Array, so a batch of
//! any size crosses the boundary once and builds no JS objects; records go into a caller-owned
//! Uint8Array, and a session file comes in as one. All take the memory through
//! src/js_buffers.rs (plain ArrayBuffers only, a slice only while used).

use crate::js_buffers::{buffer_argument, JsMemory};

/// The Float64Array's memory, for the duration of one call.
pub struct HandleBuffer<'call>(JsMemory<'call, f64>);

impl HandleBuffer<'_> {
    /// The slots to fill, from the start.
    pub(crate) fn slots(&mut self) -> std::slice::IterMut<'_, f64> {
        self.0.get_mut().iter_mut()
    }

    /// The numbers it holds, to read.
    pub(crate) fn values(&self) -> &[f64] {
        self.0.get()
    }
}

/// A Uint8Array's memory, for the duration of one call: records written into a caller-owned
/// buffer instead of a new Buffer per call, or a session file to read.
pub struct ByteBuffer<'call>(JsMemory<'call, u8>);

impl ByteBuffer<'_> {
    /// The bytes, to write into.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.0.get_mut()
    }

    /// The bytes, to read.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.get()
    }
}

buffer_argument!(HandleBuffer, "Float64Array", typed_array);
buffer_argument!(ByteBuffer, "Uint8Array", typed_array);
