//! The session file of persistence, format version 1 (the repository's
//! `docs/persistence-format.md` is the specification; `ts/persist/format.ts` is the other
//! implementation, and each reads the other's files): a 32-byte header, then framed records
//! (`len`, `!len`, CRC-32C of the body, body) that a loader replays into the sessions they
//! leave. [`load`] replays a whole file into an [`Engine`] (what a manager does on
//! construction); [`parse`] gives the sessions a file leaves and [`restore`] puts them into an
//! engine (the same sessions, by another way: the tests hold one against the other); and
//! [`write_sessions`] encodes an engine's attached sessions as records (a snapshot's body).

mod crc32c;
mod loader;
mod owner_lock;
mod pieces;
mod reader;

pub use crc32c::crc32c;
pub use loader::{load, load_from, Loaded};
pub use owner_lock::{try_lock_owner, OwnerLock, OwnerLockAttempt};
pub use pieces::PieceError;
pub use reader::{parse, parse_borrowed, Damage, Parsed, ParsedRef, SavedSession, SessionRef};

use crate::config::{IdEncoding, KeyMode};
use crate::engine::Engine;
use crate::error::Error;
use crate::handle::Handle;

/// The file's first eight bytes: `\x89SKDB\r\n\x1a`.
pub const MAGIC: [u8; 8] = [0x89, 0x53, 0x4B, 0x44, 0x42, 0x0D, 0x0A, 0x1A];
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Bytes of the header.
pub const HEADER_BYTES: usize = 32;
/// Bytes of a record's frame: `len`, `!len`, CRC-32C of the body.
pub const FRAME_BYTES: usize = 12;
/// A body longer than this is a damaged length, not a record.
pub const MAX_BODY_BYTES: usize = 1 << 30;
/// Header flag: saved by `close()`, last activities exact, no journal after it.
pub const FLAG_CLEAN: u8 = 1;
/// Header flag: record bodies are sealed with AES-256-GCM (`persist.key`); only the
/// TypeScript reader opens them, so [`parse`] reports such a file as a mismatch.
pub const FLAG_ENCRYPTED: u8 = 2;

/// Record kinds.
pub(crate) mod kind {
    pub(crate) const SESSION: u8 = 1;
    pub(crate) const REMOVE: u8 = 2;
    pub(crate) const SET_DATA: u8 = 3;
    pub(crate) const DELETE_DATA: u8 = 4;
    pub(crate) const USER: u8 = 5;
    pub(crate) const ROLES: u8 = 6;
    pub(crate) const RENAME: u8 = 7;
    pub(crate) const TIMEOUTS: u8 = 8;
    pub(crate) const RENEW: u8 = 9;
}

/// What the header pins: a file loads only into an engine configured the same way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileConfig {
    /// Random or caller keys.
    pub keys: KeyMode,
    /// Text form of random ids.
    pub id_encoding: IdEncoding,
    /// Random id length in bytes.
    pub id_bytes: usize,
}

impl FileConfig {
    /// The file configuration of an engine.
    pub fn of(engine: &Engine) -> FileConfig {
        let config = engine.config();
        FileConfig {
            keys: config.keys,
            id_encoding: config.id_encoding,
            id_bytes: config.id_bytes,
        }
    }
}

/// The 32-byte header for `config`, written at `written_at` (ms) with `flags`.
pub fn encode_header(config: &FileConfig, written_at: f64, flags: u8) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&VERSION.to_le_bytes());
    header[10] = u8::from(config.keys == KeyMode::Caller);
    header[11] = u8::from(config.id_encoding == IdEncoding::Hex);
    header[12] = u8::try_from(config.id_bytes).unwrap_or(0);
    header[13] = flags;
    let at = if written_at.is_finite() {
        written_at
    } else {
        0.0
    };
    header[16..24].copy_from_slice(&at.to_le_bytes());
    let crc = crc32c(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Appends framed records to a byte vector.
struct RecordWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> RecordWriter<'a> {
    fn begin(out: &'a mut Vec<u8>, kind: u8) -> RecordWriter<'a> {
        let start = out.len();
        out.extend_from_slice(&[0u8; FRAME_BYTES]);
        out.push(kind);
        RecordWriter { out, start }
    }

    fn u32(&mut self, value: usize) {
        let value = u32::try_from(value).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    fn f64(&mut self, value: f64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// Only the tests write a flag of their own: the engine's records carry theirs.
    #[cfg(test)]
    fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    fn str(&mut self, value: &str) {
        self.u32(value.len());
        self.out.extend_from_slice(value.as_bytes());
    }

    fn end(self) {
        let body = self.start + FRAME_BYTES;
        let len = u32::try_from(self.out.len() - body).unwrap_or(u32::MAX);
        let crc = self.out.get(body..).map_or(0, crc32c);
        if let Some(frame) = self.out.get_mut(self.start..body) {
            frame[..4].copy_from_slice(&len.to_le_bytes());
            frame[4..8].copy_from_slice(&(!len).to_le_bytes());
            frame[8..12].copy_from_slice(&crc.to_le_bytes());
        }
    }
}

/// Appends one Session record: the whole state of the session `h` (nothing when stale).
pub fn write_session(engine: &Engine, h: Handle, out: &mut Vec<u8>) {
    let (Some(id), Some(created), Some(last), Some(idle), Some(abs)) = (
        engine.id(h),
        engine.created_at(h),
        engine.last_activity(h),
        engine.idle_timeout(h),
        engine.absolute_timeout(h),
    ) else {
        return;
    };
    let mut w = RecordWriter::begin(out, kind::SESSION);
    w.str(&id);
    w.f64(created);
    w.f64(last);
    w.f64(idle);
    w.f64(abs);
    // User, roles and data: the engine holds them in the record's own encoding (src/data.rs).
    engine.write_side_record(h, w.out);
    w.end();
}

/// Appends a Session record for every attached session (alive or not), in slot order: the body
/// of a snapshot. O(sessions + data).
///
/// ```
/// # use sessionkeeper_core::{*, persist::*};
/// let mut e = Engine::new(Config::default()).unwrap();
/// let h = e.create(5.0, 100.0, 0.0).unwrap();
/// e.set_user(h, Some("alice"));
/// let mut file = encode_header(&FileConfig::of(&e), 0.0, FLAG_CLEAN).to_vec();
/// write_sessions(&e, &mut file);
/// let parsed = parse(&file, &FileConfig::of(&e)).unwrap();
/// assert_eq!(parsed.sessions[0].id, e.id(h).unwrap());
/// assert_eq!(parsed.sessions[0].user.as_deref(), Some("alice"));
/// ```
pub fn write_sessions(engine: &Engine, out: &mut Vec<u8>) {
    let mut from = 0u32;
    let mut batch = Vec::with_capacity(256);
    loop {
        batch.clear();
        let n = engine.scan(from, f64::NEG_INFINITY, 256, |h| batch.push(h));
        for &h in &batch {
            write_session(engine, h, out);
        }
        match batch.last() {
            Some(last) if n == 256 => from = last.slot() + 1,
            _ => return,
        }
    }
}

/// Restores parsed sessions into `engine` (empty, or holding other ids), each filed by its
/// deadline; unless `clean`, each last activity moves on by `window` ms (not past `now`),
/// because renewals are coalesced. Returns the handles in order.
///
/// # Errors
/// `Err(InvalidConfig)` for an id that is not an id of this engine, `Err(KeyExists)` for an id
/// the engine holds, `Err(TableFull)`; sessions restored before the failure stay.
pub fn restore(
    engine: &mut Engine,
    sessions: &[SavedSession],
    window: f64,
    now: f64,
) -> Result<Vec<Handle>, (usize, Error)> {
    let mut handles = Vec::with_capacity(sessions.len());
    for (index, s) in sessions.iter().enumerate() {
        let h = restore_one(
            engine,
            (s.id.as_str(), s.created_at, s.last_activity),
            (s.idle_timeout, s.absolute_timeout),
            window,
            now,
        )
        .map_err(|e| (index, e))?;
        let data = s.data.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        restore_side(engine, h, s.user.as_deref(), &s.roles, data);
        handles.push(h);
    }
    Ok(handles)
}

/// [`restore`] from borrowed sessions ([`parse_borrowed`]): each string is copied once, into
/// the engine. Returns how many were restored.
///
/// # Errors
/// As [`restore`].
pub fn restore_borrowed(
    engine: &mut Engine,
    sessions: &[SessionRef<'_>],
    window: f64,
    now: f64,
) -> Result<usize, (usize, Error)> {
    for (index, s) in sessions.iter().enumerate() {
        let h = restore_one(
            engine,
            (s.id, s.created_at, s.last_activity),
            (s.idle_timeout, s.absolute_timeout),
            window,
            now,
        )
        .map_err(|e| (index, e))?;
        restore_side(engine, h, s.user, &s.roles, s.data.iter().copied());
    }
    Ok(sessions.len())
}

fn restore_one(
    engine: &mut Engine,
    (id, created_at, last_activity): (&str, f64, f64),
    (idle_timeout, absolute_timeout): (f64, f64),
    window: f64,
    now: f64,
) -> Result<Handle, Error> {
    let last = last_activity.max((last_activity + window).min(now));
    engine.restore(
        id.as_bytes(),
        created_at,
        last,
        idle_timeout,
        absolute_timeout,
    )
}

fn restore_side<'s, S: AsRef<str>>(
    engine: &mut Engine,
    h: Handle,
    user: Option<&str>,
    roles: &[S],
    data: impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
) {
    if user.is_some() || !roles.is_empty() || data.len() > 0 {
        // A cap lowered since the file was written: what does not fit is not restored.
        engine.restore_side(h, user, roles, data);
    }
}

#[cfg(test)]
mod tests;
