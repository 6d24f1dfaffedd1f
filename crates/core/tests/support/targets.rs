//! The fuzz targets: each takes any bytes and panics only on a bug. `fuzz/` runs them under
//! AFL++ (coverage-guided), `tests/fuzz_corpus.rs` replays the committed corpus of
//! `fuzz/corpus/<target>/` through them in `cargo test`.
//!
//! - [`ops`]: an engine configuration and an operation sequence, run against the engine and the
//!   linear-scan model (`model.rs`) with the invariant checker after every step.
//! - [`ids`]: id text against a reference decoder written for clarity (a list of bits), both
//!   encodings, every id length; caller keys against their rule.
//! - [`cookie`]: a Cookie header built from tokens (separators, names, blanks, values signed
//!   under each secret, 0.1.0 signatures, tampered ones, raw bytes) through the engine's cookie
//!   reader, as UTF-16 and as UTF-8, against the reference reader of `cookie_model.rs`.
//! - [`session_file`]: a session file (checksums optionally fixed up so that mutations reach
//!   the records) through the parser; the outcome must be one of those
//!   `docs/persistence-format.md` documents, a parsed file re-encoded must parse the same, and
//!   its sessions must restore into an engine (or be refused for a documented reason) and
//!   expire there like the model says.

use sessionkeeper_core::persist::{
    self, crc32c, encode_header, Damage, FileConfig, SavedSession, FLAG_CLEAN, FRAME_BYTES,
    HEADER_BYTES,
};
use sessionkeeper_core::{Config, Engine, Error, IdEncoding, KeyMode, GENERATION_SPACE};

use super::model::{run, Op, DATA_KEYS, KEYS, TIMEOUTS};

/// Operations decoded per input at most, so one execution stays short.
const MAX_OPS: usize = 400;

/// Reads the input a byte at a time; past its end every byte reads as 0.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn index(&mut self, len: usize) -> usize {
        usize::from(self.byte()) % len
    }

    fn more(&self) -> bool {
        self.at < self.bytes.len()
    }
}

/// Byte 0: key mode, encoding, max data, resolution; byte 1: id length; byte 2: generation
/// space; then one operation per tag byte and its argument bytes.
pub(crate) fn ops(bytes: &[u8]) {
    let mut input = Input { bytes, at: 0 };
    let c = input.byte();
    let config = Config {
        keys: if c & 1 == 0 {
            KeyMode::Random
        } else {
            KeyMode::Caller
        },
        id_encoding: if c & 2 == 0 {
            IdEncoding::Base64Url
        } else {
            IdEncoding::Hex
        },
        max_data_bytes: if c & 4 == 0 { usize::MAX } else { 9 },
        resolution: [1.0, 3.0, 1000.0, 64.0][usize::from(c >> 3) % 4],
        id_bytes: 16 + input.index(49),
    };
    let generations = match input.byte() % 4 {
        0 => GENERATION_SPACE,
        g => u32::from(g),
    };
    let mut list = vec![];
    while input.more() && list.len() < MAX_OPS {
        list.push(op(&mut input));
    }
    run(config, generations, list);
}

fn op(input: &mut Input<'_>) -> Op {
    let t = TIMEOUTS.len();
    match input.byte() % 22 {
        0 => Op::Create {
            idle: input.index(t),
            abs: input.index(t),
        },
        1 => Op::CreateWithKey {
            key: input.index(KEYS.len()),
            idle: input.index(t),
            abs: input.index(t),
        },
        2 => Op::Lookup {
            target: input.index(256),
            renew: input.byte() & 1 == 1,
        },
        3 => Op::LookupMalformed {
            target: input.index(256),
            kind: input.byte() % 3,
        },
        4 => Op::DetachIfExpired {
            target: input.index(256),
        },
        5 => Op::Touch(input.index(256)),
        6 => Op::Detach(input.index(256)),
        7 => Op::Release(input.index(256)),
        8 => Op::Sweep(input.index(8)),
        9 => Op::SweepRelease(input.index(8)),
        10 => Op::SetIdle(input.index(256), input.index(t)),
        11 => Op::SetAbs(input.index(256), input.index(t)),
        12 => Op::SetData {
            h: input.index(256),
            key: input.index(DATA_KEYS.len()),
            len: input.index(12),
        },
        13 => Op::DeleteData {
            h: input.index(256),
            key: input.index(DATA_KEYS.len()),
        },
        14 => Op::Regenerate(input.index(256)),
        15 => Op::Rekey {
            h: input.index(256),
            key: input.index(KEYS.len()),
        },
        16 => Op::SetUser {
            h: input.index(256),
            user: Some(input.index(4)).filter(|&u| u < 3),
        },
        17 => Op::SetRoles {
            h: input.index(256),
            n: input.index(3),
        },
        18 => Op::Scan {
            from: u32::from(input.byte() % 16),
            limit: input.index(8),
        },
        19 => Op::Evict,
        20 => Op::Advance(i32::from(input.byte() as i8)),
        _ => Op::Advance(i32::from(u16::from_le_bytes([input.byte(), input.byte()])) * 16),
    }
}

fn alphabet(encoding: IdEncoding) -> (&'static [u8], usize) {
    match encoding {
        IdEncoding::Base64Url => (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
            6,
        ),
        IdEncoding::Hex => (b"0123456789abcdef", 4),
    }
}

/// The reference decoder: the text as a list of bits, which must be exactly the `n` bytes
/// followed by fewer zero bits than one character holds.
pub(crate) fn reference_decode(encoding: IdEncoding, text: &[u8], n: usize) -> Option<Vec<u8>> {
    let (alphabet, width) = alphabet(encoding);
    let mut bits = vec![];
    for &c in text {
        let value = alphabet.iter().position(|&a| a == c)?;
        bits.extend((0..width).rev().map(|i| (value >> i) & 1 == 1));
    }
    if bits.len() < 8 * n || bits.len() - 8 * n >= width || bits[8 * n..].contains(&true) {
        return None;
    }
    Some(
        bits[..8 * n]
            .chunks(8)
            .map(|byte| byte.iter().fold(0u8, |acc, &b| (acc << 1) | u8::from(b)))
            .collect(),
    )
}

/// The reference encoder: the bytes' bits, zero-padded to whole characters.
fn reference_encode(encoding: IdEncoding, raw: &[u8]) -> Vec<u8> {
    let (alphabet, width) = alphabet(encoding);
    let mut bits: Vec<bool> = raw
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1 == 1))
        .collect();
    while !bits.len().is_multiple_of(width) {
        bits.push(false);
    }
    bits.chunks(width)
        .map(|c| alphabet[c.iter().fold(0usize, |acc, &b| (acc << 1) | usize::from(b))])
        .collect()
}

fn valid_caller_key(key: &[u8]) -> bool {
    (1..=255).contains(&key.len()) && std::str::from_utf8(key).is_ok()
}

/// Byte 0: encoding (bit 0) and id length (the rest, 16 to 64); then the id text.
pub(crate) fn ids(bytes: &[u8]) {
    let Some((&c, text)) = bytes.split_first() else {
        return;
    };
    let encoding = if c & 1 == 0 {
        IdEncoding::Base64Url
    } else {
        IdEncoding::Hex
    };
    let n = 16 + usize::from(c >> 1) % 49;
    let config = Config {
        id_bytes: n,
        id_encoding: encoding,
        ..Config::default()
    };
    let mut engine = Engine::new(config).unwrap();
    let expected = reference_decode(encoding, text, n);
    match (&expected, engine.restore(text, 0.0, 0.0, 0.0, 0.0)) {
        (Some(raw), Ok(h)) => {
            assert_eq!(reference_encode(encoding, raw), text, "not canonical");
            assert_eq!(engine.id(h).as_deref().map(str::as_bytes), Some(text));
            assert_eq!(engine.lookup(text, 0.0, false), Some(h));
        }
        (None, Err(Error::InvalidConfig(_))) => {
            assert_eq!(engine.lookup(text, 0.0, false), None);
            assert_eq!(engine.detach_if_expired(text, 0.0), None);
        }
        (expected, got) => panic!("reference {expected:?}, engine {got:?}"),
    }
    let h = engine.create(0.0, 0.0, 0.0).unwrap();
    let id = engine.id(h).unwrap();
    let raw = reference_decode(encoding, id.as_bytes(), n).expect("a created id decodes");
    assert_eq!(reference_encode(encoding, &raw), id.as_bytes());
    assert_eq!(engine.lookup(id.as_bytes(), 0.0, false), Some(h));

    let mut caller = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    let valid = valid_caller_key(text);
    let restored = caller.restore(text, 0.0, 0.0, 0.0, 0.0);
    assert_eq!(restored.is_ok(), valid, "caller key {text:?}");
    assert_eq!(caller.lookup(text, 0.0, false), restored.ok());
}

/// Appends a Session record for `s`, encoded from the specification.
fn session_record(s: &SavedSession, out: &mut Vec<u8>) {
    fn str(body: &mut Vec<u8>, s: &str) {
        body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        body.extend_from_slice(s.as_bytes());
    }
    let mut body = vec![1u8];
    str(&mut body, &s.id);
    for t in [
        s.created_at,
        s.last_activity,
        s.idle_timeout,
        s.absolute_timeout,
    ] {
        body.extend_from_slice(&t.to_le_bytes());
    }
    match &s.user {
        Some(user) => {
            body.push(1);
            str(&mut body, user);
        }
        None => body.push(0),
    }
    body.extend_from_slice(&(s.roles.len() as u32).to_le_bytes());
    for role in &s.roles {
        str(&mut body, role);
    }
    body.extend_from_slice(&(s.data.len() as u32).to_le_bytes());
    for (key, value) in &s.data {
        str(&mut body, key);
        str(&mut body, value);
    }
    let len = body.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
}

/// Gives every record frame that fits in `records` a matching `!len` and checksum.
fn fix_frames(records: &mut [u8]) {
    let mut at = 0;
    while let Some(frame) = records.get(at..at + FRAME_BYTES) {
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let end = at + FRAME_BYTES + len as usize;
        if len == 0 || end > records.len() {
            return;
        }
        let crc = crc32c(&records[at + FRAME_BYTES..end]);
        records[at + 4..at + 8].copy_from_slice(&(!len).to_le_bytes());
        records[at + 8..at + FRAME_BYTES].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Byte 0: the loader's configuration (bits 0 to 3) and whether the rest is a whole file
/// (bit 4 clear) or records to put behind a valid header with their frames fixed up (set;
/// bit 5 the CLEAN flag).
pub(crate) fn session_file(bytes: &[u8]) {
    let Some((&c, rest)) = bytes.split_first() else {
        return;
    };
    let config = FileConfig {
        keys: if c & 1 == 0 {
            KeyMode::Random
        } else {
            KeyMode::Caller
        },
        id_encoding: if c & 2 == 0 {
            IdEncoding::Base64Url
        } else {
            IdEncoding::Hex
        },
        id_bytes: [16, 33, 64, 16][usize::from(c >> 2) % 4],
    };
    let file = if c & 16 == 0 {
        rest.to_vec()
    } else {
        let flags = if c & 32 == 0 { 0 } else { FLAG_CLEAN };
        let mut file = encode_header(&config, 0.0, flags).to_vec();
        let mut records = rest.to_vec();
        fix_frames(&mut records);
        file.extend_from_slice(&records);
        file
    };
    let parsed = match persist::parse(&file, &config) {
        Ok(parsed) => parsed,
        Err(Damage::NotOurs { offset, .. }) => {
            assert!([0, 8, 13].contains(&offset), "not ours at {offset}");
            return;
        }
        Err(Damage::Corrupt { offset, .. }) => {
            assert!(offset == 0 || offset == 10 || (HEADER_BYTES..file.len()).contains(&offset));
            return;
        }
        Err(Damage::Mismatch { .. }) => return,
    };
    let clean = file[13] == FLAG_CLEAN;
    assert_eq!(parsed.clean, clean && parsed.torn_at.is_none());
    if let Some(torn) = parsed.torn_at {
        // The torn tail is cut off; what is left is intact and loads the same.
        assert!((HEADER_BYTES..file.len()).contains(&torn));
        let cut = persist::parse(&file[..torn], &config).expect("the file cut at its torn tail");
        assert_eq!(cut.torn_at, None);
        assert_eq!(cut.records, parsed.records);
        assert_eq!(cut.sessions, parsed.sessions);
    }
    if parsed.torn_at.is_none() {
        // A crash leaves a prefix of the file: every prefix loads (up to 16 cuts tried).
        let step = (file.len() - HEADER_BYTES).div_ceil(16).max(1);
        for cut in (HEADER_BYTES..file.len()).step_by(step) {
            let prefix = persist::parse(&file[..cut], &config).expect("a prefix of a good file");
            assert!(prefix.records <= parsed.records);
        }
    }
    let ids: std::collections::HashSet<&str> =
        parsed.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), parsed.sessions.len(), "one session per id");

    let mut again = encode_header(&config, 0.0, FLAG_CLEAN).to_vec();
    for s in &parsed.sessions {
        session_record(s, &mut again);
    }
    let reparsed = persist::parse(&again, &config).expect("a re-encoded file");
    assert_eq!(reparsed.sessions, parsed.sessions);
    assert_eq!(reparsed.records, parsed.sessions.len());
    assert!(reparsed.clean);

    // Bit 6: a file that was not closed cleanly, loaded at a time after it was written.
    let (window, now) = if c & 64 == 0 {
        (0.0, 0.0)
    } else {
        (1000.0, 1e12)
    };
    restore(&config, &parsed.sessions, window, now);
    load(&config, &file, &parsed, window, now);
}

/// Loading the file straight into an engine leaves the sessions that parsing it and restoring
/// them leave (in slots of the engine's choosing), with the window added unless the header is
/// CLEAN; or it fails at a record naming an id that is no id of this key mode.
fn load(config: &FileConfig, file: &[u8], parsed: &persist::Parsed, window: f64, now: f64) {
    let mut engine = Engine::new(Config {
        keys: config.keys,
        id_encoding: config.id_encoding,
        id_bytes: config.id_bytes,
        ..Config::default()
    })
    .unwrap();
    let loaded = match persist::load(&mut engine, file, window, now) {
        Ok(loaded) => loaded,
        Err(Damage::Corrupt { why, .. }) if why.contains("is not an id of this manager") => return,
        Err(other) => panic!("parsed, but the load failed: {other:?}"),
    };
    engine.check_invariants().unwrap();
    assert_eq!(loaded.records, parsed.records);
    assert_eq!(loaded.torn_at, parsed.torn_at);
    assert_eq!(loaded.clean, file[13] & FLAG_CLEAN != 0);
    assert_eq!(loaded.restored, parsed.sessions.len());
    assert_eq!(engine.len(), parsed.sessions.len());
    // No user counted means no session with one: the manager skips its per-user filing then.
    if loaded.users == 0 {
        assert!(parsed.sessions.iter().all(|s| s.user.is_none()));
    }
    let window = if loaded.clean { 0.0 } else { window };
    for s in &parsed.sessions {
        let h = engine
            .lookup(s.id.as_bytes(), f64::NEG_INFINITY, false)
            .unwrap_or_else(|| panic!("{:?} was not loaded", s.id));
        assert_eq!(engine.created_at(h), Some(s.created_at));
        let last = s.last_activity.max((s.last_activity + window).min(now));
        assert_eq!(engine.last_activity(h), Some(last));
        assert_eq!(engine.idle_timeout(h), Some(s.idle_timeout));
        assert_eq!(engine.absolute_timeout(h), Some(s.absolute_timeout));
        assert_eq!(engine.user(h), s.user.as_deref());
        assert_eq!(engine.roles(h).unwrap(), s.roles);
        let mut data: Vec<(&str, &str)> = Vec::new();
        for (k, v) in &s.data {
            match data.iter_mut().find(|(key, _)| key == k) {
                Some(entry) => entry.1 = v,
                None => data.push((k, v)),
            }
        }
        let keys = engine.data_keys(h).unwrap();
        assert_eq!(keys, data.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        for (k, v) in data {
            assert_eq!(engine.get_data(h, k), Some(v));
        }
    }
}

/// Restores parsed sessions into an engine: all of them, or up to the first id the engine
/// refuses (an id that is no id of its key mode); the engine holds exactly what was restored
/// (each last activity moved on by `window`, not past `now`), writes it back as the same
/// records, and sweeps exactly the due sessions.
fn restore(config: &FileConfig, sessions: &[SavedSession], window: f64, now: f64) {
    let mut engine = Engine::new(Config {
        keys: config.keys,
        id_encoding: config.id_encoding,
        id_bytes: config.id_bytes,
        ..Config::default()
    })
    .unwrap();
    let restored = match persist::restore(&mut engine, sessions, window, now) {
        Ok(handles) => handles.len(),
        Err((at, Error::InvalidConfig(_))) => {
            let id = sessions[at].id.as_bytes();
            let valid = match config.keys {
                KeyMode::Random => reference_decode(config.id_encoding, id, config.id_bytes),
                KeyMode::Caller => valid_caller_key(id).then(Vec::new),
            };
            assert_eq!(valid, None, "refused a valid id");
            at
        }
        Err((at, e)) => panic!("session {at}: {e:?}"),
    };
    engine.check_invariants().unwrap();
    let sessions: Vec<SavedSession> = sessions[..restored]
        .iter()
        .map(|s| SavedSession {
            last_activity: s.last_activity.max((s.last_activity + window).min(now)),
            ..s.clone()
        })
        .collect();
    assert_eq!(engine.len(), sessions.len());

    let mut file = encode_header(config, 0.0, FLAG_CLEAN).to_vec();
    persist::write_sessions(&engine, &mut file);
    let written = persist::parse(&file, config).expect("a snapshot of the engine");
    assert_eq!(written.sessions, sessions);

    let expires = |s: &SavedSession| {
        let mut at = f64::INFINITY;
        if s.idle_timeout > 0.0 {
            at = s.last_activity + s.idle_timeout;
        }
        if s.absolute_timeout > 0.0 {
            at = at.min(s.created_at + s.absolute_timeout);
        }
        at
    };
    let mut left = sessions.len();
    for now in [-1e12, 0.0, 1e9, 1e13, 1e300, f64::MAX] {
        // A call that stops on its re-filing budget leaves the next deadline at or before now.
        while engine.sweep_release(now, 64) == 64 || engine.next_deadline() <= now {}
        let due = sessions.iter().filter(|s| expires(s) <= now).count();
        assert_eq!(engine.len(), sessions.len() - due, "swept at {now}");
        assert!(engine.len() <= left);
        left = engine.len();
        engine.check_invariants().unwrap();
    }
}

const COOKIE_SECRETS: [&str; 3] = [
    "a signing secret of 32+ characters, for the fuzzer",
    "an older secret",
    "x",
];
/// The clock of the cookie target: fixed, so renewals change nothing a later check reads.
const COOKIE_NOW: f64 = 1_000_000.0;

/// Byte 0: key mode and how many secrets; then one token per byte (and its argument bytes),
/// appended to the header.
pub(crate) fn cookie(bytes: &[u8]) {
    use sessionkeeper_core::cookie::CookieVerifier;

    use super::cookie_model::{self, legacy_signed, signed, Expected};

    let mut input = Input { bytes, at: 0 };
    let c = input.byte();
    let keys = if c & 1 == 0 {
        KeyMode::Random
    } else {
        KeyMode::Caller
    };
    let secrets: Vec<String> = COOKIE_SECRETS[..usize::from(c >> 1) % 4]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut engine = Engine::new(Config {
        keys,
        ..Config::default()
    })
    .unwrap();
    let mut ids: Vec<String> = vec![];
    for key in ["user-alice", "a.b.c", "bob", "gone"] {
        let handle = match keys {
            KeyMode::Random => engine.create(0.0, 0.0, 0.0).unwrap(),
            KeyMode::Caller => engine
                .create_with_key(key.as_bytes(), 0.0, 0.0, 0.0)
                .unwrap(),
        };
        ids.push(engine.id(handle).unwrap());
        if key == "gone" {
            engine.detach(handle);
            engine.release(handle);
        }
    }
    let name = "sid";
    let secret = |input: &mut Input<'_>| COOKIE_SECRETS[input.index(COOKIE_SECRETS.len())];
    let mut header = String::new();
    while input.more() && header.len() < 6000 {
        match input.byte() % 13 {
            0 => header.push(';'),
            1 => header.push_str("; "),
            2 => header.push_str("sid="),
            3 => header.push('='),
            4 => header.push(' '),
            5 => header.push('\t'),
            6 => {
                let s = secret(&mut input);
                header.push_str(&signed(name, s, &ids[input.index(ids.len())]));
            }
            7 => {
                let s = secret(&mut input);
                header.push_str(&legacy_signed(s, &ids[input.index(ids.len())]));
            }
            8 => header.push_str(&ids[input.index(ids.len())]),
            9 => header.push(char::from(input.byte())),
            10 => {
                let s = secret(&mut input);
                let mut value: Vec<char> = signed(name, s, &ids[input.index(ids.len())])
                    .chars()
                    .collect();
                let at = input.index(value.len());
                value[at] = char::from(input.byte());
                header.extend(value);
            }
            11 => {
                let run = usize::from(input.byte()) * 32;
                header.extend(std::iter::repeat_n('a', run));
            }
            _ => header
                .push(['\u{a0}', '\u{feff}', '\u{1f600}', '\u{13b}', 'x', '.'][input.index(6)]),
        }
    }
    let verifier = CookieVerifier::new(name, &secrets);
    let units: Vec<u16> = header.encode_utf16().collect();
    let expected = cookie_model::read(&mut engine, name, &secrets, &units, COOKIE_NOW);
    let utf16 = Expected::of(verifier.read(&mut engine, &units, COOKIE_NOW));
    assert_eq!(utf16, expected, "header {header:?}");
    // As UTF-8 bytes the positions differ past non-ASCII text; the session and the verdict do not.
    let utf8 = Expected::of(verifier.read(&mut engine, header.as_bytes(), COOKIE_NOW));
    match (utf8, expected) {
        (
            Expected::Found {
                handle,
                secret,
                legacy,
                ..
            },
            Expected::Found {
                handle: h,
                secret: s,
                legacy: l,
                ..
            },
        ) => assert_eq!((handle, secret, legacy), (h, s, l), "header {header:?}"),
        (utf8, expected) => assert_eq!(utf8, expected, "header {header:?}"),
    }
}
