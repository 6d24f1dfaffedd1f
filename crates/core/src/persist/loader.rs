//! Loading a session file straight into an engine: each record is replayed on the engine as it
//! is read, with no table of parsed sessions in between and no string copied but into the
//! engine. [`parse`](super::parse) keeps the other way (the sessions a file leaves, in a table
//! of its own): the tests check that both give the same sessions.

use std::io::{Read, Seek, SeekFrom};

use super::pieces::{count_pieces, walk_pieces, PieceError, Pieces};
use super::reader::{check_header, count_sessions, u32_at, walk, Decoded, Reader};
use super::{kind, Damage, FileConfig, FRAME_BYTES};
use crate::data::distinct_keys;
use crate::engine::Engine;
use crate::error::Error;
use crate::handle::Handle;

/// What [`load`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Loaded {
    /// Attached sessions afterwards.
    pub restored: usize,
    /// Intact records replayed.
    pub records: usize,
    /// Offset of a torn final record that was dropped.
    pub torn_at: Option<usize>,
    /// The header's CLEAN flag: last activities are exact (no window was added).
    pub clean: bool,
    /// Records that gave a restored session a user (Session records with one, User records
    /// naming one): 0 means no restored session has a user, so the caller's per-user index
    /// has nothing to file and need not ask each session.
    pub users: usize,
    /// Some session's data was over `max_data_bytes` (a cap lowered since the file was written)
    /// and was cut: the engine no longer holds what the file does, which must be rewritten
    /// before anything is appended to it, or a crash would replay later records over the uncut
    /// data.
    pub cut: bool,
}

/// Replays a whole session file into `engine` (empty: a load starts from nothing), in file
/// order, as the live engine made the changes:
///
/// - Session: restores the session (one that holds the id is released first, so it comes
///   back in the same slot); Remove releases it; Rename moves it to the new id in its slot;
///   the other kinds change it in place. A record naming no attached session is ignored.
/// - Unless the header is CLEAN, every last activity read is moved on by `window` ms (not
///   past `now`): renewals are coalesced, so the last one written may be up to `window` old.
/// - Data is restored whatever `max_data_bytes` says, and once every record is replayed each
///   session over the cap is cut as [`Engine::restore_side`] cuts (a cap lowered since).
///
/// The sessions are those [`parse`](super::parse) gives, each filed by its deadline; a torn
/// final record is dropped. Cost: O(file), one allocation per string kept.
///
/// ```
/// # use sessionkeeper_core::{*, persist::*};
/// let mut first = Engine::new(Config::default()).unwrap();
/// let h = first.create(5.0, 100.0, 0.0).unwrap();
/// first.set_user(h, Some("alice"));
/// let mut file = encode_header(&FileConfig::of(&first), 0.0, FLAG_CLEAN).to_vec();
/// write_sessions(&first, &mut file);
/// let mut second = Engine::new(Config::default()).unwrap();
/// let loaded = load(&mut second, &file, 1000.0, 50.0).unwrap();
/// assert_eq!((loaded.restored, loaded.records, loaded.clean, loaded.users), (1, 1, true, 1));
/// let id = first.id(h).unwrap();
/// let r = second.lookup(id.as_bytes(), 5.0, false).unwrap();
/// assert_eq!(second.user(r), Some("alice"));
/// ```
///
/// # Errors
/// [`Damage`] as [`parse`](super::parse) gives it, and `Damage::Corrupt` at a Session or
/// Rename record whose id is not an id of this engine, or when the table is full. The engine
/// then holds part of the file: discard it.
pub fn load(engine: &mut Engine, bytes: &[u8], window: f64, now: f64) -> Result<Loaded, Damage> {
    let clean = check_header(bytes, &FileConfig::of(engine))?;
    engine.reserve_loaded(count_sessions(bytes));
    let mut replay = Replay {
        engine,
        window: if clean { 0.0 } else { window },
        now,
        roles: Vec::new(),
        data: Vec::new(),
        over_cap: false,
        users: 0,
    };
    let mut warmed_to = 0;
    let (records, torn_at) = walk(bytes, |offset, body, ahead| {
        // From the end of this record on, once the walk has passed what was warmed.
        let end = offset + FRAME_BYTES + body.len();
        if end >= warmed_to {
            warmed_to = end + warm_ahead(replay.engine, ahead);
        }
        replay
            .apply(&mut Reader { body, at: 0 })
            .map_err(|why| Damage::Corrupt {
                offset,
                why: format!("bad record: {why}"),
            })
    })?;
    if replay.over_cap {
        replay.engine.cap_loaded_data();
    }
    Ok(Loaded {
        restored: replay.engine.len(),
        records,
        torn_at,
        clean,
        cut: replay.over_cap,
        users: replay.users,
    })
}

/// [`load`] over a file read from `source` in pieces of `piece` bytes (twice: once to count the
/// sessions, once to replay), with the same outcome, so no buffer of the file's size is made.
///
/// # Errors
/// `PieceError::Damage` as [`load`] gives it; `PieceError::Io` when reading fails (the engine
/// then holds part of the file: discard it).
pub fn load_from<R: Read + Seek>(
    engine: &mut Engine,
    mut source: R,
    window: f64,
    now: f64,
    piece: usize,
) -> Result<Loaded, PieceError> {
    let mut header = Vec::with_capacity(super::HEADER_BYTES);
    (&mut source)
        .take(super::HEADER_BYTES as u64)
        .read_to_end(&mut header)?;
    let clean = check_header(&header, &FileConfig::of(engine))?;
    let len = usize::try_from(source.seek(SeekFrom::End(0))?).unwrap_or(usize::MAX);
    source.seek(SeekFrom::Start(0))?;
    let count = count_pieces(&mut Pieces::new(&mut source, len, piece))?;
    engine.reserve_loaded(count);
    source.seek(SeekFrom::Start(0))?;
    let window = if clean { 0.0 } else { window };
    // Each record's strings borrow from the piece it was read in, so each gets a Replay of its
    // own, its scratch lists handed from one to the next (empty, their room kept).
    let mut roles: Vec<&str> = Vec::new();
    let mut data: Vec<(&str, &str)> = Vec::new();
    let mut over_cap = false;
    let mut users = 0;
    let mut warmed_to = 0;
    let (records, torn_at) = walk_pieces(
        &mut Pieces::new(&mut source, len, piece),
        |offset, body, ahead| {
            let end = offset + FRAME_BYTES + body.len();
            if end >= warmed_to {
                warmed_to = end + warm_ahead(engine, ahead);
            }
            let mut replay = Replay {
                engine: &mut *engine,
                window,
                now,
                roles: emptied(std::mem::take(&mut roles)),
                data: emptied(std::mem::take(&mut data)),
                over_cap: false,
                users: 0,
            };
            let applied = replay.apply(&mut Reader { body, at: 0 });
            over_cap |= replay.over_cap;
            users += replay.users;
            roles = emptied(replay.roles);
            data = emptied(replay.data);
            applied.map_err(|why| Damage::Corrupt {
                offset,
                why: format!("bad record: {why}"),
            })
        },
    )?;
    if over_cap {
        engine.cap_loaded_data();
    }
    Ok(Loaded {
        restored: engine.len(),
        records,
        torn_at,
        clean,
        users,
        cut: over_cap,
    })
}

/// Records a load looks ahead of its replay at once, warming the Session ids among them.
const WARM_AT_ONCE: usize = 32;

/// Warms the index where the ids of the Session records among the next [`WARM_AT_ONCE`]
/// frames of `ahead` will be looked up, going by their frames alone (a bad or cut frame only
/// ends the warming early: the walk meets it in turn). Returns how many bytes of `ahead` it
/// went through. Each restore's first touch of the index is a cache miss; warmed together, a
/// batch's misses overlap. A native load of 10^6 sessions spent ~180 ms waiting on them one
/// at a time (`perf`: `Buckets::find`, a quarter of the load).
fn warm_ahead(engine: &Engine, ahead: &[u8]) -> usize {
    let mut hashes = [0u64; WARM_AT_ONCE];
    let mut count = 0;
    let mut at = 0;
    for _ in 0..WARM_AT_ONCE {
        let Some(frame) = ahead.get(at..at + FRAME_BYTES) else {
            break;
        };
        let len = u32_at(frame, 0);
        if !len != u32_at(frame, 4) || len == 0 {
            break;
        }
        let body_at = at + FRAME_BYTES;
        let Some(body) = ahead.get(body_at..body_at.saturating_add(len as usize)) else {
            break;
        };
        if body.first() == Some(&kind::SESSION) {
            // The id is the body's first string: its u32 length, then its bytes.
            let id_len = u32_at(body, 1) as usize;
            let hash = body
                .get(5..id_len.saturating_add(5))
                .and_then(|id| engine.id_hash(id));
            if let (Some(hash), Some(to)) = (hash, hashes.get_mut(count)) {
                *to = hash;
                count += 1;
            }
        }
        at = body_at + body.len();
    }
    // Hashed first, read after: between the reads there is nothing to wait behind.
    std::hint::black_box(engine.warm(hashes.get(..count).unwrap_or_default()));
    at
}

/// `list` emptied, as a list of another lifetime's borrows: an in-place collect of nothing,
/// which keeps its allocation.
fn emptied<T, U>(mut list: Vec<T>) -> Vec<U>
where
    T: Copy,
    U: Copy,
{
    list.clear();
    list.into_iter().filter_map(|_| None).collect()
}

struct Replay<'e, 'a> {
    engine: &'e mut Engine,
    window: f64,
    now: f64,
    /// Scratch for a Session record's roles and data, reused from record to record.
    roles: Vec<&'a str>,
    data: Vec<(&'a str, &'a str)>,
    /// Some session's data went over `max_data_bytes`.
    over_cap: bool,
    /// Records that gave a session a user ([`Loaded::users`]).
    users: usize,
}

impl<'a> Replay<'_, 'a> {
    /// The attached session with this id, expired or not.
    fn find(&mut self, id: &str) -> Option<Handle> {
        self.engine.lookup(id.as_bytes(), f64::NEG_INFINITY, false)
    }

    fn shifted(&self, last_activity: f64) -> f64 {
        last_activity.max((last_activity + self.window).min(self.now))
    }

    fn apply(&mut self, r: &mut Reader<'a>) -> Decoded<()> {
        match r.u8()? {
            kind::SESSION => self.session(r),
            kind::REMOVE => {
                let id = r.str()?;
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.engine.release(h);
                }
                Ok(())
            }
            kind::SET_DATA => {
                let id = r.str()?;
                self.data.clear();
                for _ in 0..r.count()? {
                    let key = r.str()?;
                    self.data.push((key, r.str()?));
                }
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.over_cap |= self.engine.load_data(h, self.data.iter().copied());
                }
                Ok(())
            }
            kind::DELETE_DATA => {
                let id = r.str()?;
                let key = r.str()?;
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.engine.delete_data(h, key);
                }
                Ok(())
            }
            kind::USER => {
                let id = r.str()?;
                let user = r.user()?;
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.engine.set_user(h, user);
                    self.users += usize::from(user.is_some());
                }
                Ok(())
            }
            kind::ROLES => {
                let id = r.str()?;
                self.roles.clear();
                for _ in 0..r.count()? {
                    self.roles.push(r.str()?);
                }
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.engine.set_roles(h, &self.roles);
                }
                Ok(())
            }
            kind::RENAME => {
                let old = r.str()?;
                let new = r.str()?;
                let last = r.time()?;
                r.done()?;
                let last = self.shifted(last);
                match self.find(old) {
                    Some(h) => self
                        .engine
                        .load_rename(h, new.as_bytes(), last)
                        .map_err(|_| not_an_id(new)),
                    None => Ok(()),
                }
            }
            kind::TIMEOUTS => {
                let id = r.str()?;
                let idle = r.timeout()?;
                let absolute = r.timeout()?;
                r.done()?;
                if let Some(h) = self.find(id) {
                    self.engine.set_idle_timeout(h, idle);
                    self.engine.set_absolute_timeout(h, absolute);
                }
                Ok(())
            }
            kind::RENEW => {
                let id = r.str()?;
                let last = r.time()?;
                r.done()?;
                let last = self.shifted(last);
                if let Some(h) = self.find(id) {
                    self.engine.load_renew(h, last);
                }
                Ok(())
            }
            other => Err(format!("unknown record kind {other}")),
        }
    }

    fn session(&mut self, r: &mut Reader<'a>) -> Decoded<()> {
        let id = r.str()?;
        let created_at = r.time()?;
        let last_activity = r.time()?;
        let idle_timeout = r.timeout()?;
        let absolute_timeout = r.timeout()?;
        let side_at = r.at;
        let user = r.user()?;
        self.roles.clear();
        for _ in 0..r.count()? {
            self.roles.push(r.str()?);
        }
        self.data.clear();
        for _ in 0..r.count()? {
            let key = r.str()?;
            self.data.push((key, r.str()?));
        }
        r.done()?;
        let last_activity = self.shifted(last_activity);
        let restore = |engine: &mut Engine| {
            engine.restore(
                id.as_bytes(),
                created_at,
                last_activity,
                idle_timeout,
                absolute_timeout,
            )
        };
        let h = match restore(self.engine) {
            Err(Error::KeyExists) => {
                // The same session again (a compaction's snapshot and the records written
                // meanwhile overlap): it is replaced, in the slot it frees.
                if let Some(old) = self.find(id) {
                    self.engine.release(old);
                }
                restore(self.engine)
            }
            other => other,
        };
        let h = match h {
            Ok(h) => h,
            Err(Error::InvalidConfig(_)) => return Err(not_an_id(id)),
            Err(e) => return Err(e.to_string()),
        };
        self.users += usize::from(user.is_some());
        if user.is_some() || !self.roles.is_empty() || !self.data.is_empty() {
            let side = r.body.get(side_at..).unwrap_or_default();
            self.over_cap |= if distinct_keys(self.data.iter().copied()) {
                // The record's tail is the session's record as the engine holds it: one copy.
                self.engine.load_record(h, side)
            } else {
                self.engine
                    .load_side(h, user, &self.roles, self.data.iter().copied())
            };
        }
        Ok(())
    }
}

fn not_an_id(id: &str) -> String {
    format!("the saved id {id:?} is not an id of this manager")
}
