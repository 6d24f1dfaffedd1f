//! The one way the binding takes the memory of an ArrayBuffer or a typed array argument: only a
//! plain ArrayBuffer's (never a SharedArrayBuffer's), and as a pointer and a length rather than a
//! reference, so that a slice exists only while it is used.
//!
//! napi-rs's `&mut [T]` conversion takes a typed array over a SharedArrayBuffer too, whose memory
//! another thread may write while Rust holds a `&mut` to it (undefined behaviour), and turns two
//! views of one buffer into two overlapping references that live for the whole call. A caller is
//! only the facade, but the binding is reachable from any JavaScript that loads it.
//!
//! Calls made once per request take a bare ArrayBuffer ([`JsMemory::array_buffer`]): two cheap napi
//! calls, where a typed array's info also makes a handle of its buffer and its check is a third
//! call. A bare `readSessionCookie` loop (10^6 calls, 10^3 sessions, median of 7 rounds, 4
//! alternating runs each, a probe outside the repository) took 240-263 ns with napi-rs's
//! unchecked Float64Array, 258-278 ns checked, and 212-219 ns with an ArrayBuffer. Batched calls
//! (sweep, scan, records) keep their typed arrays: one check per batch.
//!
//! Known limit: Node 26's immutable ArrayBuffers (`--js-immutable-arraybuffer`,
//! `ArrayBuffer.prototype.transferToImmutable`) have no Node-API test, so a call that writes its
//! buffer (`createSession`, `readSessionCookie`, `scan`, `sessionRecordsInto`) writes into one
//! given to it. Only the facade passes these buffers, and it makes them mutable.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr::NonNull;

use napi::{sys, Error, Result, Status};

/// An element type with its typed array kind.
pub(crate) trait Element: Copy {
    /// `napi_typedarray_type` of the typed array whose elements these are.
    const KIND: sys::napi_typedarray_type;
    /// The typed array's name, for the error a wrong argument gets.
    const NAME: &'static str;
}

impl Element for f64 {
    const KIND: sys::napi_typedarray_type = sys::TypedarrayType::float64_array;
    const NAME: &'static str = "Float64Array";
}

impl Element for u32 {
    const KIND: sys::napi_typedarray_type = sys::TypedarrayType::uint32_array;
    const NAME: &'static str = "Uint32Array";
}

impl Element for u8 {
    const KIND: sys::napi_typedarray_type = sys::TypedarrayType::uint8_array;
    const NAME: &'static str = "Uint8Array";
}

/// Whether `value` is an ArrayBuffer, not a SharedArrayBuffer. Since Node 22.21 and 24.9
/// `napi_get_arraybuffer_info` answers for a shared one too (nodejs/node#59071);
/// `napi_is_arraybuffer` is false for it on every supported Node.
///
/// # Safety
/// `env` and `value` come from napi for the call in progress.
pub(crate) unsafe fn is_unshared_array_buffer(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut plain = false;
    // SAFETY: the caller's word on env and value.
    let status = unsafe { sys::napi_is_arraybuffer(env, value, &mut plain) };
    status == sys::Status::napi_ok && plain
}

/// Whether `value` is a SharedArrayBuffer, for an error's words only (three napi calls): Node 20
/// has no Node-API check of its own, so this asks `value instanceof SharedArrayBuffer`.
///
/// # Safety
/// As [`is_unshared_array_buffer`].
unsafe fn is_shared_array_buffer(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut global = std::ptr::null_mut();
    let mut constructor = std::ptr::null_mut();
    let mut shared = false;
    // SAFETY: the caller's word on env and value; every out-pointer is a live local and the
    // property name is a NUL-terminated literal.
    unsafe {
        sys::napi_get_global(env, &mut global) == sys::Status::napi_ok
            && sys::napi_get_named_property(
                env,
                global,
                c"SharedArrayBuffer".as_ptr(),
                &mut constructor,
            ) == sys::Status::napi_ok
            && sys::napi_instanceof(env, value, constructor, &mut shared) == sys::Status::napi_ok
            && shared
    }
}

/// An ArrayBuffer's or a typed array's elements, for the duration of one call.
pub(crate) struct JsMemory<'call, T> {
    data: NonNull<T>,
    len: usize,
    call: PhantomData<&'call mut [T]>,
}

impl<T> JsMemory<'_, T> {
    /// `len` elements at `data` as napi gave them: a detached buffer has length 0 and may have
    /// no data pointer.
    fn given(data: *mut std::ffi::c_void, len: usize) -> Self {
        let (data, len) = match NonNull::new(data.cast::<T>()) {
            Some(data) if len > 0 => (data, len),
            _ => (NonNull::dangling(), 0),
        };
        JsMemory {
            data,
            len,
            call: PhantomData,
        }
    }

    /// The elements, to read.
    pub(crate) fn get(&self) -> &[T] {
        // SAFETY: V8 gave the live, unshared buffer's memory (aligned for T: `typed_array`
        // refuses a misaligned one) and length; the JS caller keeps it alive
        // for the whole call, and no other thread can reach it. A view of the same buffer in
        // another argument makes its own slice only while this borrow of self is not live.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }

    /// The elements, to write.
    pub(crate) fn get_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `get`; `&mut self` keeps this the only slice made from self.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.len) }
    }
}

impl<T: Element> JsMemory<'_, T> {
    /// The memory of `value`, a typed array of `T` over a plain ArrayBuffer.
    ///
    /// # Errors
    /// When `value` is not such a typed array (a SharedArrayBuffer's view included).
    ///
    /// # Safety
    /// `env` and `value` come from napi for the call in progress, and the result does not
    /// outlive it.
    pub(crate) unsafe fn typed_array(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let mut kind = 0;
        let mut len = 0usize;
        let mut data = std::ptr::null_mut();
        let mut buffer = std::ptr::null_mut();
        let mut offset = 0usize;
        // SAFETY: the caller's word on env and value; every out-pointer is a live local.
        let status = unsafe {
            sys::napi_get_typedarray_info(
                env,
                value,
                &mut kind,
                &mut len,
                &mut data,
                &mut buffer,
                &mut offset,
            )
        };
        if status != sys::Status::napi_ok || kind != T::KIND {
            let why = format!("expected a {}", T::NAME);
            return Err(Error::new(Status::InvalidArg, why));
        }
        // SAFETY: as above; `buffer` is the typed array's buffer, just handed out by napi.
        if !unsafe { is_unshared_array_buffer(env, buffer) } {
            let why = format!(
                "expected a {} over an ArrayBuffer, not a SharedArrayBuffer",
                T::NAME
            );
            return Err(Error::new(Status::InvalidArg, why));
        }
        // A typed array's offset is a multiple of its element size, but its buffer's memory need
        // not be aligned: an external ArrayBuffer made by another addon can start at any address.
        if len > 0 && !data.cast::<T>().is_aligned() {
            let why = format!(
                "expected a {} whose memory is aligned to {} bytes",
                T::NAME,
                std::mem::align_of::<T>()
            );
            return Err(Error::new(Status::InvalidArg, why));
        }
        Ok(Self::given(data, len))
    }
}

impl JsMemory<'_, u8> {
    /// The bytes of `value`, a plain ArrayBuffer: two cheap napi calls, where a typed array's
    /// info also makes a handle of its buffer.
    ///
    /// # Errors
    /// When `value` is not one (a SharedArrayBuffer included).
    ///
    /// # Safety
    /// As [`JsMemory::typed_array`].
    pub(crate) unsafe fn array_buffer(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let refused = || Error::new(Status::InvalidArg, "expected an ArrayBuffer");
        // SAFETY: the caller's word on env and value.
        if !unsafe { is_unshared_array_buffer(env, value) } {
            // SAFETY: as above.
            if unsafe { is_shared_array_buffer(env, value) } {
                let why = "expected an ArrayBuffer, not a SharedArrayBuffer";
                return Err(Error::new(Status::InvalidArg, why));
            }
            return Err(refused());
        }
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: as above; value is an ArrayBuffer, so data and len are written.
        let status = unsafe { sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len) };
        if status != sys::Status::napi_ok {
            return Err(refused());
        }
        Ok(Self::given(data, len))
    }
}

/// Implements napi-rs's argument traits for `$argument<'call>`, a one-field wrapper of a
/// [`JsMemory`] made by its constructor `$make` (`typed_array` or `array_buffer`), named `$name`
/// in the type definitions.
macro_rules! buffer_argument {
    ($argument:ident, $name:literal, $make:ident) => {
        impl napi::bindgen_prelude::TypeName for $argument<'_> {
            fn type_name() -> &'static str {
                $name
            }

            fn value_type() -> napi::ValueType {
                napi::ValueType::Object
            }
        }

        impl napi::bindgen_prelude::ValidateNapiValue for $argument<'_> {}

        // The conversion's unsafety is all in JsMemory's constructor.
        #[allow(unsafe_code)]
        impl napi::bindgen_prelude::FromNapiValue for $argument<'_> {
            unsafe fn from_napi_value(
                env: napi::sys::napi_env,
                value: napi::sys::napi_value,
            ) -> napi::Result<Self> {
                // SAFETY: napi converts an argument of the call in progress, and the argument
                // lives no longer than that call.
                Ok($argument(unsafe {
                    $crate::js_buffers::JsMemory::$make(env, value)?
                }))
            }
        }
    };
}

pub(crate) use buffer_argument;
