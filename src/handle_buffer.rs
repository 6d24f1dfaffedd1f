//! Batched calls (sweep, scan) write handles into a caller-owned Float64Array, so a batch of
//! any size crosses the boundary once and builds no JS objects.
#![allow(unsafe_code)]

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Result, ValueType};

/// The Float64Array's memory, borrowed for the duration of one call.
pub struct HandleBuffer<'call>(&'call mut [f64]);

impl HandleBuffer<'_> {
    /// The slots to fill, from the start.
    pub(crate) fn slots(&mut self) -> std::slice::IterMut<'_, f64> {
        self.0.iter_mut()
    }
}

impl TypeName for HandleBuffer<'_> {
    fn type_name() -> &'static str {
        "Float64Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for HandleBuffer<'_> {}

impl FromNapiValue for HandleBuffer<'_> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        // SAFETY: napi-rs checks that the value is a Float64Array and borrows its backing store;
        // the JS caller keeps the array alive for the whole call and nothing else touches it then.
        let slice = unsafe { <&mut [f64] as FromNapiValue>::from_napi_value(env, value)? };
        Ok(HandleBuffer(slice))
    }
}

/// A Uint8Array's memory, borrowed for the duration of one call (records written into a
/// caller-owned buffer instead of a new Buffer per call).
pub struct ByteBuffer<'call>(&'call mut [u8]);

impl ByteBuffer<'_> {
    /// The bytes, to write into.
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        self.0
    }
}

impl TypeName for ByteBuffer<'_> {
    fn type_name() -> &'static str {
        "Uint8Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for ByteBuffer<'_> {}

impl FromNapiValue for ByteBuffer<'_> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        // SAFETY: napi-rs checks that the value is a Uint8Array and borrows its backing store;
        // the JS caller keeps the array alive for the whole call and nothing else touches it then.
        let slice = unsafe { <&mut [u8] as FromNapiValue>::from_napi_value(env, value)? };
        Ok(ByteBuffer(slice))
    }
}
