//! Deadlines: filing sessions in the expiry structure, renewing, sweeping what is due, the
//! next deadline, eviction order and the per-session timeout setters.

use super::Engine;
use crate::handle::Handle;
use crate::table::SlotState;

impl Engine {
    /// Files a just allocated, attached session (a new slot first gets its links).
    pub(super) fn file_new(&mut self, slot: u32, is_new_slot: bool, idle: f64, abs: f64) {
        if is_new_slot {
            self.idle.add_slot();
            self.absolute.add_slot();
        }
        self.idle.push_back(slot, idle);
        if abs > 0.0 {
            self.absolute.push_back(slot, abs);
        }
    }

    /// Takes a session out of the expiry structure (it is being detached).
    pub(super) fn unfile(&mut self, slot: u32) {
        self.idle.unlink(slot);
        self.absolute.unlink(slot);
    }

    /// A use: the session's last activity becomes `now`.
    pub(super) fn renew(&mut self, slot: u32, now: f64) {
        if let Some(e) = self.table.slot_mut(slot) {
            e.last_activity = now;
            self.idle.move_to_tail(slot);
        }
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
}
