//! The facade's packed form of a session's data entries: the strings key, value, key, value...
//! concatenated into one JS string, and each one's length in UTF-16 code units (as JavaScript
//! counts) in the scratch ArrayBuffer the facade keeps ([`PackedScratch`]). One string and one
//! ArrayBuffer cross the boundary for a whole record instead of two strings per entry (converting a JS array costs napi calls
//! per element), the facade writes no length digits into the text, and the binding copies the
//! text once, into a stack buffer, then each piece once, into the session's record.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
use napi::{sys, Error, Result, Status, ValueType};

use crate::js_buffers::{buffer_argument, JsMemory};

/// Texts up to this many UTF-8 bytes are read into the stack; longer ones into the heap.
const INLINE_BYTES: usize = 1024;

/// A JS string argument, read as UTF-8 only inside the call that takes it ([`PackedText::read`]):
/// into a stack buffer of that call's frame without a heap allocation when it is short (typical
/// session data: ~200 bytes), and without V8 measuring it first, one copy telling whether it
/// fitted. Holding the value rather than the bytes keeps napi-rs from moving a 1 KiB buffer
/// from the conversion into the call (memmove was 3-4% of a create, `perf`).
pub struct PackedText {
    env: sys::napi_env,
    value: sys::napi_value,
}

impl PackedText {
    /// Runs `use_text` on the text (`None` if it is not UTF-8: V8 writes replacement
    /// characters, so never).
    ///
    /// # Errors
    /// When the value is not a string.
    pub(crate) fn read<R>(&self, use_text: impl FnOnce(Option<&str>) -> R) -> Result<R> {
        let mut inline = MaybeUninit::<[u8; INLINE_BYTES]>::uninit();
        let mut copied = 0usize;
        // SAFETY: env and value come from napi for the call this PackedText is an argument of,
        // and `read` runs inside it; the buffer outlives the call and its length is passed, so V8
        // writes at most that many bytes including the terminating NUL.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                self.value,
                inline.as_mut_ptr().cast(),
                INLINE_BYTES,
                &mut copied,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(Error::new(
                Status::StringExpected,
                "expected the packed data as a string",
            ));
        }
        // V8 copies at most INLINE_BYTES - 1 bytes and stops a cut copy at a character boundary,
        // at most 3 bytes short: a copy that ends 4 or more bytes before that is the whole text.
        if copied + 4 < INLINE_BYTES - 1 {
            // SAFETY: napi_get_value_string_utf8 succeeded and wrote `copied` bytes (and a NUL)
            // at the start of the buffer; `copied` < the buffer's size.
            let bytes = unsafe { std::slice::from_raw_parts(inline.as_ptr().cast::<u8>(), copied) };
            return Ok(use_text(std::str::from_utf8(bytes).ok()));
        }
        // SAFETY: as above; napi-rs measures the string, then copies it into a String.
        let text = unsafe { String::from_napi_value(self.env, self.value)? };
        Ok(use_text(Some(&text)))
    }
}

impl TypeName for PackedText {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for PackedText {}

impl FromNapiValue for PackedText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        Ok(PackedText { env, value })
    }
}

/// The facade's scratch for a packed record, one ArrayBuffer it keeps: a create's new handle
/// goes to its first 8 bytes (an f64) and the packed strings' lengths follow (u32s, this
/// machine's byte order). One ArrayBuffer costs two cheap napi calls where a Float64Array and a
/// Uint32Array cost two `napi_get_typedarray_info`s, which were 4% of a create (`perf`, 10^6
/// sessions), and their checks two more (src/js_buffers.rs).
pub struct PackedScratch<'call>(JsMemory<'call, u8>);

/// Bytes before the lengths: the handle.
const HANDLE_BYTES: usize = 8;

impl PackedScratch<'_> {
    /// Writes the handle; false when the buffer has no room for it.
    pub(crate) fn put_handle(&mut self, handle: f64) -> bool {
        match self.0.get_mut().get_mut(..HANDLE_BYTES) {
            Some(place) => {
                place.copy_from_slice(&handle.to_ne_bytes());
                true
            }
            None => false,
        }
    }

    /// The lengths the buffer holds after the handle (as many as fit; the facade says how many
    /// count).
    pub(crate) fn lengths(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .get()
            .get(HANDLE_BYTES..)
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }
}

buffer_argument!(PackedScratch, "ArrayBuffer", array_buffer);

/// Splits `units` UTF-16 code units off the front of `text`. With `ascii` (the whole text is
/// ASCII, checked once by the caller) a code unit is a byte; otherwise the characters are walked
/// to count their units. `None` when the text is shorter or the cut falls inside a character.
fn take_units(text: &str, units: usize, ascii: bool) -> Option<(&str, &str)> {
    if ascii {
        return Some((text.get(..units)?, text.get(units..)?));
    }
    let mut left = units;
    let mut end = 0;
    for c in text.chars() {
        if left == 0 {
            break;
        }
        left = left.checked_sub(c.len_utf16())?;
        end += c.len_utf8();
    }
    if left != 0 {
        return None;
    }
    Some((text.get(..end)?, text.get(end..)?))
}

/// The `pairs` (key, value) pairs of `text` cut at `lengths` (2 × `pairs` of them, UTF-16
/// units), or `None` when they do not cut it exactly (too few lengths, a length past the end or
/// inside a character, text left over), so that a caller can refuse it before changing anything.
pub(crate) fn parse_entries(
    text: &str,
    lengths: impl IntoIterator<Item = u32>,
    pairs: u32,
) -> Option<Vec<(&str, &str)>> {
    let ascii = text.is_ascii();
    // Room for typical data up front; `pairs` itself is the caller's word (u32::MAX included).
    let mut entries = Vec::with_capacity((pairs as usize).min(16));
    let mut lengths = lengths.into_iter();
    let mut rest = text;
    for _ in 0..pairs {
        let (key, after_key) = take_units(rest, lengths.next()? as usize, ascii)?;
        let (value, after_value) = take_units(after_key, lengths.next()? as usize, ascii)?;
        entries.push((key, value));
        rest = after_value;
    }
    rest.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(parts: &[&str]) -> (String, Vec<u32>) {
        let lengths = parts
            .iter()
            .map(|p| p.encode_utf16().count() as u32)
            .collect();
        (parts.concat(), lengths)
    }

    #[test]
    fn ascii_and_wide_text_split_alike() {
        for parts in [
            &["a", "1", "theme", "dark"][..],
            &["é", "😀x", "k", ""],
            &["", ":", "3:", "0:"],
        ] {
            let (text, lengths) = pack(parts);
            let flat: Option<Vec<&str>> = parse_entries(&text, lengths.iter().copied(), 2)
                .map(|entries| entries.iter().flat_map(|(k, v)| [*k, *v]).collect());
            assert_eq!(flat.as_deref(), Some(parts), "{text:?}");
        }
    }

    #[test]
    fn lengths_that_do_not_cut_the_text_exactly_are_refused_whole() {
        for (text, lengths, pairs) in [
            ("a", &[1u32][..], 1),
            ("ab", &[1, 2], 1),
            ("abc", &[1, 1], 1),
            ("😀a", &[1, 2], 1),
            ("a", &[0, 0], 1),
            ("ab", &[1, 1], 2),
        ] {
            assert_eq!(
                parse_entries(text, lengths.iter().copied(), pairs),
                None,
                "{text:?} {lengths:?}"
            );
        }
        assert_eq!(parse_entries("", [], 0), Some(vec![]));
        assert_eq!(parse_entries("", [], u32::MAX), None);
    }
}
