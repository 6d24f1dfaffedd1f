//! The session cookie of the HTTP integrations, read in the engine: one call parses a request's
//! Cookie header, finds the session cookie's values, verifies their signatures and looks the
//! session up, so a request crosses from JavaScript once.
//!
//! Every rule is the one `ts/integrations/cookies.ts` implements for the JsEngine (the
//! executable specification), and a property test feeds both the same headers:
//!
//! - pairs are split on `;`, a name ends at the first `=`, and only spaces and tabs around names
//!   and values are trimmed; pairs without `=` are skipped;
//! - only values of pairs named like the session cookie are judged; more than
//!   [`MAX_SESSION_COOKIES`] of them name no session;
//! - a value longer than [`MAX_COOKIE_VALUE`] units, empty, or with a unit outside RFC 6265's
//!   cookie-octets is refused;
//! - a signed value is `<id>.<signature>`, the signature the unpadded base64url HMAC-SHA256 of
//!   `<name>=<id>` under a key derived from the secret (the HMAC of [`SIGNING_CONTEXT`] under the
//!   secret). Over random ids the 0.1.0 signature (the bare id's HMAC under the secret itself)
//!   verifies too. Secrets are tried in order and the first that verifies wins;
//! - one value: its session, renewed. Several: the one naming a live session (looked up without
//!   renewing), then renewed; two distinct live ones name none.
//!
//! Header text comes as UTF-8 bytes or as UTF-16 code units (the binding copies JS strings as
//! UTF-16, so positions are JS string indices): anything outside ASCII is never a delimiter,
//! a name or part of a value, so both readings give the same answer.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::KeyMode;
use crate::engine::Engine;
use crate::handle::Handle;
use crate::ids::{B64_VALUE, INVALID, INVALID_BIT};

type HmacSha256 = Hmac<Sha256>;

/// Longest session cookie value read, in units (characters); a longer one names no session.
pub const MAX_COOKIE_VALUE: usize = 4096;
/// Most values of the session cookie judged in one header; more name no session.
pub const MAX_SESSION_COOKIES: usize = 8;
/// What a derived signing key is for: no other use of a secret derives the same key.
pub const SIGNING_CONTEXT: &[u8] = b"sessionkeeper session cookie signature v1";
/// Length of an unpadded base64url HMAC-SHA256.
const SIGNATURE_LENGTH: usize = 43;
/// Longest id or key the engine holds, in bytes: a longer id names no session.
const MAX_ID_BYTES: usize = 255;

/// One unit of header text: a UTF-8 byte or a UTF-16 code unit.
pub trait Unit: Copy {
    /// The unit's value; every value above 0x7f is outside ASCII.
    fn code(self) -> u32;
}

impl Unit for u8 {
    fn code(self) -> u32 {
        u32::from(self)
    }
}

impl Unit for u16 {
    fn code(self) -> u32 {
        u32::from(self)
    }
}

/// Where a value sits in the header: units `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First unit of the value.
    pub start: usize,
    /// One past its last unit.
    pub end: usize,
}

/// Calls `found` with each value of a pair named `name`, in header order, while it returns true.
/// Linear in the header: the next `=` is remembered across pairs, so a header of pairs without
/// `=` is not rescanned for each.
///
/// ```
/// use sessionkeeper_core::cookie::{find_cookies, Span};
/// let mut spans = vec![];
/// find_cookies(b" sid = a ;x=1;sid=b".as_slice(), b"sid", |span| { spans.push(span); true });
/// assert_eq!(spans, [Span { start: 7, end: 8 }, Span { start: 18, end: 19 }]);
/// ```
pub fn find_cookies<U: Unit>(header: &[U], name: &[u8], mut found: impl FnMut(Span) -> bool) {
    let len = header.len();
    let mut start = 0;
    let mut equals: Option<usize> = None;
    while start < len {
        let end = position(header, start, b';').unwrap_or(len);
        let eq = match equals {
            Some(at) if at >= start => at,
            _ => match position(header, start, b'=') {
                Some(at) => {
                    equals = Some(at);
                    at
                }
                None => return,
            },
        };
        if eq < end {
            let (name_start, name_end) = trim(header, start, eq);
            if is_name(header.get(name_start..name_end).unwrap_or_default(), name) {
                let (value_start, value_end) = trim(header, eq + 1, end);
                if !found(Span {
                    start: value_start,
                    end: value_end,
                }) {
                    return;
                }
            }
        }
        start = end + 1;
    }
}

fn position<U: Unit>(header: &[U], from: usize, byte: u8) -> Option<usize> {
    let rest = header.get(from..)?;
    rest.iter()
        .position(|unit| unit.code() == u32::from(byte))
        .map(|at| at + from)
}

/// `start..end` without the spaces and tabs at either end.
fn trim<U: Unit>(header: &[U], mut start: usize, mut end: usize) -> (usize, usize) {
    let blank = |at: usize| {
        header
            .get(at)
            .is_some_and(|u| u.code() == 0x20 || u.code() == 0x09)
    };
    while start < end && blank(start) {
        start += 1;
    }
    while end > start && blank(end - 1) {
        end -= 1;
    }
    (start, end)
}

fn is_name<U: Unit>(units: &[U], name: &[u8]) -> bool {
    units.len() == name.len()
        && units
            .iter()
            .zip(name)
            .all(|(unit, byte)| unit.code() == u32::from(*byte))
}

/// RFC 6265 cookie-octets (visible ASCII except `"`, `,`, `;` and `\`) as a bit per code below
/// 128: one shift and mask per unit, where a chain of range tests compiled to a slow loop.
const COOKIE_OCTETS: u128 = {
    let mut bits = 0u128;
    let mut code = 0x21;
    while code <= 0x7e {
        if code != 0x22 && code != 0x2c && code != 0x3b && code != 0x5c {
            bits |= 1 << code;
        }
        code += 1;
    }
    bits
};

fn is_cookie_octet(code: u32) -> bool {
    code < 128 && (COOKIE_OCTETS >> code) & 1 == 1
}

/// True when every unit is a cookie-octet.
fn all_cookie_octets<U: Unit>(units: &[U]) -> bool {
    // No early exit: the loop stays branch-free, and a refused value is rare.
    units
        .iter()
        .fold(true, |valid, unit| valid & is_cookie_octet(unit.code()))
}

/// A value that verified: which secret, and whether by the 0.1.0 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Index of the secret that verified it (0 for unsigned cookies).
    pub secret: usize,
    /// True when the 0.1.0 signature (the bare id's HMAC under the secret) matched.
    pub legacy: bool,
    /// Units of the id: the value before its last `.` (the whole value when unsigned).
    pub id_len: usize,
}

/// Both keys of one secret, each as HMAC-SHA256 state with the key already absorbed (its inner
/// and outer pads hashed once), so a verification costs the message's blocks only.
#[derive(Clone)]
struct SecretKeys {
    current: HmacSha256,
    legacy: HmacSha256,
}

/// Verifies and reads session cookies named `name`, signed with any of the secrets.
#[derive(Clone)]
pub struct CookieVerifier {
    name: Vec<u8>,
    /// `<name>=`, what the current signature's message starts with.
    prefix: Vec<u8>,
    secrets: Vec<SecretKeys>,
}

/// What a Cookie header said about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieRead {
    /// No value of the session cookie.
    NoCookie,
    /// No value passed the checks or the signature, there were too many, or two name live
    /// sessions.
    Rejected,
    /// A value verified but names no live session.
    NotFound,
    /// The live session it names, renewed.
    Found {
        /// The session.
        handle: Handle,
        /// The chosen value in the header.
        value: Span,
        /// How it verified; the id is the first `id_len` units of `value`.
        verified: Verified,
    },
}

/// Feeds ASCII units to the HMAC as bytes, through a small stack buffer, after `prefix`: one
/// update per 64 bytes rather than one per piece (each update goes through the block buffer).
fn feed<U: Unit>(mac: &mut HmacSha256, prefix: &[u8], units: &[U]) {
    let mut buffer = [0u8; 64];
    let mut filled = 0;
    for &byte in prefix {
        if filled == buffer.len() {
            mac.update(&buffer);
            filled = 0;
        }
        if let Some(slot) = buffer.get_mut(filled) {
            *slot = byte;
        }
        filled += 1;
    }
    for unit in units {
        if filled == buffer.len() {
            mac.update(&buffer);
            filled = 0;
        }
        if let Some(slot) = buffer.get_mut(filled) {
            *slot = unit.code() as u8;
        }
        filled += 1;
    }
    mac.update(buffer.get(..filled).unwrap_or_default());
}

/// The value of a base64url unit, [`INVALID`] outside the alphabet: one load per unit, where a
/// chain of range tests mispredicted on random signatures (two thirds of a verification's time
/// went to decoding its 43 characters).
fn base64url_value(code: u32) -> u8 {
    B64_VALUE.get(code as usize).copied().unwrap_or(INVALID)
}

/// The 32 bytes of an unpadded base64url signature, only in its canonical spelling (the last
/// character's two spare bits zero): the one spelling the JS path compares equal. No branch
/// depends on the characters: every unit is decoded and a bad one refuses the whole at the end.
fn decode_signature<U: Unit>(text: &[U]) -> Option<[u8; 32]> {
    if text.len() != SIGNATURE_LENGTH {
        return None;
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    let mut value = |at: usize| {
        let v = text
            .get(at)
            .map_or(INVALID, |unit| base64url_value(unit.code()));
        invalid |= v;
        u32::from(v & 0x3f)
    };
    // Ten groups of four characters give 30 bytes; the last three characters give two bytes
    // and two spare bits.
    for group in 0..10 {
        let at = group * 4;
        let bits = (value(at) << 18) | (value(at + 1) << 12) | (value(at + 2) << 6) | value(at + 3);
        let bytes = bits.to_be_bytes();
        out.get_mut(group * 3..group * 3 + 3)?
            .copy_from_slice(bytes.get(1..4)?);
    }
    let tail = (value(40) << 12) | (value(41) << 6) | value(42);
    *out.get_mut(30)? = (tail >> 10) as u8;
    *out.get_mut(31)? = (tail >> 2) as u8;
    (invalid & INVALID_BIT == 0 && tail & 0b11 == 0).then_some(out)
}

fn prepared(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (a longer one is hashed first), so this never falls back;
    // the API stays total all the same.
    <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
}

impl CookieVerifier {
    /// A verifier for cookies named `name` (an RFC 6265 token), signed with `secrets` (the
    /// first signs; none: unsigned cookies, the value is the id). The HMAC keys of every secret
    /// are derived and prepared here, once.
    ///
    /// ```
    /// use sessionkeeper_core::cookie::CookieVerifier;
    /// let verifier = CookieVerifier::new("sid", &["a signing secret of 32+ characters!"]);
    /// let value = verifier.sign(b"abc");
    /// assert_eq!(verifier.verify(value.as_bytes(), false).map(|v| v.secret), Some(0));
    /// ```
    pub fn new<S: AsRef<str>>(name: &str, secrets: &[S]) -> CookieVerifier {
        let secrets = secrets
            .iter()
            .map(|secret| {
                let secret = secret.as_ref().as_bytes();
                let mut derive = prepared(secret);
                derive.update(SIGNING_CONTEXT);
                let key = derive.finalize().into_bytes();
                SecretKeys {
                    current: prepared(&key),
                    legacy: prepared(secret),
                }
            })
            .collect();
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(b'=');
        CookieVerifier {
            name: name.as_bytes().to_vec(),
            prefix,
            secrets,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The cookie value that stores `id`: `<id>.<signature>` under the first secret, or the id
    /// itself when there are no secrets. For tests and the fuzz target; the integrations sign
    /// in JavaScript.
    pub fn sign(&self, id: &[u8]) -> String {
        let id_text = String::from_utf8_lossy(id);
        let Some(keys) = self.secrets.first() else {
            return id_text.into_owned();
        };
        let mut mac = keys.current.clone();
        mac.update(&self.name);
        mac.update(b"=");
        mac.update(id);
        let digest = mac.finalize().into_bytes();
        format!("{id_text}.{}", encode_base64url(&digest))
    }

    /// Checks one cookie value. `legacy`: also accept the 0.1.0 signature (random ids only).
    /// Secrets are tried in order and the first that verifies is returned; each comparison of
    /// the 32 raw bytes takes the same time whatever they hold.
    pub fn verify<U: Unit>(&self, value: &[U], legacy: bool) -> Option<Verified> {
        if value.is_empty() || value.len() > MAX_COOKIE_VALUE {
            return None;
        }
        if self.secrets.is_empty() {
            return all_cookie_octets(value).then_some(Verified {
                secret: 0,
                legacy: false,
                id_len: value.len(),
            });
        }
        // The signature's 43 units are checked by its decoding (base64url is all cookie-octets,
        // and no '.'), so the octets left to check are the id's, and the last '.' is where the
        // signature must start: every refusal is the same None, whichever check finds it first.
        let dot = value.len().checked_sub(SIGNATURE_LENGTH + 1)?;
        if dot == 0 || value.get(dot).map(|unit| unit.code()) != Some(0x2e) {
            return None;
        }
        let given = decode_signature(value.get(dot + 1..)?)?;
        let id = value.get(..dot)?;
        if !all_cookie_octets(id) {
            return None;
        }
        for (index, keys) in self.secrets.iter().enumerate() {
            let mut mac = keys.current.clone();
            feed(&mut mac, &self.prefix, id);
            if mac.verify_slice(&given).is_ok() {
                return Some(Verified {
                    secret: index,
                    legacy: false,
                    id_len: dot,
                });
            }
            if legacy {
                let mut mac = keys.legacy.clone();
                feed(&mut mac, &[], id);
                if mac.verify_slice(&given).is_ok() {
                    return Some(Verified {
                        secret: index,
                        legacy: true,
                        id_len: dot,
                    });
                }
            }
        }
        None
    }

    /// Reads a request's Cookie header against `engine` at `now`: finds the session cookie's
    /// values, verifies them and looks the session up, renewing the one it returns. Over a
    /// `KeyMode::Random` engine the 0.1.0 signature verifies too.
    pub fn read<U: Unit>(&self, engine: &mut Engine, header: &[U], now: f64) -> CookieRead {
        let mut spans = [Span { start: 0, end: 0 }; MAX_SESSION_COOKIES];
        let mut count = 0;
        find_cookies(header, &self.name, |span| {
            if let Some(slot) = spans.get_mut(count) {
                *slot = span;
            }
            count += 1;
            count <= MAX_SESSION_COOKIES
        });
        if count == 0 {
            return CookieRead::NoCookie;
        }
        if count > MAX_SESSION_COOKIES {
            return CookieRead::Rejected;
        }
        let legacy = engine.config().keys == KeyMode::Random;
        let mut id = [0u8; MAX_ID_BYTES];
        let values = spans.get(..count).unwrap_or_default();
        // (span, verification) of the one value naming a live session so far.
        let mut chosen: Option<(Span, Verified)> = None;
        let mut verified_any = false;
        for &span in values {
            let Some(value) = header.get(span.start..span.end) else {
                continue;
            };
            let Some(verified) = self.verify(value, legacy) else {
                continue;
            };
            verified_any = true;
            let Some(id_len) =
                ascii_into(value.get(..verified.id_len).unwrap_or_default(), &mut id)
            else {
                continue;
            };
            let id_bytes = id.get(..id_len).unwrap_or_default();
            if values.len() == 1 {
                return match engine.lookup(id_bytes, now, true) {
                    Some(handle) => CookieRead::Found {
                        handle,
                        value: span,
                        verified,
                    },
                    None => CookieRead::NotFound,
                };
            }
            if let Some((seen, seen_verified)) = chosen {
                let seen_id = header.get(seen.start..seen.start + seen_verified.id_len);
                if seen_id.is_some_and(|seen_id| same_text(seen_id, id_bytes)) {
                    continue;
                }
            }
            if engine.lookup(id_bytes, now, false).is_none() {
                continue;
            }
            if chosen.is_some() {
                return CookieRead::Rejected;
            }
            chosen = Some((span, verified));
        }
        let Some((span, verified)) = chosen else {
            return if verified_any {
                CookieRead::NotFound
            } else {
                CookieRead::Rejected
            };
        };
        let id_units = header
            .get(span.start..span.start + verified.id_len)
            .unwrap_or_default();
        let found = ascii_into(id_units, &mut id)
            .and_then(|len| engine.lookup(id.get(..len).unwrap_or_default(), now, true));
        match found {
            Some(handle) => CookieRead::Found {
                handle,
                value: span,
                verified,
            },
            None => CookieRead::NotFound,
        }
    }
}

/// Copies ASCII units into `out`; `None` when they do not fit (longer than any id or key).
fn ascii_into<U: Unit>(units: &[U], out: &mut [u8; MAX_ID_BYTES]) -> Option<usize> {
    if units.len() > out.len() {
        return None;
    }
    for (byte, unit) in out.iter_mut().zip(units) {
        *byte = unit.code() as u8;
    }
    Some(units.len())
}

fn same_text<U: Unit>(units: &[U], bytes: &[u8]) -> bool {
    is_name(units, bytes)
}

fn encode_base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests;
