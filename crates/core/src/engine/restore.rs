//! Restoring: re-creating a session saved by an earlier process with its own id, timestamps
//! and timeouts, as persistence does on load. Nothing is drawn from the random pool.

use super::{valid_key, Engine};
use crate::config::KeyMode;
use crate::error::Error;
use crate::handle::Handle;
use crate::ids::{self, MAX_ID_BYTES};
use crate::table::Key;

impl Engine {
    /// Re-creates an attached session with the given id (its text form: an encoded random id,
    /// or a caller key), creation time, last activity and timeouts. The session is filed at
    /// its place by last activity (and creation time for its absolute deadline), so restoring
    /// sessions in ascending last activity costs O(1) each; in any other order a restore walks
    /// its idle list from the tail. A session already past its deadline is restored too (the
    /// caller closes it as expired).
    ///
    /// # Errors
    /// `Err(InvalidConfig)` when `id` is not a valid id of this engine's key mode (for random
    /// ids: length, alphabet and canonical spelling), `Err(KeyExists)` when an attached session
    /// has it, `Err(TableFull)`.
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { keys: KeyMode::Caller, ..Config::default() }).unwrap();
    /// let h = e.restore(b"alice", 10.0, 40.0, 100.0, 0.0).unwrap();
    /// assert_eq!((e.created_at(h), e.last_activity(h), e.expires_at(h)), (Some(10.0), Some(40.0), Some(140.0)));
    /// assert!(matches!(e.restore(b"alice", 0.0, 0.0, 0.0, 0.0), Err(Error::KeyExists)));
    /// ```
    pub fn restore(
        &mut self,
        id: &[u8],
        created_at: f64,
        last_activity: f64,
        idle_timeout: f64,
        absolute_timeout: f64,
    ) -> Result<Handle, Error> {
        let mut buf = [0u8; MAX_ID_BYTES];
        let raw: &[u8] = match self.config.keys {
            KeyMode::Random => ids::decode(self.config.id_encoding, id, self.config.id_bytes, &mut buf)
                .ok_or(Error::InvalidConfig("not an id of this engine"))?,
            KeyMode::Caller => {
                if !valid_key(id) {
                    return Err(Error::InvalidConfig("key must be 1..=255 bytes of UTF-8"));
                }
                id
            }
        };
        let hash = self.hash(raw);
        if self.index_find(raw, hash).is_some() {
            return Err(Error::KeyExists);
        }
        let (slot, is_new) = self
            .table
            .alloc(Key::new(raw), last_activity, idle_timeout, absolute_timeout)
            .ok_or(Error::TableFull)?;
        if let Some(e) = self.table.slot_mut(slot) {
            e.created_at = created_at;
        }
        self.index.insert(hash, slot);
        if is_new {
            self.idle.add_slot();
            self.absolute.add_slot();
        }
        let entries = &self.table.entries;
        let last_of = |s: u32| entries.get(s as usize).map_or(f64::NEG_INFINITY, |e| e.last_activity);
        self.idle.insert_sorted(slot, idle_timeout, last_of);
        if absolute_timeout > 0.0 {
            let created_of = |s: u32| entries.get(s as usize).map_or(f64::NEG_INFINITY, |e| e.created_at);
            self.absolute.insert_sorted(slot, absolute_timeout, created_of);
        }
        self.handle_of(slot).ok_or(Error::TableFull)
    }
}
