//! Deadlines: filing sessions in the deadline wheel, renewing, sweeping what is due, the next
//! deadline, the eviction candidate and the per-session timeout setters. Every operation is
//! O(1) amortized whatever the number of distinct timeouts (`crate::wheel`).

use super::Engine;
use crate::handle::Handle;
use crate::table::SlotState;
use crate::wheel::{Class, SweepCursor};

/// Re-filings one sweep call may do besides its expirations, so that a call never walks a
/// whole large bucket of renewed sessions: at least this many, or four per expiration asked.
const MIN_SWEEP_WORK: usize = 1024;

fn sweep_budget(limit: usize) -> usize {
    limit.saturating_mul(4).max(MIN_SWEEP_WORK)
}

/// Sessions a sweep takes out of the wheel ahead of the one it closes: enough prefetches in
/// flight to cover a miss (~150 ns) with the few tens of ns each close takes.
const SWEEP_AHEAD: usize = 4;

/// The sessions a sweep has taken out of the wheel and not yet closed, oldest first.
#[derive(Default)]
struct Ahead {
    slots: [u32; SWEEP_AHEAD],
    first: usize,
    len: usize,
}

impl Ahead {
    fn is_full(&self) -> bool {
        self.len == SWEEP_AHEAD
    }

    fn push(&mut self, slot: u32) {
        if let Some(place) = self.slots.get_mut((self.first + self.len) % SWEEP_AHEAD) {
            *place = slot;
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots.get(self.first).copied();
        self.first = (self.first + 1) % SWEEP_AHEAD;
        self.len -= 1;
        slot
    }
}

/// A sweep's engine and the sessions it holds ahead. Those are attached but out of the wheel:
/// should a close unwind (a panicking `emit`; the binding catches panics and keeps the engine),
/// dropping this files them again, where the next sweep finds them, rather than leaving them
/// sessions that never expire.
struct Sweeping<'a> {
    engine: &'a mut Engine,
    ahead: Ahead,
}

impl Drop for Sweeping<'_> {
    fn drop(&mut self) {
        while let Some(slot) = self.ahead.pop() {
            self.engine.refile(slot);
        }
    }
}

impl Engine {
    /// Files a just allocated, attached session (a new slot, or one on a page made again,
    /// first gets its link). New sessions have no user yet: they start in the anonymous class.
    pub(super) fn file_new(&mut self, slot: u32) {
        self.wheel.add_slot(slot);
        if let Some(e) = self.table.slot(slot) {
            self.wheel
                .file(slot, Class::Anonymous, e.expires_at(), e.last_activity);
        }
    }

    /// Takes a session out of the wheel (it is being detached); a no-op when a sweep has
    /// already taken it out.
    pub(super) fn unfile(&mut self, slot: u32) {
        self.wheel.unlink(slot);
    }

    /// Files an attached session again by its current deadline and class. O(1).
    fn refile(&mut self, slot: u32) {
        if let Some(e) = self.table.slot(slot) {
            self.wheel
                .refile(slot, Class::of(e), e.expires_at(), e.last_activity);
        }
    }

    /// A use: the session's last activity becomes `now`. Only that is written: the deadline
    /// moves later and the wheel re-files the session when its old bucket comes due. A clock
    /// that went back moves the deadline earlier: then it is re-filed at once.
    pub(super) fn renew(&mut self, slot: u32, now: f64) {
        let tick_end = self.wheel.current_tick_end();
        let Some(e) = self.table.slot_mut(slot) else {
            return;
        };
        let before = e.expires_at();
        let earlier = now < e.last_activity;
        e.last_activity = now;
        // A deadline that moves later but stays inside the cursor's tick (an idle timeout
        // below `resolution`) is filed again at once, so a sorted current bucket stays in order
        // of true deadlines (wheel.rs); any other renewal is re-filed lazily.
        let within_tick = before < tick_end && {
            let after = e.expires_at();
            after != before && after < tick_end
        };
        if earlier || within_tick {
            self.refile(slot);
        }
    }

    /// Re-files an attached session whose user was set or cleared into its class. O(1).
    pub(super) fn reclass(&mut self, slot: u32) {
        let Some(e) = self.table.slot(slot) else {
            return;
        };
        if e.state == SlotState::Attached && self.wheel.class_of(slot) != Some(Class::of(e)) {
            self.refile(slot);
        }
    }

    /// Detaches up to `limit` sessions expired at `now`, passing each handle to `emit`.
    /// Returns how many. Fewer than `limit` means nothing more is due, unless
    /// [`Engine::next_deadline`] is still `<= now`: the call stopped after its re-filing budget
    /// (`max(1024, 4 * limit)` sessions whose deadline had moved), and another call continues.
    ///
    /// Order: wheel buckets by their lower bound (the anonymous class first on ties), each
    /// in filing order. Cost: O(1) amortized per expired or re-filed session.
    pub fn sweep(&mut self, now: f64, limit: usize, mut emit: impl FnMut(Handle)) -> usize {
        self.sweep_each(now, limit, |engine, h| {
            engine.detach_slot(h.slot());
            emit(h);
        })
    }

    /// Like [`Engine::sweep`] but also releases each session, for when nobody needs to see
    /// them. Returns how many were released.
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { resolution: 10.0, ..Config::default() }).unwrap();
    /// let a = e.create(0.0, 25.0, 0.0).unwrap();
    /// let b = e.create(0.0, 0.0, 21.0).unwrap();
    /// assert_eq!(e.sweep_release(20.0, 10), 0); // never early
    /// assert_eq!(e.sweep_release(21.0, 10), 1);
    /// assert_eq!((e.state(a), e.state(b)), (State::Attached, State::Stale));
    /// ```
    pub fn sweep_release(&mut self, now: f64, limit: usize) -> usize {
        self.sweep_each(now, limit, |engine, h| {
            engine.release(h);
        })
    }

    /// Takes up to `limit` sessions due at `now` out of the wheel, in sweep order, and passes
    /// each (lag recorded) to `close`, which detaches it. Returns how many.
    ///
    /// Each session leaves the index in `close`, and at 10^6 sessions its bucket is a cache miss
    /// that was half a mass expiry's time (`Buckets::remove`, 49% of a sweep's samples). So the
    /// wheel is read `SWEEP_AHEAD` sessions ahead and their buckets prefetched while earlier ones
    /// close (`crate::prefetch`); the sessions, their order and the wheel's work are as before.
    ///
    /// While `close` runs, up to `SWEEP_AHEAD - 1` other due sessions are attached but in no
    /// wheel bucket: `close` must touch only the session it is given (no eviction, no release
    /// of another slot, no read of the next deadline). None are held when this returns.
    fn sweep_each(
        &mut self,
        now: f64,
        limit: usize,
        mut close: impl FnMut(&mut Engine, Handle),
    ) -> usize {
        let budget = sweep_budget(limit);
        let mut cursor = SweepCursor::default();
        let mut sweeping = Sweeping {
            engine: self,
            ahead: Ahead::default(),
        };
        let mut taken = 0;
        let mut wheel_done = false;
        let mut n = 0;
        loop {
            let engine = &mut *sweeping.engine;
            while !wheel_done && taken < limit && !sweeping.ahead.is_full() {
                match engine
                    .wheel
                    .pop_due(&engine.table.entries, now, &mut cursor, budget)
                {
                    Some(slot) => {
                        engine.prefetch_index_of(slot);
                        sweeping.ahead.push(slot);
                        taken += 1;
                    }
                    None => wheel_done = true,
                }
            }
            let Some(slot) = sweeping.ahead.pop() else {
                return n;
            };
            let Some(h) = engine.handle_of(slot) else {
                debug_assert!(false, "swept slot {slot} has no entry");
                continue;
            };
            engine.record_lag(slot, now);
            close(engine, h);
            n += 1;
        }
    }

    /// A lower bound of the earliest deadline among attached sessions, `f64::INFINITY` when
    /// none has one: the start of the earliest non-empty wheel bucket, exact once a sweep has
    /// walked the current one. Never later than the true earliest deadline. O(1).
    pub fn next_deadline(&self) -> f64 {
        self.wheel.next_deadline()
    }

    /// The session to evict: the earliest deadline among sessions without a user (to within
    /// one wheel tick; the current tick also holds every deadline before it), and only when
    /// none is left, among sessions with one; sessions without a deadline come last in their
    /// class, in filing order. Re-files what moved on the way; amortized O(1).
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config::default()).unwrap();
    /// let alice = e.create(0.0, 60_000.0, 0.0).unwrap();
    /// assert!(e.set_user(alice, Some("alice")));
    /// let anonymous = e.create(5_000.0, 60_000.0, 0.0).unwrap();
    /// assert_eq!(e.eviction_candidate(), Some(anonymous));
    /// ```
    pub fn eviction_candidate(&mut self) -> Option<Handle> {
        let entries = &self.table.entries;
        let slot = self
            .wheel
            .candidate(Class::Anonymous, entries)
            .or_else(|| self.wheel.candidate(Class::User, entries))?;
        self.handle_of(slot)
    }

    /// Sets the idle timeout; an attached session is re-filed by its new deadline. False when
    /// stale. O(1).
    pub fn set_idle_timeout(&mut self, h: Handle, t: f64) -> bool {
        let Some(e) = self.table.get_mut(h) else {
            return false;
        };
        let changed = e.idle_timeout != t;
        e.idle_timeout = t;
        if changed && e.state == SlotState::Attached {
            self.refile(h.slot());
        }
        true
    }

    /// Sets the absolute timeout (0 = none); an attached session is re-filed by its new
    /// deadline. False when stale. O(1).
    pub fn set_absolute_timeout(&mut self, h: Handle, t: f64) -> bool {
        let Some(e) = self.table.get_mut(h) else {
            return false;
        };
        let changed = e.absolute_timeout != t;
        e.absolute_timeout = t;
        if changed && e.state == SlotState::Attached {
            self.refile(h.slot());
        }
        true
    }
}
