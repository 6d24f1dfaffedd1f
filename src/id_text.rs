//! Ids and keys cross the boundary through fixed stack buffers, so that a lookup allocates
//! nothing on the Rust side (a `String` argument would cost a malloc and a free per request).
#![allow(unsafe_code)]

use std::mem::MaybeUninit;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Error, Result, Status, ValueType};

/// Longest id or key the engine accepts, in UTF-8 bytes.
pub(crate) const MAX_KEY_BYTES: usize = 255;

/// The limit, a terminating NUL and one UTF-8 character more: V8 stops a truncated copy at a
/// character boundary (at most 3 bytes short of the room left before the NUL), so a copy of
/// more than `MAX_KEY_BYTES` proves the string is too long, and a shorter copy is the whole
/// string.
const COPY_BUFFER_BYTES: usize = MAX_KEY_BYTES + 1 + 4;

/// A JS string argument read into a stack buffer. Strings longer than `MAX_KEY_BYTES` are kept
/// as "too long" rather than truncated, so they can never match a stored key by prefix. The
/// buffer is left uninitialised past what V8 wrote: zeroing it cost a memset on every lookup.
pub struct IdArg {
    buffer: MaybeUninit<[u8; COPY_BUFFER_BYTES]>,
    len: usize,
}

impl IdArg {
    /// The string's UTF-8 bytes, or `None` when it is longer than any id or key can be.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        if self.len > MAX_KEY_BYTES {
            return None;
        }
        // SAFETY: an IdArg exists only after napi_get_value_string_utf8 succeeded, which wrote
        // `len` bytes (and a NUL) at the start of the buffer; `len` < the buffer's size.
        Some(unsafe { std::slice::from_raw_parts(self.buffer.as_ptr().cast::<u8>(), self.len) })
    }
}

impl TypeName for IdArg {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for IdArg {}

impl FromNapiValue for IdArg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut arg = IdArg {
            buffer: MaybeUninit::uninit(),
            len: 0,
        };
        let mut copied = 0usize;
        // SAFETY: env and value come from napi for this call; the buffer outlives the call and its
        // length is passed, so V8 writes at most that many bytes including the terminating NUL.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                env,
                value,
                arg.buffer.as_mut_ptr().cast(),
                COPY_BUFFER_BYTES,
                &mut copied,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(Error::new(Status::StringExpected, "expected a string id"));
        }
        arg.len = copied;
        Ok(arg)
    }
}

/// An id on its way out, encoded into a stack buffer by the engine.
pub struct IdText {
    pub(crate) buffer: [u8; MAX_KEY_BYTES + 1],
    pub(crate) len: usize,
}

impl TypeName for IdText {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for IdText {
    unsafe fn to_napi_value(env: sys::napi_env, text: Self) -> Result<sys::napi_value> {
        let bytes = text.buffer.get(..text.len).unwrap_or_default();
        let mut result = ptr::null_mut();
        // SAFETY: the pointer and length describe initialised bytes of `text`, alive for the call.
        let status = unsafe {
            sys::napi_create_string_utf8(
                env,
                bytes.as_ptr().cast(),
                bytes.len() as isize,
                &mut result,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(Error::new(
                Status::GenericFailure,
                "could not create the id string",
            ));
        }
        Ok(result)
    }
}
