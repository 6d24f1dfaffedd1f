//! The deadline wheel: a hierarchical timer wheel at `resolution` granularity with lazy
//! re-filing, one per eviction class (sessions without a user, sessions with one).
//!
//! A session is filed by its deadline `d` (the earlier of its idle and absolute deadlines) in
//! the bucket of its tick `floor(d / resolution)`. Level `L` has 64 buckets of `64^L` ticks;
//! a bucket of level `L` holds the ticks of one `64^L` block inside the cursor's `64^(L+1)`
//! block, so a bucket's lists are unordered sets of sessions due in its block (kept in filing
//! order, which both engines follow). Deadlines beyond level `LEVELS - 1` go to an overflow
//! bucket, sessions without a deadline to a `never` list.
//!
//! A renew only writes the session's last activity: its deadline moves later and its filing
//! goes stale. When a bucket comes due, each session in it is checked against its true
//! deadline: due sessions expire, the others are re-filed (cascaded) relative to the cursor.
//! A deadline that moves earlier (a setter, a clock that went back) is re-filed at once, so
//! a session is never filed after its true deadline: expiry is never late by more than the
//! tick, and never early, since every removal re-checks the deadline.
//!
//! The cursor's own bucket on level 0 (the *current* bucket) also takes every deadline at or
//! before the cursor; `cur_floor` is a lower bound of their deadlines, exact after a full
//! walk, so `next_deadline` is exact once the current tick has been swept.
//!
//! A walk of the current bucket that leaves sessions in it (due later in this tick) sorts
//! them by deadline, once: the walks that follow in the same tick stop at the first session
//! not yet due, so K sessions due within one tick cost O(K log K) per tick rather than O(K)
//! per sweep call (a create at `maxSessions` sweeps each time). Filings in order keep the
//! bucket sorted; one out of order unsorts it until the next full walk. A renewal is re-filed
//! lazily unless its deadline stays inside the cursor's tick: then the engine files it again at
//! once, so the sorted order is always that of the true deadlines and expiry stays exact.

use crate::paged::{page_of, Paged};
use crate::table::{Entries, Entry};

/// "No slot".
pub(crate) const NIL: u32 = u32::MAX;
const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
/// Levels of 64 buckets: 64^6 ticks (over two years at 1 ms) before the overflow.
const LEVELS: usize = 6;
const OVERFLOW: usize = LEVELS * SLOTS;
const NEVER: usize = OVERFLOW + 1;
const BUCKETS: usize = NEVER + 1;
/// A link's `bucket` when the slot is not filed.
const UNFILED: u16 = u16::MAX;

/// Eviction class: every session with no user is evicted before any session with one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    Anonymous = 0,
    User = 1,
}

impl Class {
    pub(crate) fn of(entry: &Entry) -> Class {
        if entry.side.has_user() {
            Class::User
        } else {
            Class::Anonymous
        }
    }
}

/// A slot's place: its neighbours and `class * BUCKETS + bucket`.
#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
    bucket: u16,
}

const UNFILED_LINK: Link = Link {
    prev: NIL,
    next: NIL,
    bucket: UNFILED,
};

/// The buckets of one class and their cursor.
#[derive(Debug)]
struct Ring {
    /// The tick every bucket is relative to; only moves forward, to the start of the earliest
    /// non-empty bucket.
    cur: i64,
    /// A lower bound of the deadlines in the current bucket while it is not empty.
    cur_floor: f64,
    /// The current bucket is in order of deadline (as of each session's filing or sort).
    sorted: bool,
    /// While `sorted`: the deadline of its last session, which a filing in order must reach.
    sorted_max: f64,
    head: [u32; BUCKETS],
    tail: [u32; BUCKETS],
    /// Bit `i` of word `L`: bucket `i` of level `L` is not empty.
    occupied: [u64; LEVELS],
}

impl Default for Ring {
    fn default() -> Ring {
        Ring {
            cur: 0,
            cur_floor: f64::INFINITY,
            sorted: false,
            sorted_max: f64::NEG_INFINITY,
            head: [NIL; BUCKETS],
            tail: [NIL; BUCKETS],
            occupied: [0; LEVELS],
        }
    }
}

/// What the earliest non-empty bucket of a ring is, in the order buckets come due.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Next {
    /// The cursor's own bucket on a level above 0: partly cascaded; finish it first.
    Pending(usize),
    /// The current bucket.
    Current(usize),
    /// A later bucket starting at the tick; the cursor jumps there first.
    Later(usize, i64),
    /// The overflow, which starts at the tick (the next `64^LEVELS` block).
    Overflow(i64),
}

fn own_index(cur: i64, level: usize) -> usize {
    ((cur >> (BITS as usize * level)) & (SLOTS as i64 - 1)) as usize
}

/// Bits strictly above `index`.
fn above(index: usize) -> u64 {
    if index >= SLOTS - 1 {
        0
    } else {
        u64::MAX << (index + 1)
    }
}

impl Ring {
    /// True when no bucket holds a session (the never list aside): the cursor may then move
    /// anywhere. O(LEVELS).
    fn is_empty(&self) -> bool {
        self.occupied.iter().all(|&w| w == 0) && self.head[OVERFLOW] == NIL
    }

    /// The earliest non-empty bucket (the never list excluded) and a lower bound of its
    /// deadlines in ticks or ms. O(LEVELS).
    fn next(&self) -> Option<Next> {
        let cur = self.cur;
        for level in 1..LEVELS {
            let own = own_index(cur, level);
            if self.occupied[level] >> own & 1 == 1 {
                return Some(Next::Pending(level * SLOTS + own));
            }
        }
        let own = own_index(cur, 0);
        if self.head[own] != NIL {
            return Some(Next::Current(own));
        }
        for level in 0..LEVELS {
            let own = own_index(cur, level);
            let later = self.occupied[level] & above(own);
            if later != 0 {
                let index = later.trailing_zeros() as usize;
                let shift = BITS as usize * level;
                let block = (cur >> (shift + BITS as usize)) << (shift + BITS as usize);
                return Some(Next::Later(
                    level * SLOTS + index,
                    block + ((index as i64) << shift),
                ));
            }
        }
        if self.head[OVERFLOW] != NIL {
            let shift = BITS as usize * LEVELS;
            return Some(Next::Overflow(((cur >> shift) + 1) << shift));
        }
        None
    }

    fn lower_bound(&self, next: Next, resolution: f64) -> f64 {
        match next {
            // The current bucket may hold earlier deadlines (filed at or before the cursor).
            Next::Pending(_) if self.head[own_index(self.cur, 0)] != NIL => {
                self.cur_floor.min(self.cur as f64 * resolution)
            }
            Next::Pending(_) => self.cur as f64 * resolution,
            Next::Current(_) => self.cur_floor,
            Next::Later(_, start) | Next::Overflow(start) => start as f64 * resolution,
        }
    }
}

/// Where a sweep is: the bucket it walks and the next slot to look at.
#[derive(Debug, Default)]
pub(crate) struct SweepCursor {
    walk: Option<Walk>,
    /// Re-filings so far; the sweep stops at its budget so one call never re-files a whole
    /// large bucket.
    work: usize,
}

#[derive(Debug)]
struct Walk {
    class: usize,
    next: u32,
    current: bool,
    /// The current bucket was sorted when the walk began: it stops at the first kept session.
    sorted: bool,
    /// Smallest deadline left in the current bucket by this walk.
    kept: f64,
}

/// The wheels of both classes and the links of every slot.
#[derive(Debug)]
pub(crate) struct Wheel {
    resolution: f64,
    links: Paged<Link>,
    rings: [Ring; 2],
    /// The sessions (deadline, slot) a full walk of the current bucket left there, in list
    /// order, sorted at the walk's end.
    kept: Vec<(f64, u32)>,
}

impl Wheel {
    pub(crate) fn new(resolution: f64) -> Wheel {
        Wheel {
            resolution,
            links: Paged::default(),
            rings: [Ring::default(), Ring::default()],
            kept: Vec::new(),
        }
    }

    /// Gives a slot about to be filed its (unfiled) link: a new slot's, or one on a page the
    /// table had released and has made again. O(1), O(page) when a page is made.
    pub(crate) fn add_slot(&mut self, slot: u32) {
        let slot = slot as usize;
        self.links.make_page(page_of(slot), |_| UNFILED_LINK);
        if slot >= self.links.len() {
            debug_assert!(slot == self.links.len(), "slot {slot} skips slots");
            self.links.push(UNFILED_LINK);
        }
    }

    /// Releases the links of a page of free slots (the table released the page).
    pub(crate) fn release_page(&mut self, page: usize) {
        self.links.release_page(page);
    }

    fn tick(&self, deadline: f64) -> i64 {
        (deadline / self.resolution).floor() as i64
    }

    fn link(&self, slot: u32) -> Link {
        let link = self.links.get(slot as usize).copied();
        debug_assert!(link.is_some(), "slot {slot} has no link");
        link.unwrap_or(UNFILED_LINK)
    }

    fn set_link(&mut self, slot: u32, link: Link) {
        if let Some(l) = self.links.get_mut(slot as usize) {
            *l = link;
        }
    }

    /// The class a filed slot is in.
    pub(crate) fn class_of(&self, slot: u32) -> Option<Class> {
        match self.link(slot).bucket {
            UNFILED => None,
            b if usize::from(b) < BUCKETS => Some(Class::Anonymous),
            _ => Some(Class::User),
        }
    }

    fn push(&mut self, slot: u32, class: usize, bucket: usize) {
        let ring = &mut self.rings[class];
        let tail = ring.tail[bucket];
        ring.tail[bucket] = slot;
        if tail == NIL {
            ring.head[bucket] = slot;
            if bucket < OVERFLOW {
                ring.occupied[bucket / SLOTS] |= 1 << (bucket % SLOTS);
            }
        }
        if tail != NIL {
            if let Some(l) = self.links.get_mut(tail as usize) {
                l.next = slot;
            }
        }
        self.set_link(
            slot,
            Link {
                prev: tail,
                next: NIL,
                bucket: (class * BUCKETS + bucket) as u16,
            },
        );
    }

    /// Files an unfiled slot with deadline `deadline` in `class`; `since` is its last
    /// activity, where the cursor of an empty ring starts. O(1).
    pub(crate) fn file(&mut self, slot: u32, class: Class, deadline: f64, since: f64) {
        let since = self.tick(since);
        let ring = &mut self.rings[class as usize];
        if deadline != f64::INFINITY && ring.is_empty() {
            ring.cur = since;
        }
        self.place(slot, class as usize, deadline);
    }

    /// Files an unfiled slot in ring `c` relative to its cursor.
    fn place(&mut self, slot: u32, c: usize, deadline: f64) {
        debug_assert_eq!(self.link(slot).bucket, UNFILED, "slot {slot} filed twice");
        if deadline == f64::INFINITY {
            self.push(slot, c, NEVER);
            return;
        }
        let t = self.tick(deadline);
        let ring = &mut self.rings[c];
        let cur = ring.cur;
        if t <= cur {
            let own = own_index(cur, 0);
            if ring.head[own] == NIL {
                ring.cur_floor = deadline;
                // Only the cursor's own tick is kept sorted (see `sort_current`).
                ring.sorted = t == cur;
                ring.sorted_max = deadline;
            } else {
                ring.cur_floor = ring.cur_floor.min(deadline);
                if ring.sorted {
                    if deadline < ring.sorted_max {
                        ring.sorted = false;
                    } else {
                        ring.sorted_max = deadline;
                    }
                }
            }
            self.push(slot, c, own);
            return;
        }
        let top = 63 - ((t ^ cur) as u64).leading_zeros() as usize;
        let level = top / BITS as usize;
        let bucket = if level >= LEVELS {
            OVERFLOW
        } else {
            level * SLOTS + own_index(t, level)
        };
        self.push(slot, c, bucket);
    }

    /// Takes a slot out of its bucket (a no-op when unfiled). O(1).
    pub(crate) fn unlink(&mut self, slot: u32) {
        let link = self.link(slot);
        if link.bucket == UNFILED {
            return;
        }
        let c = usize::from(link.bucket) / BUCKETS;
        let bucket = usize::from(link.bucket) % BUCKETS;
        if link.prev != NIL {
            if let Some(l) = self.links.get_mut(link.prev as usize) {
                l.next = link.next;
            }
        }
        if link.next != NIL {
            if let Some(l) = self.links.get_mut(link.next as usize) {
                l.prev = link.prev;
            }
        }
        let ring = &mut self.rings[c];
        if link.prev == NIL {
            ring.head[bucket] = link.next;
        }
        if link.next == NIL {
            ring.tail[bucket] = link.prev;
        }
        if ring.head[bucket] == NIL && bucket < OVERFLOW {
            ring.occupied[bucket / SLOTS] &= !(1 << (bucket % SLOTS));
        }
        self.set_link(slot, UNFILED_LINK);
    }

    /// Files a filed slot again by its current deadline, in `class`. O(1).
    pub(crate) fn refile(&mut self, slot: u32, class: Class, deadline: f64, since: f64) {
        self.unlink(slot);
        self.file(slot, class, deadline, since);
    }

    /// The end of the later cursor's tick: a renewed deadline before it may belong in a current
    /// bucket, so the engine files it again at once. O(1).
    pub(crate) fn current_tick_end(&self) -> f64 {
        (self.rings[0].cur.max(self.rings[1].cur) as f64 + 1.0) * self.resolution
    }

    /// The earliest lower bound over both classes: the next deadline, never later than the
    /// true one. O(LEVELS).
    pub(crate) fn next_deadline(&self) -> f64 {
        self.rings
            .iter()
            .filter_map(|r| r.next().map(|n| r.lower_bound(n, self.resolution)))
            .fold(f64::INFINITY, f64::min)
    }

    /// Moves the cursor of ring `c` to a later bucket's start and returns what that bucket
    /// now is (current or pending). The buckets before it are empty.
    fn jump(&mut self, c: usize, bucket: usize, start: i64) -> Next {
        let resolution = self.resolution;
        let ring = &mut self.rings[c];
        ring.cur = start;
        if bucket < SLOTS {
            ring.cur_floor = start as f64 * resolution;
            ring.sorted = false;
            Next::Current(bucket)
        } else {
            Next::Pending(bucket)
        }
    }

    /// Moves ring `c` to the next 64^6 block that holds an overflow deadline (at least
    /// `start`, the next one), but never past `now`'s tick, and re-files the whole overflow
    /// relative to it: at most once per 64^6 ticks (two years at 1 ms). A cursor ahead of
    /// `now` would take every deadline filed meanwhile into the current bucket (one unordered
    /// list walked in full by each sweep and by eviction), so it stops at `now`'s tick; the
    /// overflow comes due (`start <= tick(now)`) only when `now` has reached `start`.
    fn open_overflow(&mut self, c: usize, start: i64, now: f64, entries: &Entries) {
        let mut slot = self.rings[c].head[OVERFLOW];
        let mut moved = Vec::new();
        let mut first = i64::MAX;
        while slot != NIL {
            moved.push(slot);
            first = first.min(self.tick(times_of(entries, slot).0));
            slot = self.link(slot).next;
        }
        let shift = BITS as usize * LEVELS;
        self.rings[c].cur = start.max(((first >> shift) << shift).min(self.tick(now)));
        for slot in moved {
            self.unlink(slot);
            self.place(slot, c, times_of(entries, slot).0);
        }
    }

    /// The next due slot at `now`, unlinked, or `None` when nothing is due (or the cursor's
    /// re-filing budget ran out: then `next_deadline() <= now`). Buckets come due in order of
    /// their lower bounds, the anonymous class first on ties; a bucket is walked in list order.
    pub(crate) fn pop_due(
        &mut self,
        entries: &Entries,
        now: f64,
        cursor: &mut SweepCursor,
        budget: usize,
    ) -> Option<u32> {
        loop {
            if let Some(walk) = cursor.walk.as_mut() {
                let slot = walk.next;
                if slot == NIL {
                    let (c, kept, current, sorted) =
                        (walk.class, walk.kept, walk.current, walk.sorted);
                    cursor.walk = None;
                    if current {
                        self.rings[c].cur_floor = kept;
                        if !sorted {
                            self.sort_current(c);
                        }
                    }
                    continue;
                }
                walk.next = self.link(slot).next;
                let d = times_of(entries, slot).0;
                if d <= now {
                    self.unlink(slot);
                    return Some(slot);
                }
                let c = walk.class;
                if walk.current && self.tick(d) <= self.rings[c].cur {
                    if walk.sorted {
                        // The sessions behind it are due no earlier.
                        self.rings[c].cur_floor = d;
                        cursor.walk = None;
                        continue;
                    }
                    walk.kept = walk.kept.min(d);
                    self.kept.push((d, slot));
                    continue;
                }
                if cursor.work >= budget {
                    cursor.walk = None;
                    return None;
                }
                cursor.work += 1;
                self.cascade(slot, c, d);
                continue;
            }
            let mut best: Option<(usize, Next, f64)> = None;
            for c in 0..2 {
                if let Some(n) = self.rings[c].next() {
                    let lb = self.rings[c].lower_bound(n, self.resolution);
                    if best.is_none_or(|(_, _, b)| lb < b) {
                        best = Some((c, n, lb));
                    }
                }
            }
            let Some((c, next, _)) = best.filter(|&(_, _, lb)| lb <= now) else {
                self.catch_up(now);
                return None;
            };
            let next = match next {
                Next::Later(bucket, start) => self.jump(c, bucket, start),
                Next::Overflow(start) => {
                    self.open_overflow(c, start, now, entries);
                    continue;
                }
                other => other,
            };
            let (bucket, current) = match next {
                Next::Current(b) => (b, true),
                Next::Pending(b) => (b, false),
                Next::Later(..) | Next::Overflow(_) => continue,
            };
            self.kept.clear();
            cursor.walk = Some(Walk {
                class: c,
                next: self.rings[c].head[bucket],
                current,
                sorted: current && self.rings[c].sorted,
                kept: f64::INFINITY,
            });
        }
    }

    /// Relinks the current bucket of ring `c`, which holds exactly the sessions of `kept` after
    /// a full walk, in order of deadline (stable: filing order on ties, as the JsEngine's sort).
    fn sort_current(&mut self, c: usize) {
        let mut kept = std::mem::take(&mut self.kept);
        let cur = self.rings[c].cur;
        // A deadline before the cursor's tick (only a clock that stepped back files one): such
        // a bucket stays unsorted, walked in full, as before sorting existed.
        if kept.iter().any(|k| self.tick(k.0) < cur) {
            self.rings[c].sorted = false;
            kept.clear();
            self.kept = kept;
            return;
        }
        kept.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let ring = &mut self.rings[c];
        let own = own_index(ring.cur, 0);
        ring.sorted = true;
        ring.sorted_max = kept.last().map_or(f64::NEG_INFINITY, |k| k.0);
        let bucket = (c * BUCKETS + own) as u16;
        debug_assert!(
            if kept.is_empty() {
                ring.head[own] == NIL
            } else {
                kept.iter().any(|k| k.1 == ring.head[own])
            },
            "the current bucket holds sessions the walk did not keep"
        );
        ring.head[own] = kept.first().map_or(NIL, |k| k.1);
        ring.tail[own] = kept.last().map_or(NIL, |k| k.1);
        for (i, &(_, slot)) in kept.iter().enumerate() {
            let prev = if i == 0 { NIL } else { kept[i - 1].1 };
            let next = kept.get(i + 1).map_or(NIL, |k| k.1);
            self.set_link(slot, Link { prev, next, bucket });
        }
        kept.clear();
        self.kept = kept;
    }

    /// Nothing is due at `now`: each ring whose earliest bucket starts after `now` (or that
    /// is empty) moves its cursor up to `now`'s tick, so that new deadlines are filed near
    /// the cursor. Every non-empty bucket stays where it is relative to the cursor.
    fn catch_up(&mut self, now: f64) {
        let t = self.tick(now);
        for ring in &mut self.rings {
            if matches!(
                ring.next(),
                None | Some(Next::Later(..) | Next::Overflow(_))
            ) && t > ring.cur
            {
                ring.cur = t;
            }
        }
    }

    /// Re-files a slot of ring `c` relative to its cursor (a cascade step).
    fn cascade(&mut self, slot: u32, c: usize, deadline: f64) {
        self.unlink(slot);
        self.place(slot, c, deadline);
    }

    /// The eviction candidate of `class`: the first session of the earliest bucket whose
    /// deadline is still in that bucket's span (the ones that moved later are re-filed on the
    /// way), else the first session without a deadline. The cursor does not move: precision
    /// is the earliest bucket's span (one tick on level 0, 64^L ticks on level L; the current
    /// bucket also holds every earlier deadline). Amortized O(1).
    pub(crate) fn candidate(&mut self, class: Class, entries: &Entries) -> Option<u32> {
        let c = class as usize;
        loop {
            let Some(next) = self.rings[c].next() else {
                let head = self.rings[c].head[NEVER];
                return (head != NIL).then_some(head);
            };
            let (bucket, end) = match next {
                Next::Overflow(_) => {
                    let head = self.rings[c].head[OVERFLOW];
                    return (head != NIL).then_some(head);
                }
                Next::Pending(bucket) => {
                    // Finish the cascade that a sliced sweep left half done.
                    let mut slot = self.rings[c].head[bucket];
                    while slot != NIL {
                        let next = self.link(slot).next;
                        self.cascade(slot, c, times_of(entries, slot).0);
                        slot = next;
                    }
                    continue;
                }
                Next::Current(bucket) => (bucket, self.rings[c].cur + 1),
                Next::Later(bucket, start) => {
                    (bucket, start + (1i64 << (BITS as usize * (bucket / SLOTS))))
                }
            };
            let mut slot = self.rings[c].head[bucket];
            while slot != NIL {
                let next = self.link(slot).next;
                let d = times_of(entries, slot).0;
                if self.tick(d) < end {
                    return Some(slot);
                }
                self.cascade(slot, c, d);
                slot = next;
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.links.heap_bytes() + self.kept.capacity() * std::mem::size_of::<(f64, u32)>()
    }

    /// Checks every structural invariant against the entries (debug and test builds only).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn check(&self, entries: &Entries) -> Result<(), String> {
        use crate::table::SlotState;
        let mut filed = 0usize;
        for (c, ring) in self.rings.iter().enumerate() {
            for bucket in 0..BUCKETS {
                let mut prev = NIL;
                let mut slot = ring.head[bucket];
                let mut len = 0usize;
                while slot != NIL {
                    len += 1;
                    if len > self.links.len() {
                        return Err(format!("class {c} bucket {bucket}: the list loops"));
                    }
                    let link = self.link(slot);
                    if usize::from(link.bucket) != c * BUCKETS + bucket || link.prev != prev {
                        return Err(format!(
                            "slot {slot} in class {c} bucket {bucket} has link {link:?} (prev {prev})"
                        ));
                    }
                    let e = entries
                        .get(slot as usize)
                        .ok_or(format!("filed slot {slot} has no entry"))?;
                    if e.state != SlotState::Attached {
                        return Err(format!("filed slot {slot} is {:?}", e.state));
                    }
                    if Class::of(e) as usize != c {
                        return Err(format!("slot {slot} is filed in class {c}"));
                    }
                    self.check_place(ring, slot, bucket, e.expires_at())?;
                    prev = slot;
                    slot = link.next;
                }
                if ring.tail[bucket] != prev {
                    return Err(format!(
                        "class {c} bucket {bucket}: tail is not the last slot"
                    ));
                }
                if bucket < OVERFLOW
                    && (ring.occupied[bucket / SLOTS] >> (bucket % SLOTS) & 1 == 1) != (len > 0)
                {
                    return Err(format!("class {c} bucket {bucket}: occupancy bit is wrong"));
                }
                filed += len;
            }
            let pending = (1..LEVELS)
                .filter(|&l| ring.occupied[l] >> own_index(ring.cur, l) & 1 == 1)
                .count();
            if pending > 1 {
                return Err(format!("class {c}: {pending} partly cascaded buckets"));
            }
        }
        let attached = entries
            .iter_from(0)
            .filter(|(_, e)| e.state == SlotState::Attached)
            .count();
        if filed != attached {
            return Err(format!("{filed} filed slots, {attached} attached sessions"));
        }
        Ok(())
    }

    /// A filed session is never filed after its deadline.
    #[cfg(any(test, debug_assertions))]
    fn check_place(&self, ring: &Ring, slot: u32, bucket: usize, d: f64) -> Result<(), String> {
        let fail = |why: &str| {
            Err(format!(
                "slot {slot} (deadline {d}) in bucket {bucket}: {why}"
            ))
        };
        if bucket == NEVER {
            return if d == f64::INFINITY {
                Ok(())
            } else {
                fail("has a deadline")
            };
        }
        if d == f64::INFINITY {
            return fail("has no deadline");
        }
        let t = self.tick(d);
        if bucket == own_index(ring.cur, 0) {
            return if d >= ring.cur_floor {
                Ok(())
            } else {
                fail("below the current floor")
            };
        }
        let start = if bucket == OVERFLOW {
            let shift = BITS as usize * LEVELS;
            ((ring.cur >> shift) + 1) << shift
        } else {
            let (level, index) = (bucket / SLOTS, bucket % SLOTS);
            let shift = BITS as usize * level;
            if level > 0 && index == own_index(ring.cur, level) {
                ring.cur
            } else if index < own_index(ring.cur, level) {
                return fail("behind the cursor");
            } else {
                ((ring.cur >> (shift + BITS as usize)) << (shift + BITS as usize))
                    + ((index as i64) << shift)
            }
        };
        if t >= start {
            Ok(())
        } else {
            fail("filed after its deadline")
        }
    }
}

/// A filed slot's deadline and last activity.
fn times_of(entries: &Entries, slot: u32) -> (f64, f64) {
    let e = entries.get(slot as usize);
    debug_assert!(e.is_some(), "filed slot {slot} has no entry");
    e.map_or((f64::INFINITY, 0.0), |e| (e.expires_at(), e.last_activity))
}
