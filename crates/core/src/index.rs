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

#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    buckets: Vec<u64>,
    len: usize,
    /// log2 of the bucket count (0 while nothing was ever inserted).
    bits: u32,
}

fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn bucket_value(tag: u32, slot: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(slot.wrapping_add(1))
}

fn slot_of(bucket: u64) -> u32 {
    (bucket as u32).wrapping_sub(1)
}

impl SlotIndex {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity(&self) -> usize {
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

    /// The slot whose hash is `hash` and for which `is_key` confirms the key.
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut at = self.home(tag);
        loop {
            let bucket = *self.buckets.get(at)?;
            if bucket == EMPTY {
                return None;
            }
            if tag_of(bucket) == tag && is_key(slot_of(bucket)) {
                return Some(slot_of(bucket));
            }
            at = (at + 1) & mask;
        }
    }

    /// Grows so that `additional` more inserts need no rehash. Called while creating only,
    /// so that a sweep (which only removes) never pauses to rehash.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let needed = (self.len + additional) * BUCKETS_PER_ENTRY;
        if needed <= self.buckets.len() {
            return;
        }
        let capacity = needed.next_power_of_two().max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; capacity]);
        self.bits = capacity.trailing_zeros();
        let mask = self.mask();
        for bucket in old.into_iter().filter(|&b| b != EMPTY) {
            let mut at = self.home(tag_of(bucket));
            while let Some(target) = self.buckets.get_mut(at) {
                if *target == EMPTY {
                    *target = bucket;
                    break;
                }
                at = (at + 1) & mask;
            }
        }
    }

    /// Adds `slot` under `hash`; the caller has checked that its key is not present.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        self.reserve(1);
        let tag = tag_of(hash);
        let mask = self.mask();
        let mut at = self.home(tag);
        while let Some(target) = self.buckets.get_mut(at) {
            if *target == EMPTY {
                *target = bucket_value(tag, slot);
                self.len += 1;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Checks that every bucket is reachable from its home without crossing an empty bucket,
    /// that no slot is indexed twice and that `len` counts the filled buckets. Returns the
    /// indexed slots (debug and test builds).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn check(&self) -> Result<Vec<u32>, String> {
        let mask = self.mask();
        let mut slots = Vec::new();
        for (at, &bucket) in self.buckets.iter().enumerate() {
            if bucket == EMPTY {
                continue;
            }
            let mut probe = self.home(tag_of(bucket));
            while probe != at {
                if self.buckets.get(probe).is_none_or(|&b| b == EMPTY) {
                    return Err(format!(
                        "bucket {at} is cut off from its home by an empty bucket"
                    ));
                }
                probe = (probe + 1) & mask;
            }
            slots.push(slot_of(bucket));
        }
        if slots.len() != self.len || self.len * BUCKETS_PER_ENTRY > self.buckets.len() {
            return Err(format!(
                "{} filled buckets, len {}, capacity {}",
                slots.len(),
                self.len,
                self.buckets.len()
            ));
        }
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err("a slot is indexed twice".into());
        }
        Ok(slots)
    }

    /// Removes `slot`, filed under `hash`; false when it is not there.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let wanted = bucket_value(tag_of(hash), slot);
        let mask = self.mask();
        let mut hole = self.home(tag_of(hash));
        loop {
            match self.buckets.get(hole) {
                Some(&b) if b == wanted => break,
                Some(&b) if b != EMPTY => hole = (hole + 1) & mask,
                _ => return false,
            }
        }
        // Backward shift: each later bucket of the chain that may live at the hole (its home
        // is not cyclically between the hole and itself) moves into it, leaving a new hole.
        let mut next = (hole + 1) & mask;
        loop {
            let bucket = self.buckets.get(next).copied().unwrap_or(EMPTY);
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
    fn empty_index_finds_nothing() {
        let mut index = SlotIndex::default();
        assert_eq!(index.find(7, |_| true), None);
        assert!(!index.remove(7, 0));
    }
}
