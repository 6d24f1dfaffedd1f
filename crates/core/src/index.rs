//! The id index: an open-addressing table from a key's 64-bit hash to its slot.
//!
//! At 10^6 sessions every lookup is a chain of dependent cache misses, so the layout is chosen
//! for misses, not instructions: a bucket is one `u64` holding the top 32 bits of the hash (the
//! tag) and the slot, probed linearly, so a hit costs one miss in the index and one in the
//! entry it names (whose key confirms the match). A general-purpose table keeps its control
//! bytes apart from its values, which costs a second dependent miss on every lookup.
//!
//! The home bucket is the tag's top bits, so an entry's home can be recomputed from the
//! bucket alone: removal shifts the rest of the probe chain back (no tombstones, so chains
//! never lengthen over time), and growth moves buckets without hashing keys again.

/// Buckets per entry at least: at most half full, a hit probes ~1.5 buckets and a miss ~2.5.
const BUCKETS_PER_ENTRY: usize = 2;
const MIN_CAPACITY: usize = 16;
/// Empty buckets are 0: a filled bucket stores `slot + 1` in its low half.
const EMPTY: u64 = 0;
/// Buckets of the old table each insert or remove moves on during a resize. Growth doubles the
/// table when it is half full, and the new one fills only after as many inserts again as the
/// old one held: at 16 per insert the move is long done by then, so no resize ever waits for
/// another to finish (which would copy the rest at once).
const MIGRATE_STEP: usize = 16;
/// An index this sparse (1/8 full) shrinks, to 1/4 full at most.
const SHRINK_BELOW: usize = 8;

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn bucket_value(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot.wrapping_add(1))
}

fn slot_of(bucket: u64) -> u32 {
    (bucket as u32).wrapping_sub(1)
}

/// Buckets per chunk: 256 KiB.
const CHUNK_BITS: u32 = 15;
const CHUNK_MASK: usize = (1 << CHUNK_BITS) - 1;
// A chunk is whole 4 KiB pages: the binding's allocator puts such blocks on huge pages.
const _: () = assert!(((CHUNK_MASK + 1) * std::mem::size_of::<u64>()).is_multiple_of(4096));

/// A table's bucket array in chunks, each allocated (zeroed) when first written: a new table
/// costs nothing up front. One zeroed allocation of 2^23 buckets took 15 ms of CPU inside one
/// create (mimalloc hands back reused memory, which it must clear); a chunk takes microseconds,
/// and the chunk list (16 KiB at 2^25 buckets) stays in cache, so a probe pays one more load.
#[derive(Debug, Default)]
struct Chunks {
    chunks: Vec<Option<Box<[u64]>>>,
    capacity: usize,
    /// Buckets in allocated chunks: `heap_bytes` runs on every create (the binding reports
    /// memory), and summing 1,024 chunks there was 2% of a create at 10^6 sessions.
    allocated: usize,
}

impl Chunks {
    fn new(capacity: usize) -> Chunks {
        Chunks {
            chunks: (0..capacity.div_ceil(CHUNK_MASK + 1))
                .map(|_| None)
                .collect(),
            capacity,
            allocated: 0,
        }
    }

    fn len(&self) -> usize {
        self.capacity
    }

    /// The bucket at `at` (EMPTY in a chunk never written); `None` past the end.
    fn get(&self, at: usize) -> Option<u64> {
        if at >= self.capacity {
            return None;
        }
        Some(
            self.chunks
                .get(at >> CHUNK_BITS)?
                .as_deref()
                .and_then(|c| c.get(at & CHUNK_MASK))
                .copied()
                .unwrap_or(EMPTY),
        )
    }

    /// The bucket at `at` to change, if its chunk exists (only a filled bucket's needs to).
    fn get_mut(&mut self, at: usize) -> Option<&mut u64> {
        self.chunks
            .get_mut(at >> CHUNK_BITS)?
            .as_deref_mut()?
            .get_mut(at & CHUNK_MASK)
    }

    /// The bucket at `at` to fill, allocating its chunk when needed.
    fn entry(&mut self, at: usize) -> Option<&mut u64> {
        if at >= self.capacity {
            return None;
        }
        let size = self.capacity.min(CHUNK_MASK + 1);
        let chunk = self.chunks.get_mut(at >> CHUNK_BITS)?;
        if chunk.is_none() {
            self.allocated += size;
        }
        chunk
            .get_or_insert_with(|| vec![EMPTY; size].into_boxed_slice())
            .get_mut(at & CHUNK_MASK)
    }

    /// Starts loading the bucket at `at` into cache, if its chunk exists (an absent chunk reads
    /// as EMPTY without a load).
    fn prefetch(&self, at: usize) {
        if let Some(bucket) = self
            .chunks
            .get(at >> CHUNK_BITS)
            .and_then(Option::as_deref)
            .and_then(|c| c.get(at & CHUNK_MASK))
        {
            crate::prefetch::prefetch(bucket);
        }
    }

    /// Takes a chunk out (its buckets read EMPTY from then on).
    fn take_chunk(&mut self, chunk: usize) -> Option<Box<[u64]>> {
        let taken = self.chunks.get_mut(chunk)?.take()?;
        self.allocated -= taken.len();
        Some(taken)
    }

    /// Takes every chunk out.
    fn take_all(&mut self) -> impl Iterator<Item = Box<[u64]>> + '_ {
        self.allocated = 0;
        self.chunks.iter_mut().filter_map(Option::take)
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.capacity).map(|at| self.get(at).unwrap_or(EMPTY))
    }

    fn heap_bytes(&self) -> usize {
        debug_assert_eq!(
            self.allocated,
            self.chunks.iter().flatten().map(|c| c.len()).sum::<usize>()
        );
        self.allocated * std::mem::size_of::<u64>()
            + self.chunks.capacity() * std::mem::size_of::<Option<Box<[u64]>>>()
    }
}

/// One open-addressing table.
#[derive(Debug, Default)]
struct Buckets {
    buckets: Chunks,
    len: usize,
    /// log2 of the bucket count (0 while empty).
    bits: u32,
}

impl Buckets {
    /// An empty table of `capacity` buckets (a power of two), its chunks made as they fill.
    fn with_capacity(capacity: usize) -> Buckets {
        Buckets {
            buckets: Chunks::new(capacity),
            len: 0,
            bits: capacity.trailing_zeros(),
        }
    }

    fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn home(&self, tag: u32) -> usize {
        if self.bits == 0 {
            return 0;
        }
        (tag >> (32 - self.bits)) as usize
    }

    fn find(&self, hash: u64, is_key: &mut impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut at = self.home(tag);
        loop {
            let bucket = self.buckets.get(at)?;
            if bucket == EMPTY {
                return None;
            }
            if tag_of(bucket) == tag && is_key(slot_of(bucket)) {
                return Some(slot_of(bucket));
            }
            at = (at + 1) & mask;
        }
    }

    /// Files a bucket value; the caller keeps the table under half full.
    fn put(&mut self, bucket: u64) {
        let mask = self.mask();
        let mut at = self.home(tag_of(bucket));
        while let Some(target) = self.buckets.entry(at) {
            if *target == EMPTY {
                *target = bucket;
                self.len += 1;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let wanted = bucket_value(tag_of(hash), slot);
        let mask = self.mask();
        let mut hole = self.home(tag_of(hash));
        loop {
            match self.buckets.get(hole) {
                Some(b) if b == wanted => break,
                Some(b) if b != EMPTY => hole = (hole + 1) & mask,
                _ => return false,
            }
        }
        // Backward shift: each later bucket of the chain that may live at the hole (its home
        // is not cyclically between the hole and itself) moves into it, leaving a new hole.
        let mut next = (hole + 1) & mask;
        loop {
            let bucket = self.buckets.get(next).unwrap_or(EMPTY);
            if bucket == EMPTY {
                break;
            }
            let home = self.home(tag_of(bucket));
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                if let Some(target) = self.buckets.get_mut(hole) {
                    *target = bucket;
                }
                hole = next;
            }
            next = (next + 1) & mask;
        }
        if let Some(target) = self.buckets.get_mut(hole) {
            *target = EMPTY;
        }
        self.len -= 1;
        true
    }

    /// Checks that every bucket is reachable from its home without crossing an empty bucket,
    /// that `len` counts the filled buckets and that at most `full_eighths` eighths of them are
    /// filled; returns the slots.
    #[cfg(any(test, debug_assertions))]
    fn check(&self, full_eighths: usize) -> Result<Vec<u32>, String> {
        let mask = self.mask();
        let mut slots = Vec::new();
        for (at, bucket) in self.buckets.iter().enumerate() {
            if bucket == EMPTY {
                continue;
            }
            let mut probe = self.home(tag_of(bucket));
            while probe != at {
                if self.buckets.get(probe).is_none_or(|b| b == EMPTY) {
                    return Err(format!(
                        "bucket {at} is cut off from its home by an empty bucket"
                    ));
                }
                probe = (probe + 1) & mask;
            }
            slots.push(slot_of(bucket));
        }
        if slots.len() != self.len || self.len * 8 > self.buckets.len() * full_eighths {
            return Err(format!(
                "{} filled buckets, len {}, capacity {}",
                slots.len(),
                self.len,
                self.buckets.len()
            ));
        }
        Ok(slots)
    }
}

/// A resize under way: the old table, emptied cluster by cluster from `start` on. Every bucket
/// from `start` to `next` (cyclically) is empty, so `next` always begins a cluster, and moving
/// whole clusters keeps every chain left in the old table intact for lookups and removals
/// (whose backward shifts stay within a cluster).
#[derive(Debug)]
struct Migration {
    from: Buckets,
    /// An empty bucket of the old table when the resize began.
    start: usize,
    next: usize,
    /// Buckets not yet visited.
    left: usize,
}

impl Migration {
    /// Whether old bucket `at` is still to be moved: from `next` up to `start`, cyclically.
    fn ahead(&self, at: usize) -> bool {
        let mask = self.from.mask();
        at.wrapping_sub(self.next) & mask < self.start.wrapping_sub(self.next) & mask
    }

    /// Files `bucket` in the old table when its home there is still to be moved and its chain
    /// ends before the part already moved; false (nothing done) otherwise, or when the part
    /// still to be moved is 5/8 full (it starts half full, and at 16 buckets moved per insert
    /// the inserts filed here raise that to ~0.56 by the end of the move). The move then files
    /// it in the new table in order with its neighbours. Filed in the new table at once, the
    /// inserts that follow a growth each wrote a random bucket of a table never touched: at
    /// 2^22 and 2^23 sessions the first few thousand creates each faulted in fresh memory, up
    /// to 5.7 ms of kernel time in one create (2 MiB huge pages zeroed; bench/growth-stall.ts
    /// fill). Filed here, an insert writes the new table only where the move has written it.
    fn put_ahead(&mut self, bucket: u64) -> bool {
        let mask = self.from.mask();
        let unmoved = self.start.wrapping_sub(self.next) & mask;
        if self.from.len * 8 >= unmoved * 5 {
            return false;
        }
        let mut at = self.from.home(tag_of(bucket));
        while self.ahead(at) {
            // A chunk never written is not made in a table being taken apart.
            let Some(target) = self.from.buckets.get_mut(at) else {
                return false;
            };
            if *target == EMPTY {
                *target = bucket;
                self.from.len += 1;
                return true;
            }
            at = (at + 1) & mask;
        }
        false
    }

    /// Whether an entry hashed to `hash` would be in the old table first: its home there is
    /// still to be moved (put_ahead files such entries there).
    fn holds_first(&self, hash: u64) -> bool {
        self.ahead(self.from.home(tag_of(hash)))
    }
}

/// Retires the chunk the move has just left behind (every bucket in it is empty now), unless it
/// is the one the move began in, which it comes back to at the end.
fn retire_passed_chunk(m: &mut Migration, retired: &mut Retired) {
    if m.next & CHUNK_MASK != 0 {
        return;
    }
    let passed = (m.next.wrapping_sub(1) & m.from.mask()) >> CHUNK_BITS;
    if passed != m.start >> CHUNK_BITS {
        retired.extend(m.from.buckets.take_chunk(passed));
    }
}

/// The id index. It grows and shrinks by moving the old table's entries into the new one a few
/// buckets per insert or remove, so no call rehashes everything (a rebuild at 2^22 sessions
/// stalled one create for hundreds of ms); meanwhile a lookup that misses the new table looks
/// in the old one.
#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    table: Buckets,
    old: Option<Migration>,
    /// Chunks of tables done with, freed a few per call: freeing a 128 MiB table at once took
    /// 6.6 ms inside one create (each chunk handed back to the OS).
    retired: Retired,
}

/// Chunks waiting to be freed, with their bytes.
#[derive(Debug, Default)]
struct Retired {
    chunks: Vec<Box<[u64]>>,
    bytes: usize,
}

impl Retired {
    fn extend(&mut self, chunks: impl IntoIterator<Item = Box<[u64]>>) {
        for chunk in chunks {
            self.bytes += chunk.len() * std::mem::size_of::<u64>();
            self.chunks.push(chunk);
        }
    }

    fn free(&mut self, count: usize) {
        for _ in 0..count {
            let Some(chunk) = self.chunks.pop() else {
                break;
            };
            self.bytes -= chunk.len() * std::mem::size_of::<u64>();
        }
    }
}

/// Retired chunks freed per insert or remove.
const FREE_STEP: usize = 2;

impl SlotIndex {
    pub(crate) fn len(&self) -> usize {
        self.table.len + self.old.as_ref().map_or(0, |m| m.from.len)
    }

    /// Buckets held, in both tables while a resize is under way (tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.table.capacity() + self.old.as_ref().map_or(0, |m| m.from.capacity())
    }

    /// Bytes allocated for both tables and the chunks not yet freed (chunks not yet written
    /// cost nothing).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.table.buckets.heap_bytes()
            + self.old.as_ref().map_or(0, |m| m.from.buckets.heap_bytes())
            + self.retired.bytes
    }

    /// Ends the move under way: whatever chunks the old table still has are retired.
    fn end_migration(&mut self) {
        if let Some(mut m) = self.old.take() {
            self.retired.extend(m.from.buckets.take_all());
        }
    }

    /// The slot whose hash is `hash` and for which `is_key` confirms the key.
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let (first, second) = self.tables_for(hash);
        first
            .find(hash, &mut is_key)
            .or_else(|| second?.find(hash, &mut is_key))
    }

    /// The tables an entry of `hash` may be in, the likelier first: during a move, the old one
    /// when its home there is still to be moved (`put_ahead` files such entries there). Either
    /// order finds it; this one reads the other table only on a miss.
    fn tables_for(&self, hash: u64) -> (&Buckets, Option<&Buckets>) {
        match &self.old {
            None => (&self.table, None),
            Some(m) if m.holds_first(hash) => (&m.from, Some(&self.table)),
            Some(m) => (&self.table, Some(&m.from)),
        }
    }

    /// Reads the bucket where an entry of `hash` is looked for first, and returns it: a loader
    /// warms the ids of records ahead, so that their misses overlap instead of coming one at a
    /// time inside each insert.
    pub(crate) fn warm(&self, hash: u64) -> u64 {
        let (first, _) = self.tables_for(hash);
        first.buckets.get(first.home(tag_of(hash))).unwrap_or(EMPTY)
    }

    /// Starts loading the bucket where an entry of `hash` is looked for first into cache, without
    /// waiting for it: see `crate::prefetch`.
    pub(crate) fn prefetch(&self, hash: u64) {
        let (first, _) = self.tables_for(hash);
        first.buckets.prefetch(first.home(tag_of(hash)));
    }

    /// Starts moving to a table of `capacity` buckets, first finishing a move under way (which
    /// the step size makes rare: see `MIGRATE_STEP`).
    fn resize(&mut self, capacity: usize) {
        self.migrate(usize::MAX);
        let mut from = std::mem::replace(&mut self.table, Buckets::with_capacity(capacity));
        if from.len == 0 {
            self.retired.extend(from.buckets.take_all());
            return;
        }
        let Some(start) = from.buckets.iter().position(|b| b == EMPTY) else {
            debug_assert!(false, "an index at most half full has an empty bucket");
            return;
        };
        let left = from.capacity();
        self.old = Some(Migration {
            next: (start + 1) & from.mask(),
            from,
            start,
            left,
        });
    }

    /// Moves at least `budget` old buckets (whole clusters) into the new table.
    fn migrate(&mut self, mut budget: usize) {
        let Some(m) = self.old.as_mut() else {
            return;
        };
        let mask = m.from.mask();
        while budget > 0 && m.left > 0 && m.from.len > 0 {
            // A cluster start (the bucket before is empty): move the whole cluster.
            while let Some(bucket) = m.from.buckets.get_mut(m.next) {
                if *bucket == EMPTY {
                    break;
                }
                self.table.put(std::mem::replace(bucket, EMPTY));
                m.from.len -= 1;
                m.left -= 1;
                budget = budget.saturating_sub(1);
                m.next = (m.next + 1) & mask;
                retire_passed_chunk(m, &mut self.retired);
            }
            if m.left > 0 {
                m.left -= 1;
                budget = budget.saturating_sub(1);
                m.next = (m.next + 1) & mask;
                retire_passed_chunk(m, &mut self.retired);
            }
        }
        if m.left == 0 || m.from.len == 0 {
            self.end_migration();
        }
    }

    /// Grows at once so that `additional` more inserts need no resize: for a load, which knows
    /// how many sessions it restores (and restores them into an empty engine, so nothing moves).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = (self.len() + additional) * BUCKETS_PER_ENTRY;
        if needed > self.table.capacity() {
            self.resize(needed.next_power_of_two().max(MIN_CAPACITY));
            self.migrate(usize::MAX);
        }
    }

    /// Adds `slot` under `hash`; the caller has checked that its key is not present.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        self.retired.free(FREE_STEP);
        self.migrate(MIGRATE_STEP);
        let needed = (self.len() + 1) * BUCKETS_PER_ENTRY;
        if needed > self.table.capacity() {
            self.resize(needed.next_power_of_two().max(MIN_CAPACITY));
        }
        let bucket = bucket_value(tag_of(hash), slot);
        if self.old.as_mut().is_some_and(|m| m.put_ahead(bucket)) {
            return;
        }
        self.table.put(bucket);
    }

    /// Removes `slot`, filed under `hash`; false when it is not there. An index left 1/8 full
    /// starts shrinking; an emptied one frees its tables at once.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let removed = match self.old.as_mut() {
            None => self.table.remove(hash, slot),
            Some(m) if m.holds_first(hash) => {
                m.from.remove(hash, slot) || self.table.remove(hash, slot)
            }
            Some(m) => self.table.remove(hash, slot) || m.from.remove(hash, slot),
        };
        if !removed {
            return false;
        }
        let len = self.len();
        self.retired.free(FREE_STEP);
        if len == 0 {
            self.end_migration();
            let emptied = std::mem::take(&mut self.table);
            self.retired
                .extend(emptied.buckets.chunks.into_iter().flatten());
            return true;
        }
        self.migrate(MIGRATE_STEP);
        let capacity = self.table.capacity();
        if self.old.is_none() && capacity > MIN_CAPACITY && len * SHRINK_BELOW < capacity {
            self.resize(
                (len * 2 * BUCKETS_PER_ENTRY)
                    .next_power_of_two()
                    .max(MIN_CAPACITY),
            );
        }
        true
    }

    /// Checks both tables' probe chains and counts, that the part of the old table already
    /// moved is empty and that no slot is indexed twice. Returns the indexed slots (debug and
    /// test builds).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn check(&self) -> Result<Vec<u32>, String> {
        let mut slots = self.table.check(8 / BUCKETS_PER_ENTRY)?;
        if let Some(m) = &self.old {
            // An old table takes inserts ahead of the move up to 5/8 full (put_ahead).
            slots.extend(m.from.check(5)?);
            let mask = m.from.mask();
            if m.from.buckets.get(m.start).is_some_and(|b| b != EMPTY) {
                return Err(format!(
                    "old bucket {} began the move but holds a slot",
                    m.start
                ));
            }
            let mut at = (m.start + 1) & mask;
            for _ in 0..m.from.capacity() - m.left {
                if m.from.buckets.get(at).is_some_and(|b| b != EMPTY) {
                    return Err(format!("old bucket {at} was passed but still holds a slot"));
                }
                at = (at + 1) & mask;
            }
            if at != m.next {
                return Err(format!("migration at {} but counted to {at}", m.next));
            }
        }
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err("a slot is indexed twice".into());
        }
        Ok(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Hashes whose tags all share one home bucket in a small table, to force long chains
    /// that wrap around the end.
    fn colliding_hash(home_bits: u64, low: u64) -> u64 {
        (home_bits << 60) | (low << 32) | low
    }

    #[test]
    fn finds_inserts_and_removes_through_wrapped_chains() {
        let mut index = SlotIndex::default();
        index.reserve(8); // 16 buckets: home = top 4 bits of the tag
        let mut model = HashMap::new();
        // Eight keys homed at the last bucket: the chain wraps around to the front.
        for slot in 0..8u32 {
            let hash = colliding_hash(15, u64::from(slot) + 1);
            index.insert(hash, slot);
            model.insert(slot, hash);
        }
        assert_eq!(index.capacity(), 16);
        for (&slot, &hash) in &model {
            assert_eq!(index.find(hash, |s| s == slot), Some(slot));
        }
        // Remove from the middle of the chain; everything else stays findable.
        for victim in [3u32, 0, 7, 5] {
            let hash = model.remove(&victim).unwrap();
            assert!(index.remove(hash, victim));
            assert!(!index.remove(hash, victim));
            assert_eq!(index.find(hash, |s| s == victim), None);
            for (&slot, &hash) in &model {
                assert_eq!(index.find(hash, |s| s == slot), Some(slot), "slot {slot}");
            }
        }
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn tag_match_with_a_different_key_keeps_probing() {
        let mut index = SlotIndex::default();
        let hash = 0xdead_beef_0000_0001;
        index.insert(hash, 1);
        index.insert(hash, 2);
        assert_eq!(index.find(hash, |s| s == 2), Some(2));
        assert_eq!(index.find(hash, |_| false), None);
    }

    #[test]
    fn inserts_after_a_growth_write_the_new_table_only_where_the_move_has() {
        // 2^17 entries fill a table of 2^18 buckets; the next insert starts the move to 2^19
        // buckets (16 chunks). Inserts then each move 16 old buckets, so 200 of them move the
        // first ~3,200 of 2^18: the new table's first chunk. Filed in the new table, 200
        // random inserts would have written nearly every chunk of it.
        let mut index = SlotIndex::default();
        let hash = |n: u64| n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (n << 7);
        let full = 1u64 << 17;
        for n in 0..full {
            index.insert(hash(n), n as u32);
        }
        assert_eq!(index.capacity(), 1 << 18);
        for n in full..full + 200 {
            index.insert(hash(n), n as u32);
        }
        assert!(index.old.is_some(), "the move is still under way");
        let written = index.table.buckets.allocated / (CHUNK_MASK + 1);
        assert!(written <= 2, "the new table has {written} chunks written");
        index.check().unwrap();
        for n in 0..full + 200 {
            assert_eq!(index.find(hash(n), |s| s == n as u32), Some(n as u32));
        }
    }

    #[test]
    fn growth_keeps_every_entry_and_the_load_bound() {
        let mut index = SlotIndex::default();
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut hashes = Vec::new();
        for slot in 0..5000u32 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            hashes.push(state);
            index.insert(state, slot);
            assert!(index.len() * 2 <= index.capacity());
        }
        for (slot, &hash) in hashes.iter().enumerate() {
            assert_eq!(index.find(hash, |s| s == slot as u32), Some(slot as u32));
        }
        for (slot, &hash) in hashes.iter().enumerate().step_by(2) {
            assert!(index.remove(hash, slot as u32));
        }
        for (slot, &hash) in hashes.iter().enumerate() {
            let expected = (slot % 2 == 1).then_some(slot as u32);
            assert_eq!(index.find(hash, |s| s == slot as u32), expected);
        }
    }

    #[test]
    fn resizes_move_a_few_buckets_per_call_and_keep_every_entry_findable() {
        let mut index = SlotIndex::default();
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state
        };
        let (mut grew, mut shrank, mut slot) = (false, false, 0u32);
        // Up to 20,000 entries, down to 50, up again: several growths and shrinks.
        for (target, steps) in [(20_000usize, 40_000), (50, 60_000), (5_000, 20_000)] {
            for step in 0..steps {
                let table_before = if index.old.is_some() {
                    index.table.len
                } else {
                    usize::MAX
                };
                if model.len() < target && (next() % 4 != 0 || model.is_empty()) {
                    let hash = next();
                    index.insert(hash, slot);
                    model.insert(slot, hash);
                    slot += 1;
                } else if let Some((&victim, &hash)) = model.iter().next() {
                    assert!(index.remove(hash, victim));
                    model.remove(&victim);
                }
                let migrating = index.old.as_ref().map(|m| m.from.capacity());
                grew |= migrating.is_some_and(|old| index.table.capacity() > old);
                shrank |= migrating.is_some_and(|old| index.table.capacity() < old);
                // A move under way always has something left to move (else it is over).
                if let Some(m) = &index.old {
                    assert!(m.left > 0 && m.from.len > 0);
                }
                // No call moves more than a step and a cluster.
                let moved = index.table.len.saturating_sub(table_before);
                assert!(
                    moved <= MIGRATE_STEP + 64,
                    "{moved} entries moved in one call"
                );
                assert_eq!(index.len(), model.len());
                if step % 997 == 0 {
                    index.check().unwrap();
                    for (&s, &hash) in model.iter().take(200) {
                        assert_eq!(index.find(hash, |x| x == s), Some(s));
                    }
                }
            }
        }
        assert!(grew && shrank, "grew {grew} shrank {shrank}");
        for (&s, &hash) in &model {
            assert_eq!(index.find(hash, |x| x == s), Some(s));
        }
        index.check().unwrap();
    }

    #[test]
    fn empty_index_finds_nothing() {
        let mut index = SlotIndex::default();
        assert_eq!(index.find(7, |_| true), None);
        assert!(!index.remove(7, 0));
    }
}
