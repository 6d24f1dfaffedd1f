//! The public engine: ties the slot table, the id index, the expiry registries and the
//! random pool together, following the shared algorithm step by step.

use std::fmt;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use crate::data::SideRecord;
use crate::expiry::Registry;
use crate::handle::{Handle, GENERATION_SPACE};
use crate::ids::{self, RandomPool, MAX_ID_BYTES};
use crate::index::SlotIndex;
use crate::table::{Entry, Key, SlotState, Table};

/// Longest caller key in bytes (and so the longest id text).
const MAX_KEY_BYTES: usize = 255;

/// How random ids are written as text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdEncoding {
    /// RFC 4648 §5 without padding: `ceil(id_bytes * 4 / 3)` characters.
    Base64Url,
    /// Lower-case hex: `2 * id_bytes` characters.
    Hex,
}

/// Where session ids come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyMode {
    /// The engine draws ids from the OS CSPRNG ([`Engine::create`], [`Engine::regenerate`]).
    Random,
    /// The caller supplies keys ([`Engine::create_with_key`], [`Engine::rekey`]).
    Caller,
}

/// Engine settings, fixed for its life.
#[derive(Clone, Debug)]
pub struct Config {
    /// Random id length in bytes, 16..=64 (checked in every mode).
    pub id_bytes: usize,
    /// Text form of random ids.
    pub id_encoding: IdEncoding,
    /// Random or caller-supplied ids.
    pub keys: KeyMode,
    /// Cap on one session's data bytes; `usize::MAX` for none.
    pub max_data_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id_bytes: 16,
            id_encoding: IdEncoding::Base64Url,
            keys: KeyMode::Random,
            max_data_bytes: usize::MAX,
        }
    }
}

/// Failures of construction and creation.
#[derive(Debug)]
pub enum Error {
    /// A config field (or a caller key) is out of range.
    InvalidConfig(&'static str),
    /// All [`crate::MAX_SLOTS`] slots are in use or retired.
    TableFull,
    /// An attached session already has this key (expired or not).
    KeyExists,
    /// The call does not belong to the configured [`KeyMode`].
    WrongKeyMode,
    /// The OS random number generator failed.
    Random(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(why) => write!(f, "invalid config: {why}"),
            Error::TableFull => f.write_str("session table is full"),
            Error::KeyExists => f.write_str("a session with this key exists"),
            Error::WrongKeyMode => f.write_str("operation not available in this key mode"),
            Error::Random(why) => write!(f, "OS random number generator failed: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// What a handle names right now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Released, never issued, or of an older generation.
    Stale,
    /// Indexed and filed: lookups find it while alive.
    Attached,
    /// Unindexed and unfiled, still readable and writable until released.
    Detached,
}

/// Why [`Engine::set_data`] changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SetDataError {
    /// The session's data would exceed `max_data_bytes`.
    TooLarge,
    /// The handle is stale.
    Stale,
}

/// Why [`Engine::rekey`] changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RekeyError {
    /// Another attached session has the key.
    Exists,
    /// The handle is not attached and alive (or the engine is not in caller mode, or the key
    /// is not 1..=255 bytes of UTF-8).
    NotAttached,
}

/// The session engine. Single-threaded: the binding owns one per manager.
///
/// Every method taking a [`Handle`] treats a stale handle as "nothing there" (`None`,
/// `false`, `Err(..Stale)`), never as an error or a panic.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    table: Table,
    /// Slots of attached sessions, hashed by their key bytes.
    index: SlotIndex,
    hasher: RandomState,
    idle: Registry,
    absolute: Registry,
    pool: RandomPool,
}

impl Engine {
    /// Builds an empty engine. `Err(InvalidConfig)` unless `id_bytes` is 16..=64.
    pub fn new(config: Config) -> Result<Engine, Error> {
        Engine::with_generation_space(config, GENERATION_SPACE)
    }

    /// Test knob: an engine whose slots have `generation_space` generations instead of
    /// [`GENERATION_SPACE`], so that tests reach a slot's retirement in a few cycles. It is
    /// not a [`Config`] field so that [`Config`] stays what the binding builds.
    ///
    /// # Errors
    /// `Err(InvalidConfig)` unless `id_bytes` is 16..=64 and `generation_space` is
    /// `1..=GENERATION_SPACE`.
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::with_generation_space(Config::default(), 2).unwrap();
    /// let first = e.create(0.0, 0.0, 0.0).unwrap();
    /// assert!(e.release(first));
    /// let second = e.create(0.0, 0.0, 0.0).unwrap();
    /// assert_eq!((second.slot(), second.generation()), (0, 1));
    /// assert!(e.release(second)); // slot 0 has issued its last generation: retired
    /// assert_eq!(e.create(0.0, 0.0, 0.0).unwrap().slot(), 1);
    /// assert_eq!(e.state(first), State::Stale);
    /// ```
    pub fn with_generation_space(config: Config, generation_space: u32) -> Result<Engine, Error> {
        if !(16..=MAX_ID_BYTES).contains(&config.id_bytes) {
            return Err(Error::InvalidConfig("id_bytes must be 16..=64"));
        }
        if !(1..=GENERATION_SPACE).contains(&generation_space) {
            return Err(Error::InvalidConfig("generation_space must be 1..=2^28"));
        }
        Ok(Engine {
            config,
            table: Table::new(generation_space),
            index: SlotIndex::default(),
            hasher: RandomState::default(),
            idle: Registry::default(),
            absolute: Registry::default(),
            pool: RandomPool::default(),
        })
    }

    /// The settings the engine was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of attached sessions, expired or not.
    pub fn len(&self) -> usize {
        self.table.attached()
    }

    /// True when no session is attached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    pub(crate) fn set_max_slots(&mut self, max: u32) {
        self.table.set_max_slots(max);
    }

    // ---- index -------------------------------------------------------------------------

    /// Keyed even for our own random ids: a client that can create and drop sessions at will
    /// could otherwise keep only ids whose buckets are adjacent and grow one long probe chain.
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn index_find(&self, key: &[u8], hash: u64) -> Option<u32> {
        let entries = &self.table.entries;
        self.index.find(hash, |s| {
            entries
                .get(s as usize)
                .is_some_and(|e| e.key.as_bytes() == key)
        })
    }

    fn index_remove(&mut self, slot: u32) {
        let Some(e) = self.table.slot(slot) else {
            return;
        };
        let hash = self.hash(e.key.as_bytes());
        self.index.remove(hash, slot);
    }

    /// The attached slot whose id is `id` (client text). Malformed ids are rejected before
    /// hashing; decoding happens in a stack buffer.
    fn find_id(&self, id: &[u8]) -> Option<u32> {
        match self.config.keys {
            KeyMode::Random => {
                let mut buf = [0u8; MAX_ID_BYTES];
                let raw = ids::decode(self.config.id_encoding, id, self.config.id_bytes, &mut buf)?;
                self.index_find(raw, self.hash(raw))
            }
            KeyMode::Caller => {
                if id.is_empty() || id.len() > MAX_KEY_BYTES {
                    return None;
                }
                self.index_find(id, self.hash(id))
            }
        }
    }

    /// Draws random ids until one is not attached; returns it in `buf` with its hash.
    fn fresh_id<'a>(&mut self, buf: &'a mut [u8; MAX_ID_BYTES]) -> Result<(&'a [u8], u64), Error> {
        let raw = buf
            .get_mut(..self.config.id_bytes)
            .ok_or(Error::InvalidConfig("id_bytes must be 16..=64"))?;
        loop {
            self.pool.fill(raw)?;
            let hash = self.hash(raw);
            if self.index_find(raw, hash).is_none() {
                return Ok((raw, hash));
            }
        }
    }

    // ---- lifecycle ---------------------------------------------------------------------

    fn handle_of(&self, slot: u32) -> Option<Handle> {
        self.table
            .slot(slot)
            .map(|e| Handle::new(slot, e.generation))
    }

    fn attached(&self, h: Handle) -> Option<&Entry> {
        self.table.get(h).filter(|e| e.state == SlotState::Attached)
    }

    fn attached_alive(&self, h: Handle, now: f64) -> bool {
        self.attached(h).is_some_and(|e| e.alive(now))
    }

    /// True when the handle's session is attached and alive at `now`: neither closed nor past
    /// its deadline.
    pub fn is_alive(&self, h: Handle, now: f64) -> bool {
        self.attached_alive(h, now)
    }

    fn insert_new(
        &mut self,
        key: Key,
        hash: u64,
        now: f64,
        idle: f64,
        abs: f64,
    ) -> Result<Handle, Error> {
        let (slot, is_new) = self
            .table
            .alloc(key, now, idle, abs)
            .ok_or(Error::TableFull)?;
        if is_new {
            self.idle.add_slot();
            self.absolute.add_slot();
        }
        self.index.insert(hash, slot);
        self.idle.push_back(slot, idle);
        if abs > 0.0 {
            self.absolute.push_back(slot, abs);
        }
        self.handle_of(slot).ok_or(Error::TableFull)
    }

    /// Creates a session with a fresh random id; read it with [`Engine::id`].
    /// `Err(WrongKeyMode)` in caller mode, `Err(TableFull)`, or `Err(Random)` when the OS
    /// RNG fails (nothing changes then).
    pub fn create(
        &mut self,
        now: f64,
        idle_timeout: f64,
        absolute_timeout: f64,
    ) -> Result<Handle, Error> {
        if self.config.keys != KeyMode::Random {
            return Err(Error::WrongKeyMode);
        }
        if !self.table.can_alloc() {
            return Err(Error::TableFull);
        }
        let mut buf = [0u8; MAX_ID_BYTES];
        let (raw, hash) = self.fresh_id(&mut buf)?;
        let key = Key::new(raw);
        self.insert_new(key, hash, now, idle_timeout, absolute_timeout)
    }

    /// Creates a session under a caller key (the UTF-8 bytes of a JS string).
    /// `Err(KeyExists)` when an attached session has it (checked before `TableFull`),
    /// `Err(WrongKeyMode)` in random mode, `Err(InvalidConfig)` unless the key is 1..=255
    /// bytes of UTF-8 (the facade guarantees that).
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { keys: KeyMode::Caller, ..Config::default() }).unwrap();
    /// let h = e.create_with_key(b"alice", 0.0, 0.0, 0.0).unwrap();
    /// assert!(matches!(e.create_with_key(b"alice", 0.0, 0.0, 0.0), Err(Error::KeyExists)));
    /// assert_eq!(e.id(h).as_deref(), Some("alice"));
    /// ```
    pub fn create_with_key(
        &mut self,
        key: &[u8],
        now: f64,
        idle_timeout: f64,
        absolute_timeout: f64,
    ) -> Result<Handle, Error> {
        if self.config.keys != KeyMode::Caller {
            return Err(Error::WrongKeyMode);
        }
        if !valid_key(key) {
            return Err(Error::InvalidConfig("key must be 1..=255 bytes of UTF-8"));
        }
        let hash = self.hash(key);
        if self.index_find(key, hash).is_some() {
            return Err(Error::KeyExists);
        }
        if !self.table.can_alloc() {
            return Err(Error::TableFull);
        }
        self.insert_new(Key::new(key), hash, now, idle_timeout, absolute_timeout)
    }

    fn renew(&mut self, slot: u32, now: f64) {
        if let Some(e) = self.table.slot_mut(slot) {
            e.last_activity = now;
            self.idle.move_to_tail(slot);
        }
    }

    /// Finds the attached session with this id that is alive at `now`; with `renew`, sets
    /// its last activity to `now`. Malformed ids return `None` without hashing.
    pub fn lookup(&mut self, id: &[u8], now: f64, renew: bool) -> Option<Handle> {
        let slot = self.find_id(id)?;
        let e = self.table.slot(slot)?;
        if !e.alive(now) {
            return None;
        }
        let h = Handle::new(slot, e.generation);
        if renew {
            self.renew(slot, now);
        }
        Some(h)
    }

    /// Detaches the attached session with this id if it is expired at `now`, returning it
    /// so the caller can close it; `None` otherwise.
    pub fn detach_if_expired(&mut self, id: &[u8], now: f64) -> Option<Handle> {
        let slot = self.find_id(id)?;
        let e = self.table.slot(slot)?;
        if e.alive(now) {
            return None;
        }
        let h = Handle::new(slot, e.generation);
        self.detach_slot(slot);
        Some(h)
    }

    /// Renews an attached session alive at `now`; false otherwise.
    pub fn touch(&mut self, h: Handle, now: f64) -> bool {
        if !self.attached_alive(h, now) {
            return false;
        }
        self.renew(h.slot(), now);
        true
    }

    fn detach_slot(&mut self, slot: u32) {
        self.idle.unlink(slot);
        self.absolute.unlink(slot);
        self.index_remove(slot);
        self.table.mark_detached(slot);
    }

    /// Attached -> detached; false when the handle is not attached.
    pub fn detach(&mut self, h: Handle) -> bool {
        if self.attached(h).is_none() {
            return false;
        }
        self.detach_slot(h.slot());
        true
    }

    /// Frees an attached or detached session's slot; false when already stale. Every handle
    /// on the session goes stale for good: the slot comes back with its generation bumped, or,
    /// when this was its last generation, is retired and never comes back. O(1).
    pub fn release(&mut self, h: Handle) -> bool {
        let Some(state) = self.table.get(h).map(|e| e.state) else {
            return false;
        };
        if state == SlotState::Attached {
            self.detach_slot(h.slot());
        }
        self.table.free(h.slot());
        true
    }

    /// The earliest list-head deadline and its slot: idle lists with a timeout first, then
    /// absolute lists, each in registry order; the strictly smallest wins (first on ties).
    fn earliest(&self) -> Option<(f64, u32)> {
        let entries = &self.table.entries;
        let idle = self
            .idle
            .heads()
            .filter(|&(t, _)| t > 0.0)
            .filter_map(|(t, s)| entries.get(s as usize).map(|e| (e.last_activity + t, s)));
        let abs = self
            .absolute
            .heads()
            .filter_map(|(t, s)| entries.get(s as usize).map(|e| (e.created_at + t, s)));
        let mut best: Option<(f64, u32)> = None;
        for (deadline, slot) in idle.chain(abs) {
            if best.is_none_or(|(b, _)| deadline < b) {
                best = Some((deadline, slot));
            }
        }
        best
    }

    fn due(&self, now: f64) -> Option<u32> {
        self.earliest().filter(|&(d, _)| d <= now).map(|(_, s)| s)
    }

    /// Detaches up to `limit` sessions expired at `now`, earliest deadline first, passing
    /// each handle to `emit`. Returns how many; fewer than `limit` means none is left due.
    pub fn sweep(&mut self, now: f64, limit: usize, mut emit: impl FnMut(Handle)) -> usize {
        let mut n = 0;
        while n < limit {
            let Some(slot) = self.due(now) else { break };
            let Some(h) = self.handle_of(slot) else { break };
            self.detach_slot(slot);
            emit(h);
            n += 1;
        }
        n
    }

    /// Like [`Engine::sweep`] but also releases each session, for when nobody needs to see
    /// them. Returns how many were released.
    pub fn sweep_release(&mut self, now: f64, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            let Some(slot) = self.due(now) else { break };
            let Some(h) = self.handle_of(slot) else { break };
            self.release(h);
            n += 1;
        }
        n
    }

    /// The earliest deadline among attached sessions; `f64::INFINITY` when none has one.
    pub fn next_deadline(&self) -> f64 {
        self.earliest().map_or(f64::INFINITY, |(d, _)| d)
    }

    /// The attached session used least recently: among the heads of all idle lists
    /// (timeout 0 included) in registry order, the strictly smallest last activity.
    pub fn least_recently_used(&self) -> Option<Handle> {
        let mut best: Option<(f64, u32)> = None;
        for (_, slot) in self.idle.heads() {
            let Some(e) = self.table.slot(slot) else {
                continue;
            };
            if best.is_none_or(|(b, _)| e.last_activity < b) {
                best = Some((e.last_activity, slot));
            }
        }
        best.and_then(|(_, s)| self.handle_of(s))
    }

    /// Gives an attached, alive session a new random id and renews it; returns the new id.
    /// `Ok(None)` when the handle is not attached and alive, `Err(WrongKeyMode)` in caller
    /// mode, `Err(Random)` when the OS RNG fails (nothing changes then).
    pub fn regenerate(&mut self, h: Handle, now: f64) -> Result<Option<String>, Error> {
        if self.config.keys != KeyMode::Random {
            return Err(Error::WrongKeyMode);
        }
        if !self.attached_alive(h, now) {
            return Ok(None);
        }
        let mut buf = [0u8; MAX_ID_BYTES];
        let (raw, hash) = self.fresh_id(&mut buf)?;
        let slot = h.slot();
        self.index_remove(slot);
        self.table.replace_key(slot, Key::new(raw));
        self.index.insert(hash, slot);
        self.renew(slot, now);
        Ok(Some(ids::encode(self.config.id_encoding, raw)))
    }

    /// Moves an attached, alive session to `key` (caller mode) and renews it. Its own key
    /// just renews. `Err(Exists)` when another attached session has `key`.
    pub fn rekey(&mut self, h: Handle, key: &[u8], now: f64) -> Result<(), RekeyError> {
        if self.config.keys != KeyMode::Caller || !valid_key(key) || !self.attached_alive(h, now) {
            return Err(RekeyError::NotAttached);
        }
        let slot = h.slot();
        let same = self
            .table
            .slot(slot)
            .is_some_and(|e| e.key.as_bytes() == key);
        if !same {
            let hash = self.hash(key);
            if self.index_find(key, hash).is_some() {
                return Err(RekeyError::Exists);
            }
            self.index_remove(slot);
            self.table.replace_key(slot, Key::new(key));
            self.index.insert(hash, slot);
        }
        self.renew(slot, now);
        Ok(())
    }

    // ---- reads -------------------------------------------------------------------------

    /// Attached, detached or stale.
    pub fn state(&self, h: Handle) -> State {
        match self.table.get(h).map(|e| e.state) {
            Some(SlotState::Attached) => State::Attached,
            Some(SlotState::Detached) => State::Detached,
            _ => State::Stale,
        }
    }

    /// The session's id text: the encoded random id, or the caller key.
    pub fn id(&self, h: Handle) -> Option<String> {
        let mut buf = [0u8; 256];
        let n = self.write_id(h, &mut buf)?;
        let text = std::str::from_utf8(buf.get(..n)?).ok()?;
        Some(text.to_owned())
    }

    /// Writes the same text as [`Engine::id`] into `out` without allocating; returns its
    /// length in bytes (always <= 255, valid UTF-8).
    pub fn write_id(&self, h: Handle, out: &mut [u8; 256]) -> Option<usize> {
        let key = self.table.get(h)?.key.as_bytes();
        match self.config.keys {
            KeyMode::Random => ids::encode_into(self.config.id_encoding, key, out),
            KeyMode::Caller => {
                out.get_mut(..key.len())?.copy_from_slice(key);
                Some(key.len())
            }
        }
    }

    /// When the session was created.
    pub fn created_at(&self, h: Handle) -> Option<f64> {
        self.table.get(h).map(|e| e.created_at)
    }

    /// When the session was created or last renewed.
    pub fn last_activity(&self, h: Handle) -> Option<f64> {
        self.table.get(h).map(|e| e.last_activity)
    }

    /// The earlier of the idle and absolute deadlines; `f64::INFINITY` when neither applies.
    pub fn expires_at(&self, h: Handle) -> Option<f64> {
        self.table.get(h).map(Entry::expires_at)
    }

    /// The idle timeout (0 = none).
    pub fn idle_timeout(&self, h: Handle) -> Option<f64> {
        self.table.get(h).map(|e| e.idle_timeout)
    }

    /// The absolute timeout (0 = none).
    pub fn absolute_timeout(&self, h: Handle) -> Option<f64> {
        self.table.get(h).map(|e| e.absolute_timeout)
    }

    /// Sets the idle timeout; an attached session is refiled at its place by last activity.
    /// False when stale.
    pub fn set_idle_timeout(&mut self, h: Handle, t: f64) -> bool {
        let Some(e) = self.table.get_mut(h) else {
            return false;
        };
        if e.state == SlotState::Detached {
            e.idle_timeout = t;
            return true;
        }
        if e.idle_timeout == t {
            return true;
        }
        e.idle_timeout = t;
        let slot = h.slot();
        self.idle.unlink(slot);
        let entries = &self.table.entries;
        self.idle.insert_sorted(slot, t, |s| {
            entries.get(s as usize).map_or(0.0, |e| e.last_activity)
        });
        true
    }

    /// Sets the absolute timeout; an attached session is refiled at its place by creation
    /// time (0 just unfiles it). False when stale.
    pub fn set_absolute_timeout(&mut self, h: Handle, t: f64) -> bool {
        let Some(e) = self.table.get_mut(h) else {
            return false;
        };
        if e.state == SlotState::Detached {
            e.absolute_timeout = t;
            return true;
        }
        if e.absolute_timeout == t {
            return true;
        }
        e.absolute_timeout = t;
        let slot = h.slot();
        self.absolute.unlink(slot);
        if t > 0.0 {
            let entries = &self.table.entries;
            self.absolute.insert_sorted(slot, t, |s| {
                entries.get(s as usize).map_or(0.0, |e| e.created_at)
            });
        }
        true
    }

    // ---- data --------------------------------------------------------------------------

    fn side(&self, h: Handle) -> Option<Option<&SideRecord>> {
        self.table.get(h).map(|e| e.side.as_deref())
    }

    /// A data value; `None` when absent or stale.
    pub fn get_data(&self, h: Handle, key: &str) -> Option<&str> {
        self.side(h)??.get(key)
    }

    /// Stores `value` under `key` (a replaced key keeps its place). `Err(TooLarge)` when the
    /// session's data bytes would exceed `max_data_bytes`; nothing changes then.
    pub fn set_data(&mut self, h: Handle, key: &str, value: &str) -> Result<(), SetDataError> {
        let max = self.config.max_data_bytes;
        self.table
            .change_side(h, |side| {
                let pending = SideRecord::plan(side.as_deref(), key, value);
                if SideRecord::total(&pending) > max {
                    return Err(SetDataError::TooLarge);
                }
                side.get_or_insert_with(Box::default)
                    .apply(pending, key, value);
                Ok(())
            })
            .unwrap_or(Err(SetDataError::Stale))
    }

    /// Removes a data key; true when it was present.
    pub fn delete_data(&mut self, h: Handle, key: &str) -> bool {
        self.table
            .change_side(h, |side| side.as_mut().is_some_and(|s| s.delete(key)))
            .unwrap_or(false)
    }

    /// Data keys in insertion order; `Some(vec![])` for a live handle without data.
    pub fn data_keys(&self, h: Handle) -> Option<Vec<&str>> {
        self.side(h)
            .map(|s| s.map_or_else(Vec::new, SideRecord::keys))
    }

    /// UTF-8 bytes of all data keys and values.
    pub fn data_bytes(&self, h: Handle) -> Option<usize> {
        self.side(h).map(|s| s.map_or(0, SideRecord::data_bytes))
    }

    /// The user name; `None` when unset or stale.
    pub fn user(&self, h: Handle) -> Option<&str> {
        self.side(h)??.user()
    }

    /// Sets or (with `None`) clears the user name. False when stale.
    pub fn set_user(&mut self, h: Handle, user: Option<&str>) -> bool {
        self.table
            .change_side(h, |side| match (side.as_mut(), user) {
                (Some(record), _) => record.set_user(user),
                (None, Some(_)) => side.get_or_insert_with(Box::default).set_user(user),
                (None, None) => {}
            })
            .is_some()
    }

    /// Roles in the order given; `Some(vec![])` for a live handle without roles.
    pub fn roles(&self, h: Handle) -> Option<Vec<&str>> {
        self.side(h)
            .map(|s| s.map_or_else(Vec::new, SideRecord::roles))
    }

    /// Replaces the roles (accepts `&[&str]` or `&[String]`). False when stale.
    pub fn set_roles<S: AsRef<str>>(&mut self, h: Handle, roles: &[S]) -> bool {
        self.table
            .change_side(h, |side| match side.as_mut() {
                Some(record) => record.set_roles(roles),
                None if !roles.is_empty() => side.get_or_insert_with(Box::default).set_roles(roles),
                None => {}
            })
            .is_some()
    }

    // ---- iteration and accounting ------------------------------------------------------

    /// Passes up to `limit` attached sessions alive at `now` to `emit`, in slot order from
    /// `from_slot`. Returns how many; fewer than `limit` means the end was reached. Continue
    /// from `last.slot() + 1`.
    pub fn scan(
        &self,
        from_slot: u32,
        now: f64,
        limit: usize,
        mut emit: impl FnMut(Handle),
    ) -> usize {
        let mut n = 0;
        let start = (from_slot as usize).min(self.table.entries.len());
        for (slot, e) in (start..).zip(self.table.entries.iter().skip(start)) {
            if n >= limit {
                break;
            }
            if e.state == SlotState::Attached && e.alive(now) {
                if let Ok(slot) = u32::try_from(slot) {
                    emit(Handle::new(slot, e.generation));
                    n += 1;
                }
            }
        }
        n
    }

    /// Approximate heap bytes held: table, index, expiry registries, random pool and side
    /// records (strings counted by length). O(1), so it can be read while serving.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Engine>()
            + self.table.heap_bytes()
            + self.index.capacity() * std::mem::size_of::<u64>()
            + self.idle.heap_bytes()
            + self.absolute.heap_bytes()
            + self.pool.heap_bytes()
    }
}

fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && std::str::from_utf8(key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random() -> Engine {
        Engine::new(Config::default()).unwrap()
    }

    fn caller() -> Engine {
        Engine::new(Config {
            keys: KeyMode::Caller,
            ..Config::default()
        })
        .unwrap()
    }

    #[test]
    fn config_is_checked() {
        for n in [0, 15, 65] {
            let c = Config {
                id_bytes: n,
                ..Config::default()
            };
            assert!(matches!(Engine::new(c), Err(Error::InvalidConfig(_))));
        }
        assert!(Engine::new(Config {
            id_bytes: 64,
            id_encoding: IdEncoding::Hex,
            ..Config::default()
        })
        .is_ok());
    }

    #[test]
    fn ids_have_the_right_shape_and_are_found() {
        for (enc, n, len) in [
            (IdEncoding::Base64Url, 16, 22),
            (IdEncoding::Hex, 64, 128),
            (IdEncoding::Base64Url, 33, 44),
        ] {
            let mut e = Engine::new(Config {
                id_bytes: n,
                id_encoding: enc,
                ..Config::default()
            })
            .unwrap();
            let h = e.create(0.0, 0.0, 0.0).unwrap();
            let id = e.id(h).unwrap();
            assert_eq!(id.len(), len);
            let mut buf = [0u8; 256];
            assert_eq!(e.write_id(h, &mut buf), Some(len));
            assert_eq!(&buf[..len], id.as_bytes());
            assert_eq!(e.lookup(id.as_bytes(), 1.0, false), Some(h));
            assert_eq!(e.lookup(&id.as_bytes()[1..], 1.0, false), None);
            assert_eq!(e.lookup(id.to_uppercase().as_bytes(), 1.0, false), None);
        }
    }

    #[test]
    fn modes_are_enforced() {
        let mut r = random();
        assert!(matches!(
            r.create_with_key(b"k", 0.0, 0.0, 0.0),
            Err(Error::WrongKeyMode)
        ));
        let h = r.create(0.0, 0.0, 0.0).unwrap();
        assert_eq!(r.rekey(h, b"k", 0.0), Err(RekeyError::NotAttached));
        let mut c = caller();
        assert!(matches!(c.create(0.0, 0.0, 0.0), Err(Error::WrongKeyMode)));
        let h = c.create_with_key(b"k", 0.0, 0.0, 0.0).unwrap();
        assert!(matches!(c.regenerate(h, 0.0), Err(Error::WrongKeyMode)));
        assert!(matches!(
            c.create_with_key(b"", 0.0, 0.0, 0.0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            c.create_with_key(&[b'x'; 256], 0.0, 0.0, 0.0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            c.create_with_key(&[0xff], 0.0, 0.0, 0.0),
            Err(Error::InvalidConfig(_))
        ));
        let long = "é".repeat(127);
        let h2 = c.create_with_key(long.as_bytes(), 0.0, 0.0, 0.0).unwrap();
        assert_eq!(c.id(h2).as_deref(), Some(long.as_str()));
        assert_eq!(c.lookup(long.as_bytes(), 0.0, true), Some(h2));
        assert_eq!(c.lookup(b"", 0.0, true), None);
    }

    #[test]
    fn table_full() {
        let mut e = caller();
        e.set_max_slots(2);
        let a = e.create_with_key(b"a", 0.0, 0.0, 0.0).unwrap();
        e.create_with_key(b"b", 0.0, 0.0, 0.0).unwrap();
        assert!(matches!(
            e.create_with_key(b"a", 0.0, 0.0, 0.0),
            Err(Error::KeyExists)
        ));
        assert!(matches!(
            e.create_with_key(b"c", 0.0, 0.0, 0.0),
            Err(Error::TableFull)
        ));
        assert!(e.release(a));
        assert!(!e.release(a));
        let c = e.create_with_key(b"c", 0.0, 0.0, 0.0).unwrap();
        assert_eq!(c.slot(), a.slot());
        assert_eq!(c.generation(), 1);
        assert_eq!(e.state(a), State::Stale);
    }

    #[test]
    fn a_slot_retires_after_its_last_generation_and_counts_as_used() {
        let mut e = caller();
        e.set_max_slots(2);
        let first = e.create_with_key(b"a", 0.0, 0.0, 0.0).unwrap();
        e.table.slot_mut(0).unwrap().generation = GENERATION_SPACE - 1;
        let last = Handle::new(0, GENERATION_SPACE - 1);
        assert_eq!(Handle::from_f64(last.to_f64()), Some(last));
        assert_eq!(e.set_data(last, "k", "v"), Ok(()));
        assert!(e.release(last));
        let b = e.create_with_key(b"b", 0.0, 0.0, 0.0).unwrap();
        assert_eq!((b.slot(), b.generation()), (1, 0));
        for h in [first, last, Handle::new(0, 0)] {
            assert_eq!(e.state(h), State::Stale);
            assert_eq!(e.get_data(h, "k"), None);
            assert!(!e.release(h));
        }
        // Slot 0 is retired and slot 1 in use: nothing is left to take.
        assert!(matches!(
            e.create_with_key(b"c", 0.0, 0.0, 0.0),
            Err(Error::TableFull)
        ));
        assert!(e.release(b));
        assert_eq!(e.create_with_key(b"c", 0.0, 0.0, 0.0).unwrap().slot(), 1);
    }

    #[test]
    fn a_table_of_retired_slots_is_full_and_empty() {
        let mut e = Engine::with_generation_space(Config::default(), 1).unwrap();
        e.set_max_slots(2);
        let settled = {
            let h = e.create(0.0, 0.0, 0.0).unwrap();
            assert!(e.release(h));
            e.memory_bytes()
        };
        let h = e.create(0.0, 0.0, 0.0).unwrap();
        assert_eq!(h.slot(), 1);
        assert!(e.set_user(h, Some("alice")));
        assert!(e.release(h));
        assert!(matches!(e.create(0.0, 0.0, 0.0), Err(Error::TableFull)));
        assert!(e.is_empty());
        assert!(e.memory_bytes() >= settled);
        assert_eq!(e.scan(0, 0.0, usize::MAX, |_| {}), 0);
    }

    #[test]
    fn expiry_rules() {
        let mut e = caller();
        let a = e.create_with_key(b"a", 0.0, 10.0, 0.0).unwrap();
        let b = e.create_with_key(b"b", 1.0, 0.0, 5.0).unwrap();
        let c = e.create_with_key(b"c", 2.0, 0.0, 0.0).unwrap();
        assert_eq!(e.next_deadline(), 6.0);
        assert_eq!(e.least_recently_used(), Some(a));
        assert!(e.touch(a, 3.0));
        assert_eq!(e.least_recently_used(), Some(b));
        assert_eq!(e.lookup(b"b", 6.0, false), None);
        assert_eq!(e.detach_if_expired(b"a", 6.0), None);
        assert_eq!(e.detach_if_expired(b"b", 6.0), Some(b));
        assert_eq!(e.state(b), State::Detached);
        assert_eq!(e.len(), 2);
        let mut out = Vec::new();
        assert_eq!(e.sweep(100.0, 10, |h| out.push(h)), 1);
        assert_eq!(out, [a]);
        assert_eq!(e.next_deadline(), f64::INFINITY);
        assert_eq!(e.expires_at(c), Some(f64::INFINITY));
        assert!(e.set_idle_timeout(c, 1.0));
        assert_eq!(e.next_deadline(), 3.0);
        assert_eq!(e.sweep_release(3.0, 0), 0);
        assert_eq!(e.sweep_release(3.0, 5), 1);
        assert!(e.is_empty());
        assert_eq!(e.least_recently_used(), None);
        assert!(e.release(b));
        assert!(e.memory_bytes() > 0);
    }

    #[test]
    fn data_user_roles() {
        let mut e = Engine::new(Config {
            keys: KeyMode::Caller,
            max_data_bytes: 10,
            ..Config::default()
        })
        .unwrap();
        let h = e.create_with_key(b"k", 0.0, 0.0, 0.0).unwrap();
        assert_eq!(e.data_keys(h), Some(vec![]));
        assert_eq!(e.set_data(h, "ab", "cdefgh"), Ok(()));
        assert_eq!(e.set_data(h, "x", "yz"), Err(SetDataError::TooLarge));
        assert_eq!(e.set_data(h, "ab", "cdefghij"), Ok(()));
        assert_eq!(e.data_bytes(h), Some(10));
        assert_eq!(e.get_data(h, "ab"), Some("cdefghij"));
        assert!(e.set_user(h, Some("u")));
        assert!(e.set_roles(h, &["r1", "r2"]));
        assert!(e.detach(h));
        assert_eq!(e.user(h), Some("u"));
        assert_eq!(e.roles(h), Some(vec!["r1", "r2"]));
        assert!(e.delete_data(h, "ab"));
        assert!(e.release(h));
        assert_eq!(e.set_data(h, "a", "b"), Err(SetDataError::Stale));
        assert_eq!(e.data_keys(h), None);
        assert!(!e.set_user(h, None));
        assert!(!e.set_roles::<&str>(h, &[]));
    }

    #[test]
    fn regenerate_and_rekey() {
        let mut r = random();
        let h = r.create(0.0, 10.0, 0.0).unwrap();
        let old = r.id(h).unwrap();
        let new = r.regenerate(h, 5.0).unwrap().unwrap();
        assert_ne!(old, new);
        assert_eq!(r.lookup(old.as_bytes(), 6.0, false), None);
        assert_eq!(r.lookup(new.as_bytes(), 6.0, false), Some(h));
        assert_eq!(r.last_activity(h), Some(5.0));
        assert_eq!(r.regenerate(h, 15.0).unwrap(), None);

        let mut c = caller();
        let a = c.create_with_key(b"a", 0.0, 0.0, 0.0).unwrap();
        c.create_with_key(b"b", 0.0, 0.0, 0.0).unwrap();
        assert_eq!(c.rekey(a, b"b", 1.0), Err(RekeyError::Exists));
        assert_eq!(c.rekey(a, b"a", 2.0), Ok(()));
        assert_eq!(c.last_activity(a), Some(2.0));
        assert_eq!(c.rekey(a, b"z", 3.0), Ok(()));
        assert_eq!(c.lookup(b"a", 3.0, false), None);
        assert_eq!(c.lookup(b"z", 3.0, false), Some(a));
    }

    #[test]
    fn scan_in_slot_order() {
        let mut c = caller();
        let hs: Vec<_> = (0..5u8)
            .map(|i| c.create_with_key(&[b'a' + i], 0.0, 0.0, 0.0).unwrap())
            .collect();
        c.detach(hs[1]);
        let mut out = Vec::new();
        assert_eq!(c.scan(0, 0.0, 2, |h| out.push(h)), 2);
        assert_eq!(out, [hs[0], hs[2]]);
        out.clear();
        assert_eq!(c.scan(3, 0.0, 10, |h| out.push(h)), 2);
        assert_eq!(c.scan(u32::MAX, 0.0, 10, |_| {}), 0);
    }

    #[test]
    fn memory_bytes_follows_keys_and_side_records_and_returns_when_they_go() {
        let mut c = caller();
        let long_key = [b'k'; 200];
        let h = c.create_with_key(&long_key, 0.0, 0.0, 0.0).unwrap();
        let empty = c.memory_bytes();
        assert!(c.set_data(h, "key", &"v".repeat(1000)).is_ok());
        assert!(c.set_user(h, Some("a user name")));
        assert!(c.set_roles(h, &["admin", "ops"]));
        let full = c.memory_bytes();
        assert!(full >= empty + 1000, "{full} vs {empty}");
        assert!(c.set_data(h, "key", "short").is_ok());
        assert!(c.memory_bytes() < full);
        assert!(c.rekey(h, b"short", 0.0).is_ok());
        assert!(c.delete_data(h, "key"));
        assert!(c.set_user(h, None));
        assert!(c.set_roles::<&str>(h, &[]));
        assert_eq!(c.memory_bytes() + 200, empty);
        assert!(c.release(h));
        // The first release grows the free stack; from then on a full cycle returns to the same.
        let settled = c.memory_bytes();
        let h = c.create_with_key(&long_key, 0.0, 0.0, 0.0).unwrap();
        assert!(c.set_data(h, "key", "value").is_ok());
        assert!(c.memory_bytes() > settled);
        assert!(c.release(h));
        assert_eq!(c.memory_bytes(), settled);
    }
}
