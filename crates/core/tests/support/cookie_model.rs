//! A reference reader of the session cookie, written for clarity from the rules of
//! `ts/integrations/cookies.ts` (the JS path): split on `;`, split each pair at its first `=`,
//! trim spaces and tabs; HMAC-SHA256 keyed afresh for every check and compared as base64url
//! text, the way the JS path compared before it compared raw bytes. The engine's
//! `cookie::CookieVerifier` must answer exactly as this does.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sessionkeeper_core::cookie::{
    CookieRead, MAX_COOKIE_VALUE, MAX_SESSION_COOKIES, SIGNING_CONTEXT,
};
use sessionkeeper_core::{Engine, KeyMode};

use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = String::new();
    for byte in bytes {
        bits.push_str(&format!("{byte:08b}"));
    }
    while !bits.len().is_multiple_of(6) {
        bits.push('0');
    }
    (0..bits.len() / 6)
        .map(|i| ALPHABET[usize::from_str_radix(&bits[i * 6..i * 6 + 6], 2).unwrap()] as char)
        .collect()
}

/// The value sessionMiddleware writes for `id` under `secret` (the current signature).
pub(crate) fn signed(name: &str, secret: &str, id: &str) -> String {
    let key = hmac(secret.as_bytes(), &[SIGNING_CONTEXT]);
    format!(
        "{id}.{}",
        base64url(&hmac(&key, &[name.as_bytes(), b"=", id.as_bytes()]))
    )
}

/// 0.1.0's value: the bare id's HMAC under the secret itself.
pub(crate) fn legacy_signed(secret: &str, id: &str) -> String {
    format!(
        "{id}.{}",
        base64url(&hmac(secret.as_bytes(), &[id.as_bytes()]))
    )
}

fn trim(units: &[u16]) -> &[u16] {
    let blank = |u: &u16| *u == 0x20 || *u == 0x09;
    let start = units.iter().position(|u| !blank(u)).unwrap_or(units.len());
    let end = units
        .iter()
        .rposition(|u| !blank(u))
        .map_or(start, |at| at + 1);
    &units[start..end]
}

/// Every value named `name`, with its start in the header, in order.
fn values<'h>(header: &'h [u16], name: &str) -> Vec<(usize, &'h [u16])> {
    let name: Vec<u16> = name.encode_utf16().collect();
    let mut found = vec![];
    let mut start = 0;
    for pair in header.split(|u| *u == u16::from(b';')) {
        if let Some(eq) = pair.iter().position(|u| *u == u16::from(b'=')) {
            if trim(&pair[..eq]) == name.as_slice() {
                let raw = &pair[eq + 1..];
                let lead = raw
                    .iter()
                    .take_while(|u| **u == 0x20 || **u == 0x09)
                    .count();
                found.push((start + eq + 1 + lead, trim(raw)));
            }
        }
        start += pair.len() + 1;
    }
    found
}

fn text(units: &[u16]) -> Option<String> {
    units
        .iter()
        .all(|u| matches!(*u, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
        .then(|| String::from_utf16_lossy(units))
}

/// (secret index, legacy, id) of a value that verifies.
fn verify(
    name: &str,
    secrets: &[String],
    value: &[u16],
    legacy: bool,
) -> Option<(usize, bool, String)> {
    let value = text(value)?;
    if value.is_empty() || value.len() > MAX_COOKIE_VALUE {
        return None;
    }
    if secrets.is_empty() {
        return Some((0, false, value));
    }
    let (id, signature) = value.rsplit_once('.')?;
    if id.is_empty() || signature.len() != 43 {
        return None;
    }
    for (index, secret) in secrets.iter().enumerate() {
        if signed(name, secret, id) == value {
            return Some((index, false, id.to_string()));
        }
        if legacy && legacy_signed(secret, id) == value {
            return Some((index, true, id.to_string()));
        }
    }
    None
}

fn find(engine: &mut Engine, id: &str, now: f64) -> Option<sessionkeeper_core::Handle> {
    if id.len() > 255 {
        return None;
    }
    engine.lookup(id.as_bytes(), now, false)
}

/// What the rules say `header` names, without renewing anything.
pub(crate) fn read(
    engine: &mut Engine,
    name: &str,
    secrets: &[String],
    header: &[u16],
    now: f64,
) -> Expected {
    let found = values(header, name);
    if found.is_empty() {
        return Expected::NoCookie;
    }
    if found.len() > MAX_SESSION_COOKIES {
        return Expected::Rejected;
    }
    let legacy = engine.config().keys == KeyMode::Random;
    let checked: Vec<_> = found
        .iter()
        .map(|(start, value)| (start, value, verify(name, secrets, value, legacy)))
        .collect();
    let verified_any = checked.iter().any(|(_, _, v)| v.is_some());
    if found.len() == 1 {
        let (start, value, verified) = &checked[0];
        let Some((secret, legacy, id)) = verified else {
            return Expected::Rejected;
        };
        return match find(engine, id, now) {
            Some(handle) => Expected::Found {
                handle,
                start: **start,
                len: value.len(),
                secret: *secret,
                legacy: *legacy,
            },
            None => Expected::NotFound,
        };
    }
    let mut chosen: Option<(
        usize,
        usize,
        usize,
        bool,
        String,
        sessionkeeper_core::Handle,
    )> = None;
    for (start, value, verified) in &checked {
        let Some((secret, legacy, id)) = verified else {
            continue;
        };
        if chosen.as_ref().is_some_and(|c| &c.4 == id) {
            continue;
        }
        let Some(handle) = find(engine, id, now) else {
            continue;
        };
        if chosen.is_some() {
            return Expected::Rejected;
        }
        chosen = Some((**start, value.len(), *secret, *legacy, id.clone(), handle));
    }
    match chosen {
        Some((start, len, secret, legacy, _, handle)) => Expected::Found {
            handle,
            start,
            len,
            secret,
            legacy,
        },
        None if verified_any => Expected::NotFound,
        None => Expected::Rejected,
    }
}

/// The reference's answer, in the terms of [`CookieRead`].
#[derive(Debug, PartialEq)]
pub(crate) enum Expected {
    NoCookie,
    Rejected,
    NotFound,
    Found {
        handle: sessionkeeper_core::Handle,
        start: usize,
        len: usize,
        secret: usize,
        legacy: bool,
    },
}

impl Expected {
    pub(crate) fn of(read: CookieRead) -> Expected {
        match read {
            CookieRead::NoCookie => Expected::NoCookie,
            CookieRead::Rejected => Expected::Rejected,
            CookieRead::NotFound => Expected::NotFound,
            CookieRead::Found {
                handle,
                value,
                verified,
            } => Expected::Found {
                handle,
                start: value.start,
                len: value.end - value.start,
                secret: verified.secret,
                legacy: verified.legacy,
            },
        }
    }
}
