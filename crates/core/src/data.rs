//! The per-session side record: string data in insertion order, user and roles.
//!
//! Kept out of the slot entry (behind `Option<Box<_>>`) so that sessions that never store
//! anything cost nothing extra and the entries stay small and cache-dense.

/// Data, user and roles of one session, allocated on first write.
#[derive(Debug, Default)]
pub(crate) struct SideRecord {
    /// Insertion order is the iteration order; sessions hold few keys, so a linear scan beats
    /// a map in both memory and time.
    data: Vec<(Box<str>, Box<str>)>,
    data_bytes: usize,
    user: Option<Box<str>>,
    roles: Vec<Box<str>>,
}

/// Bytes that a new entry would bring, the old one it would replace, and where it is.
pub(crate) struct Pending {
    position: Option<usize>,
    total: usize,
}

impl SideRecord {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// Where `key` would go and the data bytes the record would then hold.
    pub(crate) fn plan(record: Option<&SideRecord>, key: &str, value: &str) -> Pending {
        let new_bytes = key.len().saturating_add(value.len());
        let Some(record) = record else {
            return Pending {
                position: None,
                total: new_bytes,
            };
        };
        let position = record.data.iter().position(|(k, _)| &**k == key);
        let old = position
            .and_then(|i| record.data.get(i))
            .map_or(0, |(k, v)| k.len() + v.len());
        Pending {
            position,
            total: (record.data_bytes - old).saturating_add(new_bytes),
        }
    }

    pub(crate) fn total(pending: &Pending) -> usize {
        pending.total
    }

    /// Applies a plan made by [`SideRecord::plan`] on this same record.
    pub(crate) fn apply(&mut self, pending: Pending, key: &str, value: &str) {
        match pending.position.and_then(|i| self.data.get_mut(i)) {
            Some(entry) => entry.1 = value.into(),
            None => self.data.push((key.into(), value.into())),
        }
        self.data_bytes = pending.total;
    }

    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let Some(i) = self.data.iter().position(|(k, _)| &**k == key) else {
            return false;
        };
        let (k, v) = self.data.remove(i);
        self.data_bytes -= k.len() + v.len();
        true
    }

    pub(crate) fn keys(&self) -> Vec<&str> {
        self.data.iter().map(|(k, _)| &**k).collect()
    }

    pub(crate) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    pub(crate) fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub(crate) fn set_user(&mut self, user: Option<&str>) {
        self.user = user.map(Into::into);
    }

    pub(crate) fn roles(&self) -> Vec<&str> {
        self.roles.iter().map(|r| &**r).collect()
    }

    pub(crate) fn set_roles<S: AsRef<str>>(&mut self, roles: &[S]) {
        self.roles = roles.iter().map(|r| r.as_ref().into()).collect();
    }

    /// A record built in one go, as restoring a saved session does: each data entry in order
    /// as [`SideRecord::plan`] and [`SideRecord::apply`] would set it, skipping an entry that
    /// would take the data over `max` bytes (a cap lowered since it was saved).
    pub(crate) fn restored<'s, S: AsRef<str>>(
        user: Option<&str>,
        roles: &[S],
        data: impl ExactSizeIterator<Item = (&'s str, &'s str)>,
        max: usize,
    ) -> SideRecord {
        let mut record = SideRecord {
            data: Vec::with_capacity(data.len()),
            data_bytes: 0,
            user: user.map(Into::into),
            roles: roles.iter().map(|r| r.as_ref().into()).collect(),
        };
        for (key, value) in data {
            let pending = SideRecord::plan(Some(&record), key, value);
            if pending.total <= max {
                record.apply(pending, key, value);
            }
        }
        record
    }

    /// A record holding `data` as [`SideRecord::plan`] and [`SideRecord::apply`] per entry in
    /// order would, stopping at the first entry that would take it over `max` bytes (as a run
    /// of `set_data` calls that stops at its first failure). Returns the record and whether
    /// every entry was stored.
    pub(crate) fn with_data<'s>(
        data: impl ExactSizeIterator<Item = (&'s str, &'s str)>,
        max: usize,
    ) -> (SideRecord, bool) {
        let mut record = SideRecord {
            data: Vec::with_capacity(data.len()),
            ..SideRecord::default()
        };
        for (key, value) in data {
            let pending = SideRecord::plan(Some(&record), key, value);
            if pending.total > max {
                return (record, false);
            }
            record.apply(pending, key, value);
        }
        (record, true)
    }

    /// True when the record holds nothing, so it can be freed.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty() && self.user.is_none() && self.roles.is_empty()
    }

    /// Approximate heap bytes, strings counted by length.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<SideRecord>()
            + self.data.capacity() * std::mem::size_of::<(Box<str>, Box<str>)>()
            + self.data_bytes
            + self.user.as_ref().map_or(0, |u| u.len())
            + self.roles.capacity() * std::mem::size_of::<Box<str>>()
            + self.roles.iter().map(|r| r.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(r: &mut SideRecord, k: &str, v: &str) {
        let p = SideRecord::plan(Some(r), k, v);
        r.apply(p, k, v);
    }

    #[test]
    fn order_and_bytes() {
        let mut r = SideRecord::default();
        set(&mut r, "a", "1");
        set(&mut r, "b", "22");
        set(&mut r, "a", "333");
        assert_eq!(r.keys(), ["a", "b"]);
        assert_eq!(r.data_bytes(), 4 + 3);
        assert!(r.delete("a"));
        assert!(!r.delete("a"));
        set(&mut r, "a", "");
        assert_eq!(r.keys(), ["b", "a"]);
        assert_eq!(r.get("a"), Some(""));
        assert_eq!(r.data_bytes(), 3 + 1);
        let p = SideRecord::plan(Some(&r), "b", "é");
        assert_eq!(SideRecord::total(&p), 1 + 2 + 1);
        assert!(!r.is_empty());
        r.delete("a");
        r.delete("b");
        assert!(r.is_empty());
        r.set_roles(&["x", "y"]);
        assert_eq!(r.roles(), ["x", "y"]);
        r.set_user(Some("u"));
        assert_eq!(r.user(), Some("u"));
    }
}
