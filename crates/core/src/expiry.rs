//! Expiry lists: one doubly linked list per distinct timeout value, kept in a registry in
//! order of list creation.
//!
//! With one list per timeout, appending a renewed session at the tail keeps every list
//! sorted by deadline, so the earliest deadline overall is always among the list heads:
//! renew is O(1) and finding the next expired session is O(number of lists).

use std::collections::HashMap;

use foldhash::fast::RandomState;

/// "No slot" / "no list".
pub(crate) const NIL: u32 = u32::MAX;

/// A slot's place in its list; `list == NIL` when it is not filed.
#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
    list: u32,
}

const UNFILED: Link = Link {
    prev: NIL,
    next: NIL,
    list: NIL,
};

#[derive(Clone, Copy, Debug)]
struct List {
    timeout: f64,
    head: u32,
    tail: u32,
}

/// All lists of one kind (idle or absolute), with the links of every slot in a parallel
/// array indexed by slot.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    links: Vec<Link>,
    /// List storage; ids stay stable while lists come and go (reused via `spare`).
    lists: Vec<List>,
    spare: Vec<u32>,
    /// Live list ids in order of creation: the order ties are broken in.
    order: Vec<u32>,
    by_timeout: HashMap<u64, u32, RandomState>,
}

/// Lists are keyed by value; -0 and +0 are the same timeout.
fn timeout_key(t: f64) -> u64 {
    (t + 0.0).to_bits()
}

impl Registry {
    /// Gives a newly created slot its (unfiled) link.
    pub(crate) fn add_slot(&mut self) {
        self.links.push(UNFILED);
    }

    fn link(&self, slot: u32) -> Link {
        self.links.get(slot as usize).copied().unwrap_or(UNFILED)
    }

    fn link_mut(&mut self, slot: u32) -> Option<&mut Link> {
        self.links.get_mut(slot as usize)
    }

    fn set_prev(&mut self, slot: u32, prev: u32) {
        if let Some(l) = self.link_mut(slot) {
            l.prev = prev;
        }
    }

    fn set_next(&mut self, slot: u32, next: u32) {
        if let Some(l) = self.link_mut(slot) {
            l.next = next;
        }
    }

    fn list_mut(&mut self, id: u32) -> Option<&mut List> {
        self.lists.get_mut(id as usize)
    }

    /// The list for `timeout`, created at the end of the registry when missing.
    fn list_for(&mut self, timeout: f64) -> u32 {
        let key = timeout_key(timeout);
        if let Some(&id) = self.by_timeout.get(&key) {
            return id;
        }
        let list = List {
            timeout,
            head: NIL,
            tail: NIL,
        };
        let id = match self.spare.pop() {
            Some(id) => {
                if let Some(l) = self.list_mut(id) {
                    *l = list;
                }
                id
            }
            None => {
                self.lists.push(list);
                u32::try_from(self.lists.len() - 1).unwrap_or(NIL)
            }
        };
        self.order.push(id);
        self.by_timeout.insert(key, id);
        id
    }

    fn remove_list(&mut self, id: u32) {
        let Some(list) = self.lists.get(id as usize).copied() else {
            return;
        };
        self.by_timeout.remove(&timeout_key(list.timeout));
        if let Some(pos) = self.order.iter().position(|&x| x == id) {
            self.order.remove(pos);
        }
        self.spare.push(id);
    }

    /// Puts an unfiled `slot` into list `id` right after `after` (at the head when NIL).
    fn insert_after(&mut self, slot: u32, id: u32, after: u32) {
        let Some(list) = self.lists.get(id as usize).copied() else {
            return;
        };
        let next = if after == NIL {
            list.head
        } else {
            self.link(after).next
        };
        if let Some(l) = self.link_mut(slot) {
            *l = Link {
                prev: after,
                next,
                list: id,
            };
        }
        if after == NIL {
            if let Some(l) = self.list_mut(id) {
                l.head = slot;
            }
        } else {
            self.set_next(after, slot);
        }
        if next == NIL {
            if let Some(l) = self.list_mut(id) {
                l.tail = slot;
            }
        } else {
            self.set_prev(next, slot);
        }
    }

    /// Takes `slot` out of its list, leaving the list in place even if now empty.
    /// Returns the list it was in.
    fn splice_out(&mut self, slot: u32) -> Option<u32> {
        let link = self.link(slot);
        if link.list == NIL {
            return None;
        }
        if link.prev == NIL {
            if let Some(l) = self.list_mut(link.list) {
                l.head = link.next;
            }
        } else {
            self.set_next(link.prev, link.next);
        }
        if link.next == NIL {
            if let Some(l) = self.list_mut(link.list) {
                l.tail = link.prev;
            }
        } else {
            self.set_prev(link.next, link.prev);
        }
        if let Some(l) = self.link_mut(slot) {
            *l = UNFILED;
        }
        Some(link.list)
    }

    /// Appends `slot` at the tail of the list for `timeout`.
    pub(crate) fn push_back(&mut self, slot: u32, timeout: f64) {
        let id = self.list_for(timeout);
        let tail = self.lists.get(id as usize).map_or(NIL, |l| l.tail);
        self.insert_after(slot, id, tail);
    }

    /// Files `slot` into the list for `timeout` at its place by `key_of`: after the last
    /// entry (walking from the tail) whose key is <= its own, else at the head.
    pub(crate) fn insert_sorted(&mut self, slot: u32, timeout: f64, key_of: impl Fn(u32) -> f64) {
        let id = self.list_for(timeout);
        let own = key_of(slot);
        let mut cur = self.lists.get(id as usize).map_or(NIL, |l| l.tail);
        while cur != NIL && key_of(cur) > own {
            cur = self.link(cur).prev;
        }
        self.insert_after(slot, id, cur);
    }

    /// Unfiles `slot` (a no-op when unfiled), removing its list if that empties it.
    pub(crate) fn unlink(&mut self, slot: u32) {
        if let Some(id) = self.splice_out(slot) {
            if self.lists.get(id as usize).is_some_and(|l| l.head == NIL) {
                self.remove_list(id);
            }
        }
    }

    /// Moves a filed `slot` to the tail of its own list; the list itself never moves.
    pub(crate) fn move_to_tail(&mut self, slot: u32) {
        let link = self.link(slot);
        if link.list == NIL || link.next == NIL {
            return;
        }
        self.splice_out(slot);
        let tail = self.lists.get(link.list as usize).map_or(NIL, |l| l.tail);
        self.insert_after(slot, link.list, tail);
    }

    /// `(timeout, head slot)` of every list in registry order.
    pub(crate) fn heads(&self) -> impl Iterator<Item = (f64, u32)> + '_ {
        self.order
            .iter()
            .filter_map(|&id| self.lists.get(id as usize))
            .filter(|l| l.head != NIL)
            .map(|l| (l.timeout, l.head))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.links.capacity() * std::mem::size_of::<Link>()
            + self.lists.capacity() * std::mem::size_of::<List>()
            + (self.spare.capacity() + self.order.capacity()) * std::mem::size_of::<u32>()
            + self.by_timeout.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
    }

    #[cfg(test)]
    fn walk(&self, timeout: f64) -> Vec<u32> {
        let mut out = Vec::new();
        let Some(&id) = self.by_timeout.get(&timeout_key(timeout)) else {
            return out;
        };
        let mut cur = self.lists[id as usize].head;
        while cur != NIL {
            out.push(cur);
            cur = self.link(cur).next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_and_go_in_order() {
        let mut r = Registry::default();
        for _ in 0..5 {
            r.add_slot();
        }
        r.push_back(0, 10.0);
        r.push_back(1, 20.0);
        r.push_back(2, 10.0);
        r.push_back(3, 30.0);
        assert_eq!(
            r.heads().collect::<Vec<_>>(),
            [(10.0, 0), (20.0, 1), (30.0, 3)]
        );
        r.unlink(1);
        r.push_back(1, 20.0);
        assert_eq!(
            r.heads().collect::<Vec<_>>(),
            [(10.0, 0), (30.0, 3), (20.0, 1)]
        );
        r.move_to_tail(0);
        assert_eq!(r.walk(10.0), [2, 0]);
        r.move_to_tail(3); // sole entry: the list keeps its place
        assert_eq!(
            r.heads().map(|h| h.0).collect::<Vec<_>>(),
            [10.0, 30.0, 20.0]
        );
        r.unlink(0);
        r.unlink(2);
        r.unlink(2);
        assert_eq!(r.heads().map(|h| h.0).collect::<Vec<_>>(), [30.0, 20.0]);
    }

    #[test]
    fn sorted_insert() {
        let mut r = Registry::default();
        let keys = [5.0, 1.0, 3.0, 3.0, 9.0, 0.0];
        for _ in keys {
            r.add_slot();
        }
        for s in [0u32, 2, 4] {
            r.push_back(s, 7.0);
        }
        let key = |s: u32| keys[s as usize];
        r.insert_sorted(3, 7.0, key);
        r.insert_sorted(1, 7.0, key);
        r.insert_sorted(5, 7.0, key);
        // 3 and 2 tie: the newcomer goes after the existing one.
        assert_eq!(r.walk(7.0), [5, 1, 0, 2, 3, 4]);
    }
}
