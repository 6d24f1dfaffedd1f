//! The request path of the HTTP integrations: one call per request reads the Cookie header,
//! verifies the session cookie and looks the session up and renews it
//! (`sessionkeeper_core::cookie`). The header crosses as UTF-16, so the positions written
//! back are JS string indices the caller can slice the id with.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use napi::bindgen_prelude::{External, FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Error, Result, Status, ValueType};
use napi_derive::napi;
use sessionkeeper_core::cookie::{CookieRead, CookieVerifier};

use crate::engine::NativeEngine;
use crate::js_buffers::{buffer_argument, JsMemory};

/// The header had no value of the session cookie.
const COOKIE_NONE: f64 = -1.0;
/// Values were refused (format, size, signature, too many, ambiguous).
const COOKIE_REJECTED: f64 = -2.0;
/// A value verified but names no live session.
const COOKIE_NOT_FOUND: f64 = -3.0;

/// Headers of at most this many UTF-16 units less two are read into the stack, longer ones to
/// the heap: most Cookie headers are a few hundred characters.
const STACK_UNITS: usize = 512;

/// A JS string argument, read as UTF-16 code units inside the call ([`HeaderValue::read`]): its
/// buffer lives in that frame, neither zeroed nor moved (a 1 KiB buffer returned by value from
/// the argument conversion was copied on every call).
pub struct HeaderValue {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl TypeName for HeaderValue {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for HeaderValue {}

impl FromNapiValue for HeaderValue {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(HeaderValue { env, value })
    }
}

fn not_a_string() -> Error {
    Error::new(Status::StringExpected, "expected a header string")
}

impl HeaderValue {
    /// Calls `read` with the string's UTF-16 units. A header that fits the stack buffer is
    /// copied in one call: V8 copies at most size - 1 units, so fewer than that copied means the
    /// whole string. Only a longer one is then measured and copied again to the heap.
    fn read<R>(&self, read: impl FnOnce(&[u16]) -> R) -> Result<R> {
        let mut stack = [MaybeUninit::<u16>::uninit(); STACK_UNITS];
        let mut copied = 0usize;
        // SAFETY: the stack buffer holds STACK_UNITS units, the size given, terminator included;
        // `env` and `value` are the call's own, used within it.
        let status = unsafe {
            sys::napi_get_value_string_utf16(
                self.env,
                self.value,
                stack.as_mut_ptr().cast::<u16>(),
                STACK_UNITS,
                &mut copied,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(not_a_string());
        }
        if copied < STACK_UNITS - 1 {
            // SAFETY: V8 wrote the first `copied` units (plus a terminator after them).
            let units = unsafe { std::slice::from_raw_parts(stack.as_ptr().cast::<u16>(), copied) };
            return Ok(read(units));
        }
        let mut len = 0usize;
        // SAFETY: a null buffer asks for the length only (in units, without the terminator).
        let status = unsafe {
            sys::napi_get_value_string_utf16(
                self.env,
                self.value,
                std::ptr::null_mut(),
                0,
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(not_a_string());
        }
        let mut heap = vec![0u16; len + 1];
        // SAFETY: the heap buffer holds `len + 1` units; V8 writes at most that many, terminator
        // included.
        let status = unsafe {
            sys::napi_get_value_string_utf16(
                self.env,
                self.value,
                heap.as_mut_ptr(),
                len + 1,
                &mut copied,
            )
        };
        if status != sys::Status::napi_ok || copied != len {
            return Err(Error::new(
                Status::StringExpected,
                "could not read the header string",
            ));
        }
        Ok(read(heap.get(..len).unwrap_or_default()))
    }
}

/// Session cookies of one name and list of secrets, each secret's HMAC keys prepared once.
/// Made once per middleware.
pub struct NativeCookieVerifier(CookieVerifier);

/// A verifier of session cookies named `name`, signed with `secrets` (none: unsigned). The
/// facade has validated both.
#[napi(catch_unwind, ts_return_type = "ExternalObject<'CookieVerifier'>")]
pub fn create_cookie_verifier(
    name: String,
    secrets: Vec<String>,
) -> External<NativeCookieVerifier> {
    External::new(NativeCookieVerifier(CookieVerifier::new(&name, &secrets)))
}

/// Where [`read_session_cookie`] writes the found cookie's details: an ArrayBuffer, the cheapest
/// argument to check once per request (src/js_buffers.rs).
pub struct CookieDetails<'call>(JsMemory<'call, u8>);

impl CookieDetails<'_> {
    fn put(&mut self, details: [f64; 5]) {
        for (place, detail) in self.0.get_mut().chunks_exact_mut(8).zip(details) {
            place.copy_from_slice(&detail.to_ne_bytes());
        }
    }
}

buffer_argument!(CookieDetails, "ArrayBuffer", array_buffer);

/// Reads a request's Cookie header: the handle of the live session its session cookie names
/// (renewed), or -1 (no session cookie), -2 (refused), -3 (verified, no live session). When a
/// session is found, `out` gets [value start, id end, value end, secret index, 1 if the 0.1.0
/// signature matched] as f64s (this machine's byte order), as far as it reaches; positions are
/// JS string indices.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, verifier: ExternalObject<'CookieVerifier'>, header: string, now: number, out: ArrayBuffer"
)]
pub fn read_session_cookie(
    engine: &mut External<NativeEngine>,
    verifier: &External<NativeCookieVerifier>,
    header: HeaderValue,
    now: f64,
    mut out: CookieDetails,
) -> Result<f64> {
    let read = header.read(|units| verifier.0.read(&mut engine.engine, units, now))?;
    Ok(match read {
        CookieRead::NoCookie => COOKIE_NONE,
        CookieRead::Rejected => COOKIE_REJECTED,
        CookieRead::NotFound => COOKIE_NOT_FOUND,
        CookieRead::Found {
            handle,
            value,
            verified,
        } => {
            let details = [
                value.start as f64,
                (value.start + verified.id_len) as f64,
                value.end as f64,
                verified.secret as f64,
                if verified.legacy { 1.0 } else { 0.0 },
            ];
            out.put(details);
            handle.to_f64()
        }
    })
}
