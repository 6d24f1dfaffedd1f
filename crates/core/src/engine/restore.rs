//! Restoring: re-creating a session saved by an earlier process with its own id, timestamps
//! and timeouts, as persistence does on load. Nothing is drawn from the random pool.

use super::{valid_key, Engine};
use crate::config::KeyMode;
use crate::data::{OverCap, SideRecord};
use crate::error::Error;
use crate::handle::Handle;
use crate::ids::{self, MAX_ID_BYTES};
use crate::table::Key;

impl Engine {
    /// Re-creates an attached session with the given id (its text form: an encoded random id,
    /// or a caller key), creation time, last activity and timeouts, filed in the wheel by its
    /// deadline like a new session (O(1) amortized, in any order). A session already past its
    /// deadline is restored too: the next sweep detaches it, so the caller closes it as expired.
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
            KeyMode::Random => {
                ids::decode(self.config.id_encoding, id, self.config.id_bytes, &mut buf)
                    .ok_or(Error::InvalidConfig("not an id of this engine"))?
            }
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
        let slot = self
            .table
            .alloc(Key::new(raw), last_activity, idle_timeout, absolute_timeout)
            .ok_or(Error::TableFull)?;
        if let Some(e) = self.table.slot_mut(slot) {
            e.created_at = created_at;
        }
        self.index.insert(hash, slot);
        self.file_new(slot);
        self.handle_of(slot).ok_or(Error::TableFull)
    }

    /// Gives a just-restored session its user, roles and data in one step (one allocation of
    /// the exact size), as `set_user`, `set_roles` and `set_data` per entry in order would: an
    /// entry that would take the data over `max_data_bytes` is skipped. Replaces whatever the
    /// session held. False when `h` is stale. O(bytes).
    pub fn restore_side<'s, S: AsRef<str>>(
        &mut self,
        h: Handle,
        user: Option<&str>,
        roles: &[S],
        data: impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
    ) -> bool {
        let (record, _) =
            SideRecord::build(user, roles, data, self.config.max_data_bytes, OverCap::Skip);
        let stored = self.table.change_side(h, |side| *side = record).is_some();
        if stored && user.is_some() {
            self.reclass(h.slot());
        }
        stored
    }

    /// Loading ([`crate::persist::load`]): room for `sessions` more sessions in the id index,
    /// so that it does not grow while the load restores (the table grows by pages, copying
    /// nothing).
    pub(crate) fn reserve_loaded(&mut self, sessions: usize) {
        let sessions = sessions.min(crate::handle::MAX_SLOTS as usize);
        self.index.reserve(sessions);
    }

    /// Loading: [`Engine::restore_side`] with no data cap (a load replays later records over
    /// this one, then cuts what is over the cap once: [`Engine::cap_loaded_data`]). Returns
    /// whether the data is over the cap.
    pub(crate) fn load_side<'s>(
        &mut self,
        h: Handle,
        user: Option<&str>,
        roles: &[&str],
        data: impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
    ) -> bool {
        let (record, _) = SideRecord::build(user, roles, data, usize::MAX, OverCap::Skip);
        let over = record.data_bytes() > self.config.max_data_bytes;
        let stored = self.table.change_side(h, |side| *side = record).is_some();
        if stored && user.is_some() {
            self.reclass(h.slot());
        }
        over
    }

    /// Loading: [`Engine::load_side`] from the tail of a Session record (user, roles and data
    /// with distinct keys, checked by the reader): the session's record is that tail, copied
    /// once. Returns whether the data is over the cap.
    pub(crate) fn load_record(&mut self, h: Handle, tail: &[u8]) -> bool {
        let record = SideRecord::from_record(tail);
        let over = record.data_bytes() > self.config.max_data_bytes;
        let user = record.has_user();
        let stored = self.table.change_side(h, |side| *side = record).is_some();
        if stored && user {
            self.reclass(h.slot());
        }
        over
    }

    /// Loading: sets each entry as [`Engine::set_data`] would, with no data cap. Returns
    /// whether the data is over the cap.
    pub(crate) fn load_data<'s>(
        &mut self,
        h: Handle,
        entries: impl Iterator<Item = (&'s str, &'s str)>,
    ) -> bool {
        let max = self.config.max_data_bytes;
        self.table
            .change_side(h, |side| {
                for (key, value) in entries {
                    // No cap here, so only a string past its 4 GiB length field is refused,
                    // and no session file holds one.
                    let _ = side.set(key, value, usize::MAX);
                }
                side.data_bytes() > max
            })
            .unwrap_or(false)
    }

    /// Loading: cuts the data of every session over `max_data_bytes` as [`Engine::restore_side`]
    /// would have (entries in order, one that would go over the cap is dropped). O(slots).
    pub(crate) fn cap_loaded_data(&mut self) {
        let max = self.config.max_data_bytes;
        for slot in 0..self.table.entries.len() {
            let Some(h) = u32::try_from(slot).ok().and_then(|s| self.handle_of(s)) else {
                continue;
            };
            self.table.change_side(h, |side| {
                if side.data_bytes() > max {
                    let data: Vec<(&str, &str)> = side.entries().collect();
                    let (cut, _) = SideRecord::build(
                        side.user(),
                        &side.roles(),
                        data.into_iter(),
                        max,
                        OverCap::Skip,
                    );
                    *side = cut;
                }
            });
        }
    }

    /// Loading: a Rename record. The session keeps its slot and takes `new_id` (an attached
    /// session holding `new_id` is released first), and its last activity becomes
    /// `last_activity`, as `regenerate` and `rekey` leave a live session.
    ///
    /// # Errors
    /// `Err(InvalidConfig)` when `new_id` is not an id of this engine; nothing changes then.
    pub(crate) fn load_rename(
        &mut self,
        h: Handle,
        new_id: &[u8],
        last_activity: f64,
    ) -> Result<(), Error> {
        let mut buf = [0u8; MAX_ID_BYTES];
        let raw: &[u8] = match self.config.keys {
            KeyMode::Random => ids::decode(
                self.config.id_encoding,
                new_id,
                self.config.id_bytes,
                &mut buf,
            )
            .ok_or(Error::InvalidConfig("not an id of this engine"))?,
            KeyMode::Caller if valid_key(new_id) => new_id,
            KeyMode::Caller => {
                return Err(Error::InvalidConfig("key must be 1..=255 bytes of UTF-8"))
            }
        };
        let slot = h.slot();
        let hash = self.hash(raw);
        match self.index_find(raw, hash) {
            Some(same) if same == slot => {}
            found => {
                if let Some(other) = found.and_then(|s| self.handle_of(s)) {
                    self.release(other);
                }
                self.index_remove(slot);
                self.table.replace_key(slot, Key::new(raw));
                self.index.insert(hash, slot);
            }
        }
        // A Rename sets the last activity whatever it was (an earlier one re-files).
        self.renew(slot, last_activity);
        Ok(())
    }

    /// Loading: a Renew record. A later last activity replaces the session's (the wheel
    /// re-files lazily, as after any renewal); an earlier one is ignored.
    pub(crate) fn load_renew(&mut self, h: Handle, last_activity: f64) {
        if self
            .table
            .get(h)
            .is_some_and(|e| last_activity > e.last_activity)
        {
            self.renew(h.slot(), last_activity);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Config, Engine, Error, IdEncoding, State};

    #[test]
    fn a_restored_random_id_is_found_by_its_text_and_expires_from_its_saved_times() {
        let config = Config {
            id_encoding: IdEncoding::Hex,
            resolution: 1.0,
            ..Config::default()
        };
        let mut first = Engine::new(config.clone()).unwrap();
        let h = first.create(0.0, 100.0, 1000.0).unwrap();
        let id = first.id(h).unwrap();
        let mut second = Engine::new(config).unwrap();
        let r = second
            .restore(id.as_bytes(), 5.0, 50.0, 100.0, 1000.0)
            .unwrap();
        assert_eq!(second.lookup(id.as_bytes(), 149.0, false), Some(r));
        assert_eq!(second.expires_at(r), Some(150.0));
        assert_eq!(second.sweep_release(149.0, 10), 0);
        assert_eq!(second.sweep_release(150.0, 10), 1);
        assert_eq!(second.state(r), State::Stale);
    }

    #[test]
    fn restore_refuses_malformed_and_taken_ids() {
        let mut e = Engine::new(Config::default()).unwrap();
        assert!(matches!(
            e.restore(b"not an id", 0.0, 0.0, 0.0, 0.0),
            Err(Error::InvalidConfig(_))
        ));
        let h = e.create(0.0, 0.0, 0.0).unwrap();
        let id = e.id(h).unwrap();
        assert!(matches!(
            e.restore(id.as_bytes(), 0.0, 0.0, 0.0, 0.0),
            Err(Error::KeyExists)
        ));
        // An expired session is restored too: the next sweep detaches it.
        let mut other = Engine::new(Config::default()).unwrap();
        let r = other.restore(id.as_bytes(), 0.0, 0.0, 10.0, 0.0).unwrap();
        assert!(!other.is_alive(r, 10.0));
        let mut swept = Vec::new();
        other.sweep(10.0, 10, |x| swept.push(x));
        assert_eq!(swept, vec![r]);
    }
}
