//! Parsing a whole session file and replaying its records.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::{
    crc32c, kind, FileConfig, FLAG_CLEAN, FLAG_ENCRYPTED, FRAME_BYTES, HEADER_BYTES, MAGIC,
    MAX_BODY_BYTES, VERSION,
};
use crate::config::{IdEncoding, KeyMode};

/// A session as a Session record holds it.
#[derive(Clone, PartialEq, Debug)]
pub struct SavedSession {
    /// The id's text (encoded random id, or caller key).
    pub id: String,
    /// Creation time (ms).
    pub created_at: f64,
    /// Last use (ms).
    pub last_activity: f64,
    /// Idle timeout (ms, 0 for none).
    pub idle_timeout: f64,
    /// Absolute timeout (ms, 0 for none).
    pub absolute_timeout: f64,
    /// User name.
    pub user: Option<String>,
    /// Roles in order.
    pub roles: Vec<String>,
    /// Data in insertion order.
    pub data: Vec<(String, String)>,
}

/// A session as a Session record holds it, its strings borrowed from the file's bytes: what
/// [`parse_borrowed`] gives, with no string copied (the engine copies each once, on restore).
#[derive(Clone, PartialEq, Debug)]
pub struct SessionRef<'a> {
    /// The id's text (encoded random id, or caller key).
    pub id: &'a str,
    /// Creation time (ms).
    pub created_at: f64,
    /// Last use (ms).
    pub last_activity: f64,
    /// Idle timeout (ms, 0 for none).
    pub idle_timeout: f64,
    /// Absolute timeout (ms, 0 for none).
    pub absolute_timeout: f64,
    /// User name.
    pub user: Option<&'a str>,
    /// Roles in order.
    pub roles: Vec<&'a str>,
    /// Data in insertion order.
    pub data: Vec<(&'a str, &'a str)>,
}

impl SessionRef<'_> {
    /// The owned form.
    pub fn to_owned(&self) -> SavedSession {
        SavedSession {
            id: self.id.to_owned(),
            created_at: self.created_at,
            last_activity: self.last_activity,
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            user: self.user.map(str::to_owned),
            roles: self.roles.iter().map(|r| (*r).to_owned()).collect(),
            data: self
                .data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Why a file cannot be loaded as it is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Damage {
    /// Not a session file of this version (wrong magic, truncated header, unknown version).
    NotOurs {
        /// Where the problem is.
        offset: usize,
        /// What it is.
        why: String,
    },
    /// Written by an engine with other keys, id length or id encoding.
    Mismatch {
        /// What differs.
        why: String,
    },
    /// A bad checksum, length or record before the final record.
    Corrupt {
        /// Where the damaged record (or header) starts.
        offset: usize,
        /// What is wrong.
        why: String,
    },
}

/// A parsed file: the sessions its records leave, in the order a JS `Map` keeps them (a
/// re-created or renamed session goes to the end).
#[derive(Debug)]
pub struct Parsed {
    /// The sessions, in order.
    pub sessions: Vec<SavedSession>,
    /// Offset of a torn final record that was dropped.
    pub torn_at: Option<usize>,
    /// Intact records.
    pub records: usize,
    /// The header's CLEAN flag (and no torn tail).
    pub clean: bool,
}

/// A parsed file whose sessions borrow their strings from the file's bytes.
#[derive(Debug)]
pub struct ParsedRef<'a> {
    /// The sessions, in order (as [`Parsed::sessions`]).
    pub sessions: Vec<SessionRef<'a>>,
    /// Offset of a torn final record that was dropped.
    pub torn_at: Option<usize>,
    /// Intact records.
    pub records: usize,
    /// The header's CLEAN flag (and no torn tail).
    pub clean: bool,
}

/// Sessions by id in insertion order: a slot vector and an index into it.
#[derive(Default)]
struct Table<'a> {
    slots: Vec<Option<SessionRef<'a>>>,
    index: HashMap<&'a str, usize, RandomState>,
}

impl<'a> Table<'a> {
    fn get_mut(&mut self, id: &str) -> Option<&mut SessionRef<'a>> {
        let at = *self.index.get(id)?;
        self.slots.get_mut(at)?.as_mut()
    }

    fn remove(&mut self, id: &str) -> Option<SessionRef<'a>> {
        let at = self.index.remove(id)?;
        self.slots.get_mut(at)?.take()
    }

    fn insert(&mut self, s: SessionRef<'a>) {
        let at = self.slots.len();
        if let Some(old) = self.index.insert(s.id, at) {
            if let Some(slot) = self.slots.get_mut(old) {
                *slot = None;
            }
        }
        self.slots.push(Some(s));
    }

    fn into_sessions(self) -> Vec<SessionRef<'a>> {
        self.slots.into_iter().flatten().collect()
    }
}

/// Parses a whole file and replays its records. A final record that is incomplete, complete
/// with a bad checksum, or followed only by zero bytes is a torn tail: dropped
/// (`torn_at`). An empty input is not a file: check for it first.
///
/// # Errors
/// [`Damage`]: not ours, configured differently, or corrupt before the final record.
pub fn parse(bytes: &[u8], config: &FileConfig) -> Result<Parsed, Damage> {
    let parsed = parse_borrowed(bytes, config)?;
    Ok(Parsed {
        sessions: parsed.sessions.iter().map(SessionRef::to_owned).collect(),
        torn_at: parsed.torn_at,
        records: parsed.records,
        clean: parsed.clean,
    })
}

/// [`parse`] without copying a string: the sessions borrow from `bytes`.
///
/// # Errors
/// As [`parse`].
pub fn parse_borrowed<'a>(bytes: &'a [u8], config: &FileConfig) -> Result<ParsedRef<'a>, Damage> {
    let clean = check_header(bytes, config)?;
    let mut table = Table::default();
    // A snapshot holds about one record per session: size the table for that at once.
    table.slots.reserve(bytes.len() / 256);
    table.index.reserve(bytes.len() / 256);
    let (records, torn_at) = walk(bytes, |offset, body, _| {
        apply(&mut table, &mut Reader { body, at: 0 }).map_err(|why| Damage::Corrupt {
            offset,
            why: format!("bad record: {why}"),
        })
    })?;
    Ok(ParsedRef {
        sessions: table.into_sessions(),
        torn_at,
        records,
        clean: clean && torn_at.is_none(),
    })
}

/// Walks the records after the header, passing each intact one's offset and body to `apply`
/// in order, with the bytes after the body (the records ahead, for a loader to warm). Returns
/// how many were applied and the offset of a torn final record (not applied): one that is
/// incomplete, complete with a bad checksum at the end of the file, or followed only by zero
/// bytes.
///
/// # Errors
/// [`Damage::Corrupt`] for a bad length or checksum before the final record, or whatever
/// `apply` returns.
pub(super) fn walk<'a>(
    bytes: &'a [u8],
    mut apply: impl FnMut(usize, &'a [u8], &'a [u8]) -> Result<(), Damage>,
) -> Result<(usize, Option<usize>), Damage> {
    let mut offset = HEADER_BYTES;
    let mut records = 0;
    let end = bytes.len();
    while offset < end {
        let Some(frame) = bytes.get(offset..offset + FRAME_BYTES) else {
            return Ok((records, Some(offset)));
        };
        let len = u32_at(frame, 0);
        let check = u32_at(frame, 4);
        let len_usize = len as usize;
        if !len != check || len == 0 || len_usize > MAX_BODY_BYTES {
            if all_zero(bytes.get(offset..).unwrap_or_default()) {
                return Ok((records, Some(offset)));
            }
            return Err(Damage::Corrupt {
                offset,
                why: "bad record length".into(),
            });
        }
        let body_start = offset + FRAME_BYTES;
        let body_end = body_start + len_usize;
        let Some(body) = bytes.get(body_start..body_end) else {
            return Ok((records, Some(offset)));
        };
        if crc32c(body) != u32_at(frame, 8) {
            if body_end == end || all_zero(bytes.get(body_start..).unwrap_or_default()) {
                return Ok((records, Some(offset)));
            }
            return Err(Damage::Corrupt {
                offset,
                why: "bad record checksum".into(),
            });
        }
        apply(offset, body, bytes.get(body_end..).unwrap_or_default())?;
        offset = body_end;
        records += 1;
    }
    Ok((records, None))
}

/// The shortest body a Session record can have: kind, an id of one byte, four times, no user,
/// no roles, no data.
pub(super) const MIN_SESSION_BODY: u32 = 1 + 5 + 32 + 1 + 4 + 4;

/// Session records in the file, counted from the frames alone (no checksum): an upper bound
/// of the sessions a load restores, to size the tables once. Stops at the first bad frame. At
/// most one per `FRAME_BYTES + MIN_SESSION_BODY` bytes, so a damaged or crafted file cannot
/// make a load reserve much more than the file's own size.
pub(super) fn count_sessions(bytes: &[u8]) -> usize {
    let mut offset = HEADER_BYTES;
    let mut count = 0;
    while let Some(frame) = bytes.get(offset..offset + FRAME_BYTES + 1) {
        let len = u32_at(frame, 0);
        if !len != u32_at(frame, 4) || len == 0 {
            break;
        }
        if frame[FRAME_BYTES] == kind::SESSION && len >= MIN_SESSION_BODY {
            count += 1;
        }
        offset += FRAME_BYTES + len as usize;
    }
    count
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

/// Checks the header; returns its CLEAN flag.
pub(super) fn check_header(bytes: &[u8], config: &FileConfig) -> Result<bool, Damage> {
    let prefix = bytes.len().min(MAGIC.len());
    let magic_matches = bytes.get(..prefix) == MAGIC.get(..prefix);
    let Some(header) = bytes.get(..HEADER_BYTES).filter(|_| magic_matches) else {
        let why = if magic_matches {
            format!("truncated header ({} of {HEADER_BYTES} bytes)", bytes.len())
        } else {
            "not a sessionkeeper session file (wrong magic)".into()
        };
        return Err(Damage::NotOurs { offset: 0, why });
    };
    if crc32c(header.get(..28).unwrap_or_default()) != u32_at(header, 28) {
        return Err(Damage::Corrupt {
            offset: 0,
            why: "bad header checksum".into(),
        });
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != VERSION {
        return Err(Damage::NotOurs {
            offset: 8,
            why: format!("unknown format version {version} (this release reads {VERSION})"),
        });
    }
    let flags = header[13];
    if flags & FLAG_ENCRYPTED != 0 && flags & !(FLAG_CLEAN | FLAG_ENCRYPTED) == 0 {
        return Err(Damage::Mismatch {
            why: "the file is encrypted: its records are opened by the TypeScript reader with persist.key".into(),
        });
    }
    if flags & !FLAG_CLEAN != 0 {
        return Err(Damage::NotOurs {
            offset: 13,
            why: format!("unknown header flags {flags}"),
        });
    }
    let keys = match header[10] {
        0 => KeyMode::Random,
        1 => KeyMode::Caller,
        _ => return Err(bad_config()),
    };
    let encoding = match header[11] {
        0 => IdEncoding::Base64Url,
        1 => IdEncoding::Hex,
        _ => return Err(bad_config()),
    };
    let id_bytes = usize::from(header[12]);
    let name = |k: KeyMode| {
        if k == KeyMode::Random {
            "random"
        } else {
            "caller"
        }
    };
    let enc = |e: IdEncoding| {
        if e == IdEncoding::Base64Url {
            "base64url"
        } else {
            "hex"
        }
    };
    let mut differences = Vec::new();
    if keys != config.keys {
        differences.push(format!(
            "keys: '{}' (the manager has '{}')",
            name(keys),
            name(config.keys)
        ));
    }
    if keys == KeyMode::Random && config.keys == KeyMode::Random {
        if encoding != config.id_encoding {
            differences.push(format!(
                "idEncoding: '{}' (the manager has '{}')",
                enc(encoding),
                enc(config.id_encoding)
            ));
        }
        if id_bytes != config.id_bytes {
            differences.push(format!(
                "idBytes: {id_bytes} (the manager has {})",
                config.id_bytes
            ));
        }
    }
    if !differences.is_empty() {
        return Err(Damage::Mismatch {
            why: format!("the file was written with {}", differences.join(", ")),
        });
    }
    Ok(flags == FLAG_CLEAN)
}

fn bad_config() -> Damage {
    Damage::Corrupt {
        offset: 10,
        why: "bad keys or idEncoding in the header".into(),
    }
}

pub(super) struct Reader<'a> {
    pub(super) body: &'a [u8],
    pub(super) at: usize,
}

pub(super) type Decoded<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let body: &'a [u8] = self.body;
        let bytes = body
            .get(self.at..self.at.saturating_add(n))
            .ok_or("record too short")?;
        self.at += n;
        Ok(bytes)
    }

    pub(super) fn u8(&mut self) -> Decoded<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u32(&mut self) -> Decoded<usize> {
        Ok(u32_at(self.take(4)?, 0) as usize)
    }

    fn f64(&mut self) -> Decoded<f64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(word))
    }

    pub(super) fn time(&mut self) -> Decoded<f64> {
        let t = self.f64()?;
        if t.is_finite() {
            Ok(t)
        } else {
            Err(format!("bad time {t}"))
        }
    }

    pub(super) fn timeout(&mut self) -> Decoded<f64> {
        let t = self.f64()?;
        if (0.0..=9_007_199_254_740_991.0).contains(&t) && t.fract() == 0.0 {
            Ok(t)
        } else {
            Err(format!("bad timeout {t}"))
        }
    }

    pub(super) fn str(&mut self) -> Decoded<&'a str> {
        let n = self.u32()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| "invalid UTF-8".to_string())
    }

    pub(super) fn count(&mut self) -> Decoded<usize> {
        let n = self.u32()?;
        if n > self.body.len() - self.at {
            return Err("bad count".into());
        }
        Ok(n)
    }

    fn strings(&mut self) -> Decoded<Vec<&'a str>> {
        let n = self.count()?;
        (0..n).map(|_| self.str()).collect()
    }

    fn pairs(&mut self) -> Decoded<Vec<(&'a str, &'a str)>> {
        let n = self.count()?;
        (0..n).map(|_| Ok((self.str()?, self.str()?))).collect()
    }

    pub(super) fn user(&mut self) -> Decoded<Option<&'a str>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err("bad user flag".into()),
        }
    }

    pub(super) fn done(&self) -> Decoded<()> {
        if self.at == self.body.len() {
            Ok(())
        } else {
            Err("trailing bytes in a record".into())
        }
    }
}

fn set_entry<'a>(data: &mut Vec<(&'a str, &'a str)>, key: &'a str, value: &'a str) {
    match data.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => data.push((key, value)),
    }
}

fn apply<'a>(table: &mut Table<'a>, r: &mut Reader<'a>) -> Decoded<()> {
    match r.u8()? {
        kind::SESSION => {
            let s = SessionRef {
                id: r.str()?,
                created_at: r.time()?,
                last_activity: r.time()?,
                idle_timeout: r.timeout()?,
                absolute_timeout: r.timeout()?,
                user: r.user()?,
                roles: r.strings()?,
                data: r.pairs()?,
            };
            r.done()?;
            table.insert(s);
        }
        kind::REMOVE => {
            let id = r.str()?;
            r.done()?;
            table.remove(id);
        }
        kind::SET_DATA => {
            let id = r.str()?;
            let entries = r.pairs()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                for (key, value) in entries {
                    set_entry(&mut s.data, key, value);
                }
            }
        }
        kind::DELETE_DATA => {
            let id = r.str()?;
            let key = r.str()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                s.data.retain(|(k, _)| *k != key);
            }
        }
        kind::USER => {
            let id = r.str()?;
            let user = r.user()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                s.user = user;
            }
        }
        kind::ROLES => {
            let id = r.str()?;
            let roles = r.strings()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                s.roles = roles;
            }
        }
        kind::RENAME => {
            let old = r.str()?;
            let new = r.str()?;
            let last = r.time()?;
            r.done()?;
            if let Some(mut s) = table.remove(old) {
                table.remove(new);
                s.id = new;
                s.last_activity = last;
                table.insert(s);
            }
        }
        kind::TIMEOUTS => {
            let id = r.str()?;
            let idle = r.timeout()?;
            let abs = r.timeout()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                s.idle_timeout = idle;
                s.absolute_timeout = abs;
            }
        }
        kind::RENEW => {
            let id = r.str()?;
            let last = r.time()?;
            r.done()?;
            if let Some(s) = table.get_mut(id) {
                if last > s.last_activity {
                    s.last_activity = last;
                }
            }
        }
        other => return Err(format!("unknown record kind {other}")),
    }
    Ok(())
}
