//! The public engine: ties the slot table, the id index, the expiry structure and the random
//! pool together, following the shared algorithm step by step. Split by concern: this file
//! holds the types, the id index and the lifecycle; `schedule` everything about deadlines
//! (filing, sweeping, eviction); `access` the getters, data, user, roles and accounting.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use crate::config::{Config, KeyMode};
use crate::data::{OverCap, SideRecord};
use crate::error::{Error, RekeyError};
use crate::handle::{Handle, GENERATION_SPACE};
use crate::ids::{self, RandomPool, MAX_ID_BYTES};
use crate::index::SlotIndex;
use crate::table::{Entry, Key, SlotState, Table};
use crate::wheel::Wheel;

pub use lag::{ExpiryLag, EXPIRY_LAG_BOUNDS, EXPIRY_LAG_BUCKETS};

mod access;
mod lag;
mod restore;
mod schedule;
#[cfg(test)]
mod tests;

/// Longest caller key in bytes (and so the longest id text).
const MAX_KEY_BYTES: usize = 255;

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
    wheel: Wheel,
    pool: RandomPool,
    lag: ExpiryLag,
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
    /// `Err(InvalidConfig)` unless `id_bytes` is 16..=64, `resolution` is finite and >= 1
    /// and `generation_space` is `1..=GENERATION_SPACE`.
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
        if !(config.resolution.is_finite() && config.resolution >= 1.0) {
            return Err(Error::InvalidConfig(
                "resolution must be a finite number >= 1",
            ));
        }
        Ok(Engine {
            wheel: Wheel::new(config.resolution),
            config,
            table: Table::new(generation_space),
            index: SlotIndex::default(),
            hasher: RandomState::default(),
            pool: RandomPool::default(),
            lag: ExpiryLag::default(),
        })
    }

    /// Checks every invariant of the table, the id index and the deadline wheel: counts and
    /// byte totals, the free stack, probe chains, that each attached session is indexed under
    /// its own key and filed exactly once in its class, never after its deadline. Debug and
    /// test builds only; the property tests run it after every step.
    ///
    /// # Errors
    /// A description of the first broken invariant.
    #[cfg(any(test, debug_assertions))]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.table.check()?;
        let indexed = self.index.check()?;
        if indexed.len() != self.table.attached() {
            return Err(format!(
                "{} indexed, {} attached",
                indexed.len(),
                self.table.attached()
            ));
        }
        for slot in indexed {
            let e = self
                .table
                .slot(slot)
                .filter(|e| e.state == SlotState::Attached)
                .ok_or(format!("indexed slot {slot} is not attached"))?;
            if self.index_find(e.key.as_bytes(), self.hash(e.key.as_bytes())) != Some(slot) {
                return Err(format!("slot {slot} is not found under its own key"));
            }
        }
        self.wheel.check(&self.table.entries)
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
            entries.get(s as usize).is_some_and(|e| e.key.is(key))
        })
    }

    /// Starts loading the index bucket of the session in `slot` (its entry read already).
    fn prefetch_index_of(&self, slot: u32) {
        if let Some(e) = self.table.slot(slot) {
            self.index.prefetch(self.hash(e.key.as_bytes()));
        }
    }

    fn index_remove(&mut self, slot: u32) {
        let Some(e) = self.table.slot(slot) else {
            debug_assert!(false, "unindexing slot {slot}, which has no entry");
            return;
        };
        let hash = self.hash(e.key.as_bytes());
        let removed = self.index.remove(hash, slot);
        debug_assert!(removed, "slot {slot} was not indexed under its key");
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

    /// The index hash of `id` (client text); `None` for what `find_id` refuses unhashed (not
    /// an id of this engine, or a caller key of no bytes or over the limit).
    pub(crate) fn id_hash(&self, id: &[u8]) -> Option<u64> {
        let mut buf = [0u8; MAX_ID_BYTES];
        let key = match self.config.keys {
            KeyMode::Random => {
                ids::decode(self.config.id_encoding, id, self.config.id_bytes, &mut buf)?
            }
            KeyMode::Caller if id.is_empty() || id.len() > MAX_KEY_BYTES => return None,
            KeyMode::Caller => id,
        };
        Some(self.hash(key))
    }

    /// Reads where ids of these hashes would be found in the index, changing nothing (see
    /// `SlotIndex::warm`), and returns what it read folded into one word, for
    /// `std::hint::black_box`. The reads follow each other with nothing between them, so that
    /// their cache misses are all under way at once.
    pub(crate) fn warm(&self, hashes: &[u64]) -> u64 {
        hashes
            .iter()
            .fold(0, |read, &hash| read ^ self.index.warm(hash))
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
        let slot = self
            .table
            .alloc(key, now, idle, abs)
            .ok_or(Error::TableFull)?;
        self.index.insert(hash, slot);
        self.file_new(slot);
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
        let created = self.insert_new(key, hash, now, idle_timeout, absolute_timeout);
        self.prefetch_next_id();
        created
    }

    /// Starts loading the index bucket of the id the next create will draw (its bytes are in
    /// the pool already), so that the next create does not wait for that miss (`crate::prefetch`).
    fn prefetch_next_id(&self) {
        if let Some(next) = self.pool.peek(self.config.id_bytes) {
            self.index.prefetch(self.hash(next));
        }
    }

    /// [`Engine::create`] with its initial data, in one step: the data entries are stored in
    /// order as [`Engine::set_data`] would store them, stopping at the first that would take the
    /// session over `max_data_bytes`; the session exists either way. Returns the handle and
    /// whether every entry was stored. The session's record is built at once, in one allocation
    /// of its exact size (src/data.rs). Same errors as [`Engine::create`]; O(bytes of the data).
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { max_data_bytes: 4, ..Config::default() }).unwrap();
    /// let (h, all) = e.create_with_data(0.0, 0.0, 0.0, [("a", "1"), ("b", "22")].into_iter()).unwrap();
    /// assert!(!all);
    /// assert_eq!((e.get_data(h, "a"), e.get_data(h, "b")), (Some("1"), None));
    /// ```
    pub fn create_with_data<'s>(
        &mut self,
        now: f64,
        idle_timeout: f64,
        absolute_timeout: f64,
        data: impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
    ) -> Result<(Handle, bool), Error> {
        let h = self.create(now, idle_timeout, absolute_timeout)?;
        if data.len() == 0 {
            return Ok((h, true));
        }
        let no_roles: [&str; 0] = [];
        let (record, all) = SideRecord::build(
            None,
            &no_roles,
            data,
            self.config.max_data_bytes,
            OverCap::Stop,
        );
        if !record.is_empty() {
            self.table.change_side(h, |side| *side = record);
        }
        Ok((h, all))
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
        self.unfile(slot);
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
        if let Some(page) = self.table.free(h.slot()) {
            self.wheel.release_page(page);
        }
        true
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
}

fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && std::str::from_utf8(key).is_ok()
}
