//! The slot table: session entries, generations and the LIFO free stack.

use crate::data::SideRecord;
use crate::handle::{Handle, MAX_SLOTS};
use crate::paged::{page_of, Paged, PagedStack, PAGE_SLOTS};

/// Keys up to this many bytes live inside the entry, so the default 16-byte random ids and
/// typical caller keys are compared without a pointer chase.
pub(crate) const INLINE_KEY: usize = 32;

/// Raw id bytes (random mode) or the key's UTF-8 bytes (caller mode).
#[derive(Debug)]
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    pub(crate) const EMPTY: Key = Key::Inline {
        len: 0,
        bytes: [0; INLINE_KEY],
    };

    pub(crate) fn new(key: &[u8]) -> Key {
        let mut bytes = [0u8; INLINE_KEY];
        match (bytes.get_mut(..key.len()), u8::try_from(key.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(key);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(key.into()),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Key::Heap(b) => b,
        }
    }

    /// Whether this is `key`. The default 16-byte random id is compared as one 16-byte word,
    /// inline, where a slice comparison calls `memcmp` (3% of a renewing lookup at 10^5).
    pub(crate) fn is(&self, key: &[u8]) -> bool {
        if let (Key::Inline { len: 16, bytes }, Ok(wanted)) = (self, <&[u8; 16]>::try_from(key)) {
            return bytes.first_chunk::<16>() == Some(wanted);
        }
        self.as_bytes() == key
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

/// Lifecycle of a slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SlotState {
    Free,
    Attached,
    Detached,
}

/// One session. 88 bytes on 64-bit targets (key 40, four f64 32, generation 4, state 1,
/// side record 8 (a thin pointer), padding 3); its wheel link (12 bytes) lives in the wheel's parallel array,
/// so a session costs about 100 bytes plus its index slot.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: Key,
    pub(crate) created_at: f64,
    pub(crate) last_activity: f64,
    pub(crate) idle_timeout: f64,
    pub(crate) absolute_timeout: f64,
    pub(crate) generation: u32,
    pub(crate) state: SlotState,
    /// User, roles and data in one block behind a thin pointer (src/data.rs).
    pub(crate) side: SideRecord,
}

impl Entry {
    /// The earlier of the idle and absolute deadlines, in f64 exactly as JS computes it.
    pub(crate) fn expires_at(&self) -> f64 {
        let mut at = f64::INFINITY;
        if self.idle_timeout > 0.0 {
            at = self.last_activity + self.idle_timeout;
        }
        if self.absolute_timeout > 0.0 {
            let abs = self.created_at + self.absolute_timeout;
            if abs < at {
                at = abs;
            }
        }
        at
    }

    pub(crate) fn alive(&self, now: f64) -> bool {
        now < self.expires_at()
    }
}

/// The slots' entries, in pages (src/paged.rs).
pub(crate) type Entries = Paged<Entry>;
// A page of entries is whole 4 KiB pages: the binding's allocator puts such blocks on huge
// pages, which a lookup's two cache misses then reach without TLB misses.
const _: () = assert!((PAGE_SLOTS * std::mem::size_of::<Entry>()).is_multiple_of(4096));

/// The generations a released page's slots had, kept so that each comes back as it left.
#[derive(Debug)]
enum SavedGenerations {
    /// Every slot at one generation: the usual case (each slot used as often as the others).
    Same(u32),
    Each(Box<[u32]>),
}

impl SavedGenerations {
    fn of(page: &[Entry]) -> SavedGenerations {
        match page.first().map(|e| e.generation) {
            Some(g) if page.iter().all(|e| e.generation == g) => SavedGenerations::Same(g),
            _ => SavedGenerations::Each(page.iter().map(|e| e.generation).collect()),
        }
    }

    fn get(&self, offset: usize) -> u32 {
        match self {
            SavedGenerations::Same(g) => *g,
            SavedGenerations::Each(all) => all.get(offset).copied().unwrap_or(0),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            SavedGenerations::Same(_) => 0,
            SavedGenerations::Each(all) => all.len() * std::mem::size_of::<u32>(),
        }
    }
}

/// A free slot holding nothing, at `generation`.
fn blank(generation: u32) -> Entry {
    Entry {
        key: Key::EMPTY,
        created_at: 0.0,
        last_activity: 0.0,
        idle_timeout: 0.0,
        absolute_timeout: 0.0,
        generation,
        state: SlotState::Free,
        side: SideRecord::default(),
    }
}

/// Entries indexed by slot plus the free stack. A slot is in use (attached or detached), on
/// the free stack, or retired (free at generation `generation_space`, on no stack).
///
/// A page whose slots are all free is released (its memory given back, its generations saved)
/// once a second page is empty: the last page emptied stays, so a table that hovers around a
/// page boundary does not allocate a page per create. A released page is made again, with its
/// saved generations, when the free stack hands out one of its slots, so slot order and
/// generations are exactly those of a table that never released anything.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) entries: Entries,
    free: PagedStack,
    attached: usize,
    max_slots: u32,
    /// Generations a slot has before it retires: [`crate::GENERATION_SPACE`], less in tests.
    generation_space: u32,
    /// Heap bytes of long keys and side records, kept current on every change so that
    /// `heap_bytes` is O(1): the binding reports memory to V8 while serving.
    string_bytes: usize,
    /// Per page: slots in use (attached or detached).
    in_use: Vec<u32>,
    /// Per page: the generations of a released page.
    saved: Vec<Option<SavedGenerations>>,
    saved_bytes: usize,
    /// The last page emptied, kept allocated.
    spare: Option<usize>,
}

fn side_bytes(side: &SideRecord) -> usize {
    side.heap_bytes()
}

impl Table {
    pub(crate) fn new(generation_space: u32) -> Table {
        Table {
            entries: Paged::default(),
            free: PagedStack::default(),
            attached: 0,
            string_bytes: 0,
            max_slots: MAX_SLOTS,
            generation_space,
            in_use: Vec::new(),
            saved: Vec::new(),
            saved_bytes: 0,
            spare: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_max_slots(&mut self, max: u32) {
        self.max_slots = max;
    }

    pub(crate) fn attached(&self) -> usize {
        self.attached
    }

    pub(crate) fn slot(&self, slot: u32) -> Option<&Entry> {
        self.entries.get(slot as usize)
    }

    pub(crate) fn slot_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.entries.get_mut(slot as usize)
    }

    /// The entry a handle names, if the handle is current.
    pub(crate) fn get(&self, h: Handle) -> Option<&Entry> {
        self.slot(h.slot())
            .filter(|e| e.state != SlotState::Free && e.generation == h.generation())
    }

    pub(crate) fn get_mut(&mut self, h: Handle) -> Option<&mut Entry> {
        self.slot_mut(h.slot())
            .filter(|e| e.state != SlotState::Free && e.generation == h.generation())
    }

    pub(crate) fn can_alloc(&self) -> bool {
        !self.free.is_empty() || self.entries.len() < self.max_slots as usize
    }

    /// Makes a released page again with the generations it left with. O(page).
    fn restore_page(&mut self, page: usize) {
        if self.entries.is_present(page) {
            return;
        }
        let saved = self.saved.get_mut(page).and_then(Option::take);
        self.saved_bytes -= saved.as_ref().map_or(0, SavedGenerations::heap_bytes);
        self.entries.make_page(page, |slot| {
            blank(saved.as_ref().map_or(0, |g| g.get(slot % PAGE_SLOTS)))
        });
    }

    /// Takes the top free slot or a new one and fills it as an attached session; returns the
    /// slot. O(1), or O(page) when its page is made (new, or made again after a release).
    pub(crate) fn alloc(
        &mut self,
        key: Key,
        now: f64,
        idle_timeout: f64,
        absolute_timeout: f64,
    ) -> Option<u32> {
        let mut entry = Entry {
            key,
            created_at: now,
            last_activity: now,
            idle_timeout,
            absolute_timeout,
            generation: 0,
            state: SlotState::Attached,
            side: SideRecord::default(),
        };
        let found = match self.free.last() {
            Some(slot) => {
                self.restore_page(page_of(slot as usize));
                let e = self.entries.get_mut(slot as usize)?;
                debug_assert!(
                    e.state == SlotState::Free && e.generation < self.generation_space,
                    "slot {slot} on the free stack is {:?} at generation {}",
                    e.state,
                    e.generation
                );
                entry.generation = e.generation;
                *e = entry;
                self.free.pop();
                slot
            }
            None => {
                if self.entries.len() >= self.max_slots as usize {
                    return None;
                }
                let slot = u32::try_from(self.entries.len()).ok()?;
                let page = page_of(slot as usize);
                if page == self.in_use.len() {
                    self.in_use.push(0);
                    self.saved.push(None);
                } else {
                    self.restore_page(page);
                }
                self.entries.push(entry);
                slot
            }
        };
        let page = page_of(found as usize);
        if let Some(n) = self.in_use.get_mut(page) {
            *n += 1;
        }
        if self.spare == Some(page) {
            self.spare = None;
        }
        if let Some(e) = self.entries.get(found as usize) {
            self.string_bytes += e.key.heap_bytes();
        }
        self.attached += 1;
        Some(found)
    }

    /// Counts an attached session as detached.
    pub(crate) fn mark_detached(&mut self, slot: u32) {
        let e = self.entries.get_mut(slot as usize);
        debug_assert!(
            e.as_ref().is_some_and(|e| e.state == SlotState::Attached),
            "detaching slot {slot}, which is not attached"
        );
        if let Some(e) = e.filter(|e| e.state == SlotState::Attached) {
            e.state = SlotState::Detached;
            self.attached -= 1;
        }
    }

    /// Frees a detached slot: drops its key and side record and bumps the generation so that
    /// every outstanding handle goes stale. The slot goes back on the free stack, unless the
    /// generation it just ended was its last: then the slot is retired, free and off the
    /// stack for good, so that no (slot, generation) is ever issued twice and a handle kept
    /// from any session of it stays stale. Retired slots still count against `max_slots`.
    /// Returns the page released by this free, if one was (the caller releases what it keeps
    /// per slot on that page too).
    pub(crate) fn free(&mut self, slot: u32) -> Option<usize> {
        let e = self.entries.get_mut(slot as usize);
        debug_assert!(
            e.as_ref().is_some_and(|e| e.state == SlotState::Detached),
            "freeing slot {slot}, which is not detached"
        );
        let e = e.filter(|e| e.state == SlotState::Detached)?;
        e.state = SlotState::Free;
        e.generation += 1;
        self.string_bytes -= e.key.heap_bytes() + side_bytes(&e.side);
        e.key = Key::EMPTY;
        e.side = SideRecord::default();
        if e.generation < self.generation_space {
            self.free.push(slot);
        }
        let page = page_of(slot as usize);
        let n = self.in_use.get_mut(page)?;
        *n -= 1;
        if *n > 0 {
            return None;
        }
        let older = self.spare.replace(page)?;
        if older == page || self.in_use.get(older) != Some(&0) {
            return None;
        }
        self.release_page(older).then_some(older)
    }

    /// Gives an empty page's memory back, saving its generations.
    fn release_page(&mut self, page: usize) -> bool {
        let Some(entries) = self.entries.release_page(page) else {
            return false;
        };
        debug_assert!(
            entries
                .iter()
                .all(|e| e.state == SlotState::Free && e.side.is_empty()),
            "released page {page} holds a session"
        );
        let saved = SavedGenerations::of(&entries);
        self.saved_bytes += saved.heap_bytes();
        if let Some(place) = self.saved.get_mut(page) {
            *place = Some(saved);
        }
        true
    }

    /// A slot's generation, saved or in its entry; `None` past the end.
    #[cfg(any(test, debug_assertions))]
    fn generation_of(&self, slot: usize) -> Option<u32> {
        if slot >= self.entries.len() {
            return None;
        }
        match self.entries.get(slot) {
            Some(e) => Some(e.generation),
            None => self
                .saved
                .get(page_of(slot))?
                .as_ref()
                .map(|g| g.get(slot % PAGE_SLOTS)),
        }
    }

    /// Checks the counts, the pages and the free stack against the entries (debug and test
    /// builds).
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn check(&self) -> Result<(), String> {
        let attached = self
            .entries
            .iter_from(0)
            .filter(|(_, e)| e.state == SlotState::Attached)
            .count();
        if attached != self.attached {
            return Err(format!(
                "{attached} attached entries, counted {}",
                self.attached
            ));
        }
        let strings: usize = self
            .entries
            .iter_from(0)
            .map(|(_, e)| e.key.heap_bytes() + side_bytes(&e.side))
            .sum();
        if strings != self.string_bytes {
            return Err(format!(
                "{strings} string bytes, counted {}",
                self.string_bytes
            ));
        }
        let mut in_use = vec![0u32; self.in_use.len()];
        for (slot, e) in self.entries.iter_from(0) {
            if e.state != SlotState::Free {
                if let Some(n) = in_use.get_mut(page_of(slot)) {
                    *n += 1;
                }
            }
        }
        if in_use != self.in_use {
            return Err("the per-page counts of slots in use are off".into());
        }
        for (page, saved) in self.saved.iter().enumerate() {
            let present = self.entries.is_present(page);
            if present == saved.is_some() {
                return Err(format!(
                    "page {page}: present {present}, saved generations {}",
                    saved.is_some()
                ));
            }
        }
        let mut on_stack = vec![false; self.entries.len()];
        for slot in self.free.iter() {
            let generation = self
                .generation_of(slot as usize)
                .ok_or(format!("free slot {slot} out of range"))?;
            let free = self
                .entries
                .get(slot as usize)
                .is_none_or(|e| e.state == SlotState::Free);
            if !free || generation >= self.generation_space {
                return Err(format!(
                    "free stack holds slot {slot}: free {free} gen {generation}"
                ));
            }
            if std::mem::replace(&mut on_stack[slot as usize], true) {
                return Err(format!("slot {slot} is on the free stack twice"));
            }
        }
        for (slot, stacked) in on_stack.iter().enumerate() {
            let generation = self.generation_of(slot).unwrap_or(0);
            let entry = self.entries.get(slot);
            let free = entry.is_none_or(|e| e.state == SlotState::Free);
            let retired = generation >= self.generation_space;
            if free && !retired && !stacked {
                return Err(format!(
                    "free slot {slot} is lost: neither on the stack nor retired"
                ));
            }
            if free && entry.is_some_and(|e| !e.key.as_bytes().is_empty() || !e.side.is_empty()) {
                return Err(format!(
                    "free slot {slot} still holds a key or a side record"
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.heap_bytes()
            + self.free.heap_bytes()
            + self.string_bytes
            + self.saved_bytes
            + self.in_use.capacity() * std::mem::size_of::<u32>()
            + self.saved.capacity() * std::mem::size_of::<Option<SavedGenerations>>()
    }

    /// Replaces a slot's key, keeping the byte count current.
    pub(crate) fn replace_key(&mut self, slot: u32, key: Key) {
        if let Some(e) = self.entries.get_mut(slot as usize) {
            self.string_bytes = self.string_bytes + key.heap_bytes() - e.key.heap_bytes();
            e.key = key;
        }
    }

    /// Runs `change` on a live handle's side record, keeping the byte count current. `None`
    /// when the handle is stale.
    pub(crate) fn change_side<R>(
        &mut self,
        h: Handle,
        change: impl FnOnce(&mut SideRecord) -> R,
    ) -> Option<R> {
        let e = self.get_mut(h)?;
        let before = side_bytes(&e.side);
        let result = change(&mut e.side);
        let after = side_bytes(&e.side);
        self.string_bytes = self.string_bytes + after - before;
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_compact() {
        assert_eq!(std::mem::size_of::<Key>(), 40);
        assert_eq!(std::mem::size_of::<Entry>(), 88);
    }

    #[test]
    fn a_key_is_exactly_its_bytes_whatever_their_length() {
        let lengths = [0usize, 1, 15, 16, 17, 32, 33, 64];
        for n in lengths {
            let raw: Vec<u8> = (0..n).map(|i| i as u8 ^ 0x5a).collect();
            let k = Key::new(&raw);
            assert!(k.is(&raw), "{n} bytes");
            for m in lengths {
                let mut other: Vec<u8> = (0..m).map(|i| i as u8 ^ 0x5a).collect();
                assert_eq!(k.is(&other), n == m, "{n} against {m} bytes");
                // The same length, one byte off: at its first, its last, and past a 16-byte prefix.
                for at in [0, m.saturating_sub(1), 16]
                    .into_iter()
                    .filter(|&at| at < m)
                {
                    other[at] ^= 1;
                    assert!(!k.is(&other), "{n} bytes, byte {at} of {m} flipped");
                    other[at] ^= 1;
                }
            }
        }
    }

    #[test]
    fn keys_inline_and_boxed() {
        for n in [0usize, 1, 16, 32, 33, 64, 255] {
            let raw: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let k = Key::new(&raw);
            assert_eq!(k.as_bytes(), &raw[..]);
            assert_eq!(matches!(k, Key::Inline { .. }), n <= INLINE_KEY);
        }
    }

    #[test]
    fn lifo_reuse_and_generations() {
        let mut t = Table::new(crate::GENERATION_SPACE);
        t.set_max_slots(2);
        let a = t.alloc(Key::new(b"a"), 0.0, 0.0, 0.0).unwrap();
        let b = t.alloc(Key::new(b"b"), 0.0, 0.0, 0.0).unwrap();
        assert!(!t.can_alloc());
        assert!(t.alloc(Key::new(b"c"), 0.0, 0.0, 0.0).is_none());
        t.mark_detached(a);
        t.free(a);
        t.mark_detached(b);
        t.free(b);
        assert_eq!(t.alloc(Key::new(b"c"), 0.0, 0.0, 0.0), Some(b));
        assert_eq!(t.slot(b).unwrap().generation, 1);
        assert!(t.get(Handle::new(b, 0)).is_none());
        assert!(t.get(Handle::new(b, 1)).is_some());
        assert_eq!(t.attached(), 1);
    }

    #[test]
    fn a_retired_slot_holds_nothing_and_is_never_handed_out() {
        let mut t = Table::new(2);
        t.set_max_slots(1);
        for generation in 0..2 {
            let slot = t.alloc(Key::new(&[b'k'; 100]), 0.0, 0.0, 0.0).unwrap();
            assert_eq!((slot, t.slot(0).unwrap().generation), (0, generation));
            t.change_side(Handle::new(0, generation), |side| {
                side.set_user(Some("alice"))
            })
            .unwrap();
            assert!(t.string_bytes > 100);
            t.mark_detached(0);
            t.free(0);
        }
        let e = t.slot(0).unwrap();
        assert_eq!((e.state, e.generation), (SlotState::Free, 2));
        assert!(e.key.as_bytes().is_empty() && e.side.is_empty());
        assert_eq!(t.string_bytes, 0);
        assert!(t.free.is_empty());
        assert!(!t.can_alloc());
        assert!(t.alloc(Key::new(b"k"), 0.0, 0.0, 0.0).is_none());
        assert_eq!(t.string_bytes, 0);
        assert!(t.get(Handle::new(0, 1)).is_none());
    }
}
