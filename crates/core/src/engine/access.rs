//! Reads and per-session records: state, id, timestamps, data, user, roles, scanning and
//! memory accounting.

use super::{Engine, State};
use crate::config::KeyMode;
use crate::data::{OverCap, SideRecord, TooLarge};
use crate::error::SetDataError;
use crate::handle::Handle;
use crate::ids;
use crate::table::{Entry, SlotState};

impl Engine {
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

    // ---- data --------------------------------------------------------------------------

    fn side(&self, h: Handle) -> Option<&SideRecord> {
        self.table.get(h).map(|e| &e.side)
    }

    /// A data value; `None` when absent or stale. O(keys).
    pub fn get_data(&self, h: Handle, key: &str) -> Option<&str> {
        self.side(h)?.get(key)
    }

    /// Stores `value` under `key` (a replaced key keeps its place). `Err(TooLarge)` when the
    /// session's data bytes would exceed `max_data_bytes`; nothing changes then. O(bytes of the
    /// session's user, roles and data): the session's one block is rewritten in place.
    pub fn set_data(&mut self, h: Handle, key: &str, value: &str) -> Result<(), SetDataError> {
        let max = self.config.max_data_bytes;
        self.table
            .change_side(h, |side| {
                side.set(key, value, max)
                    .map_err(|TooLarge| SetDataError::TooLarge)
            })
            .unwrap_or(Err(SetDataError::Stale))
    }

    /// Stores entries in order as [`Engine::set_data`] per entry would, stopping at the first
    /// that would take the session over `max_data_bytes` (`Err(TooLarge)`; the entries before it
    /// stay). A session holding no data yet (a create with a caller key, then its data) gets its
    /// record rebuilt once, user and roles kept, instead of resized per entry. O(bytes).
    ///
    /// # Errors
    /// `Err(TooLarge)` as said, `Err(Stale)` when `h` is stale.
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { max_data_bytes: 4, ..Config::default() }).unwrap();
    /// let h = e.create(0.0, 0.0, 0.0).unwrap();
    /// let entries = [("a", "1"), ("b", "22"), ("c", "")];
    /// assert_eq!(e.set_data_entries(h, entries.into_iter()), Err(SetDataError::TooLarge));
    /// assert_eq!(e.data_keys(h), Some(vec!["a"]));
    /// ```
    pub fn set_data_entries<'s>(
        &mut self,
        h: Handle,
        entries: impl ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
    ) -> Result<(), SetDataError> {
        let max = self.config.max_data_bytes;
        self.table
            .change_side(h, |side| {
                if side.has_no_data() {
                    let roles = side.roles();
                    let (built, all) =
                        SideRecord::build(side.user(), &roles, entries, max, OverCap::Stop);
                    *side = built;
                    return if all {
                        Ok(())
                    } else {
                        Err(SetDataError::TooLarge)
                    };
                }
                for (key, value) in entries {
                    side.set(key, value, max)
                        .map_err(|TooLarge| SetDataError::TooLarge)?;
                }
                Ok(())
            })
            .unwrap_or(Err(SetDataError::Stale))
    }

    /// Removes a data key; true when it was present. O(bytes of the session's record).
    pub fn delete_data(&mut self, h: Handle, key: &str) -> bool {
        self.table
            .change_side(h, |side| side.delete(key))
            .unwrap_or(false)
    }

    /// Data keys in insertion order; `Some(vec![])` for a live handle without data.
    pub fn data_keys(&self, h: Handle) -> Option<Vec<&str>> {
        self.side(h).map(SideRecord::keys)
    }

    /// UTF-8 bytes of all data keys and values. O(roles).
    pub fn data_bytes(&self, h: Handle) -> Option<usize> {
        self.side(h).map(SideRecord::data_bytes)
    }

    /// The user name; `None` when unset or stale.
    pub fn user(&self, h: Handle) -> Option<&str> {
        self.side(h)?.user()
    }

    /// Sets or (with `None`) clears the user name. False when stale.
    ///
    /// Setting the first user or clearing it moves an attached session to the other eviction
    /// class (sessions with a user are evicted last): O(1), plus O(bytes of the session's
    /// record) to rewrite it.
    pub fn set_user(&mut self, h: Handle, user: Option<&str>) -> bool {
        let changed = self
            .table
            .change_side(h, |side| side.set_user(user))
            .is_some();
        if changed {
            self.reclass(h.slot());
        }
        changed
    }

    /// Roles in the order given; `Some(vec![])` for a live handle without roles.
    pub fn roles(&self, h: Handle) -> Option<Vec<&str>> {
        self.side(h).map(SideRecord::roles)
    }

    /// Replaces the roles (accepts `&[&str]` or `&[String]`). False when stale. O(bytes of the
    /// session's record).
    pub fn set_roles<S: AsRef<str>>(&mut self, h: Handle, roles: &[S]) -> bool {
        self.table
            .change_side(h, |side| side.set_roles(roles))
            .is_some()
    }

    /// Appends the session's user, roles and data as the tail of a Session record of the session
    /// file (docs/persistence-format.md), which is how it holds them: one copy. False when stale.
    pub(crate) fn write_side_record(&self, h: Handle, out: &mut Vec<u8>) -> bool {
        self.side(h).map(|side| side.write_record(out)).is_some()
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
        for (slot, e) in self.table.entries.iter_from(from_slot as usize) {
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
            + self.index.heap_bytes()
            + self.wheel.heap_bytes()
            + self.pool.heap_bytes()
    }
}
