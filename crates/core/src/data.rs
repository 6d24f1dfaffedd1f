//! The per-session side record: user, roles and string data in one allocation.
//!
//! The record is one block, sized to the record rounded up to 8 bytes, whose bytes are the tail
//! of a Session record of the session file (docs/persistence-format.md), the first byte aside
//! (its spare bits count the last chunk's padding, [`USER_BIT`]), so a snapshot writes it with
//! one copy and a load copies a record's tail in one piece:
//!
//! ```text
//! u8 hasUser (0/1) [u32 len, user]   u32 n, n × (u32 len, role)   u32 m, m × (u32 len, key, u32 len, value)
//! ```
//!
//! Lengths are little-endian byte counts of UTF-8 text; data entries are in insertion order. A
//! session with nothing (no user, no roles, no data) holds no block at all, and the block sits
//! behind a thin pointer (8 bytes in the slot entry; the allocation holds its element count and
//! capacity, then the record in whole 8-byte chunks). Before, a session of 5 entries held 12
//! allocations (the record, its entry list, one per key and per value): about 456 bytes in
//! mimalloc's size classes for the benchmark's ~177 bytes of text, against one of 224 now.
//!
//! Costs, with `n` the keys and `s` the block's bytes: a read of one key scans the entries,
//! O(n) (sessions hold few keys, and a scan of one block beats a map in memory and, at these
//! sizes, in time); a write or delete is one scan plus one move of the bytes after the entry
//! and a `realloc` to the exact new size, O(s) whatever the number of keys; building a record
//! at once (a create with data, a restore) is O(s), or O(s + n) with a hash set when more than
//! [`LINEAR_KEYS`] keys must be checked for repeats.

use std::collections::HashMap;
use std::ops::Range;

use foldhash::fast::RandomState;
use thin_vec::ThinVec;

/// The record of a session with nothing: no user, no roles, no data.
const NOTHING: [u8; 9] = [0; 9];

/// Bytes at the head of a block's allocation (its length and capacity, two `usize`).
const BLOCK_HEADER: usize = 2 * std::mem::size_of::<usize>();

/// The unit a block is allocated in. `ThinVec` fills element by element; in 8-byte elements a
/// record of 208 bytes is written with 26 stores rather than 208 (measured: the byte loop was
/// 4-6% of a create and of a load, `perf`).
type Chunk = [u8; 8];
const CHUNK: usize = std::mem::size_of::<Chunk>();

/// The user flag's bit in a record's first byte. The block keeps in bits 1-3 of that byte how
/// many bytes of its last chunk are padding (zeros), so it needs no length field: a record of
/// `n` bytes takes `ceil(n / 8)` chunks. The record's own flag is 0 or 1, so a reader masks the
/// byte, and [`SideRecord::write_record`] writes it masked.
const USER_BIT: u8 = 1;

/// A record's allocation, in whole chunks (see [`USER_BIT`]). Empty (no allocation) for a
/// session with nothing.
#[derive(Debug, Default)]
struct Block(ThinVec<Chunk>);

impl Block {
    /// A block holding a record of `len` zero bytes.
    fn zeroed(len: usize) -> Block {
        let chunks = len.div_ceil(CHUNK);
        let mut block = ThinVec::with_capacity(chunks);
        block.extend(std::iter::repeat_n([0; CHUNK], chunks));
        let mut block = Block(block);
        block.mark_len(len);
        block
    }

    /// Records in the first byte that the record is `len` bytes long (the chunks must fit it):
    /// call after every write of the first byte.
    fn mark_len(&mut self, len: usize) {
        let padding = (self.0.len() * CHUNK).saturating_sub(len) as u8;
        debug_assert!(
            padding < CHUNK as u8,
            "a block of {} chunks for {len} bytes",
            self.0.len()
        );
        if let Some(first) = self.0.as_flattened_mut().first_mut() {
            *first = (*first & USER_BIT) | (padding << 1);
        }
    }

    fn len(&self) -> usize {
        let bytes = self.0.as_flattened();
        let padding = bytes
            .first()
            .map_or(0, |first| usize::from((first >> 1) & 7));
        bytes.len().saturating_sub(padding)
    }

    /// The record, its first byte carrying the padding bits.
    fn record(&self) -> &[u8] {
        let len = self.len();
        self.0.as_flattened().get(..len).unwrap_or_default()
    }

    fn record_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        self.0.as_flattened_mut().get_mut(..len).unwrap_or_default()
    }

    /// Resizes the record to `len` bytes, keeping its first bytes and zeroing the rest: a
    /// `realloc` to the exact chunk count (in place within mimalloc's size class).
    fn resize(&mut self, len: usize) {
        let old = self.len();
        let chunks = len.div_ceil(CHUNK);
        let have = self.0.len();
        if chunks > have {
            self.0.reserve_exact(chunks - have);
            self.0
                .extend(std::iter::repeat_n([0; CHUNK], chunks - have));
        }
        if len < old {
            // Zeros after the record, so that a block's bytes depend on its record alone.
            if let Some(rest) = self.0.as_flattened_mut().get_mut(len..) {
                rest.fill(0);
            }
        }
        if chunks < have {
            self.0.truncate(chunks);
            self.0.shrink_to_fit();
        }
        self.mark_len(len);
    }

    fn heap_bytes(&self) -> usize {
        match self.0.capacity() {
            0 => 0,
            capacity => BLOCK_HEADER + capacity * CHUNK,
        }
    }
}

/// Writes byte strings one after another into a record.
struct Cursor<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(place) = self.out.get_mut(self.at..self.at + bytes.len()) {
            place.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

/// Up to this many keys, repeats are found by comparing pairs; beyond, with a hash set (so a
/// create with thousands of keys stays O(size)).
pub(crate) const LINEAR_KEYS: usize = 16;

/// Data, user and roles of one session.
#[derive(Debug, Default)]
pub(crate) struct SideRecord {
    /// Empty for a session with nothing (no allocation); otherwise the whole record, which
    /// never equals [`NOTHING`] (a change that empties it frees the block).
    block: Block,
}

/// The data would exceed `max_data_bytes` (or a string its 4 GiB length field).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// What building a record does with an entry that would take the data over the cap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OverCap {
    /// Stop there, as a run of `set_data` calls that stops at its first failure (a create).
    Stop,
    /// Skip it and go on, as a run that ignores failures (a restore under a lowered cap).
    Skip,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word) as usize)
}

/// The little-endian length field of `text`, or `None` past 4 GiB.
fn len32(text: &str) -> Option<[u8; 4]> {
    u32::try_from(text.len()).ok().map(u32::to_le_bytes)
}

/// The text of the string field at `at` (a length, then that many bytes) and where the field
/// after it starts.
fn field(bytes: &[u8], at: usize) -> Option<(Range<usize>, usize)> {
    let start = at.checked_add(4)?;
    let end = start.checked_add(u32_at(bytes, at)?)?;
    (end <= bytes.len()).then_some((start..end, end))
}

fn text(bytes: &[u8], range: Range<usize>) -> Option<&str> {
    std::str::from_utf8(bytes.get(range)?).ok()
}

/// Where the roles' count is: after the user flag and, when set, the user.
fn roles_at(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? & USER_BIT {
        0 => Some(1),
        _ => field(bytes, 1).map(|(_, next)| next),
    }
}

/// Where the data's count is: after the roles.
fn data_at(bytes: &[u8]) -> Option<usize> {
    let mut at = roles_at(bytes)?;
    let roles = u32_at(bytes, at)?;
    at += 4;
    for _ in 0..roles {
        at = field(bytes, at)?.1;
    }
    Some(at)
}

/// A data entry in place: where it starts, its key's and its value's text, where it ends.
struct Slot {
    start: usize,
    key: Range<usize>,
    value: Range<usize>,
    end: usize,
}

/// The data entries of a record, in order.
struct Slots<'a> {
    bytes: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Slots<'a> {
    fn of(bytes: &'a [u8]) -> Slots<'a> {
        let (at, left) = data_at(bytes)
            .and_then(|at| Some((at + 4, u32_at(bytes, at)?)))
            .unwrap_or((0, 0));
        Slots { bytes, at, left }
    }
}

impl Iterator for Slots<'_> {
    type Item = Slot;

    fn next(&mut self) -> Option<Slot> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let start = self.at;
        let (key, after_key) = field(self.bytes, start)?;
        let (value, end) = field(self.bytes, after_key)?;
        self.at = end;
        Some(Slot {
            start,
            key,
            value,
            end,
        })
    }
}

impl SideRecord {
    /// The record's bytes, its first byte carrying the block's padding bits ([`USER_BIT`]).
    fn record(&self) -> &[u8] {
        if self.block.0.is_empty() {
            &NOTHING
        } else {
            self.block.record()
        }
    }

    fn find(&self, key: &str) -> Option<Slot> {
        let bytes = self.record();
        Slots::of(bytes).find(|s| bytes.get(s.key.clone()) == Some(key.as_bytes()))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        let slot = self.find(key)?;
        text(self.record(), slot.value)
    }

    /// Every (key, value) in insertion order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        let bytes = self.record();
        Slots::of(bytes).filter_map(move |s| Some((text(bytes, s.key)?, text(bytes, s.value)?)))
    }

    pub(crate) fn keys(&self) -> Vec<&str> {
        let bytes = self.record();
        Slots::of(bytes)
            .filter_map(|s| text(bytes, s.key))
            .collect()
    }

    /// True when the record holds no data entry (a user or roles perhaps). O(roles).
    pub(crate) fn has_no_data(&self) -> bool {
        Slots::of(self.record()).left == 0
    }

    /// UTF-8 bytes of all keys and values. O(roles): the block's length less its framing.
    pub(crate) fn data_bytes(&self) -> usize {
        let bytes = self.record();
        let Some(at) = data_at(bytes) else {
            return 0;
        };
        let count = u32_at(bytes, at).unwrap_or(0);
        bytes.len().saturating_sub(at + 4 + 8 * count)
    }

    /// Stores `value` under `key` (a replaced key keeps its place), unless the data would then
    /// exceed `max` bytes: nothing changes then. O(size).
    pub(crate) fn set(&mut self, key: &str, value: &str, max: usize) -> Result<(), TooLarge> {
        let (Some(key_len), Some(value_len)) = (len32(key), len32(value)) else {
            return Err(TooLarge);
        };
        let found = self.find(key);
        let old = found.as_ref().map_or(0, |s| s.key.len() + s.value.len());
        let total = self
            .data_bytes()
            .saturating_sub(old)
            .checked_add(key.len() + value.len())
            .ok_or(TooLarge)?;
        if total > max {
            return Err(TooLarge);
        }
        match found {
            Some(slot) => {
                self.splice(
                    slot.value.start - 4..slot.value.end,
                    &[&value_len, value.as_bytes()],
                );
            }
            None => {
                let bytes = self.record();
                let (Some(at), end) = (data_at(bytes), bytes.len()) else {
                    return Err(TooLarge);
                };
                let count = u32_at(bytes, at).unwrap_or(0);
                let Ok(count) = u32::try_from(count + 1) else {
                    return Err(TooLarge);
                };
                let parts: [&[u8]; 4] = [&key_len, key.as_bytes(), &value_len, value.as_bytes()];
                self.splice(end..end, &parts);
                if let Some(field) = self.block.record_mut().get_mut(at..at + 4) {
                    field.copy_from_slice(&count.to_le_bytes());
                }
            }
        }
        Ok(())
    }

    /// Removes a data key; true when it was present. O(size).
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        let Some(slot) = self.find(key) else {
            return false;
        };
        let at = data_at(self.record()).unwrap_or(0);
        let count = u32_at(self.record(), at).unwrap_or(1);
        self.splice(slot.start..slot.end, &[]);
        // Counts are below 2^32: one less still is.
        let count = u32::try_from(count.saturating_sub(1)).unwrap_or(0);
        if let Some(field) = self.block.record_mut().get_mut(at..at + 4) {
            field.copy_from_slice(&count.to_le_bytes());
        }
        self.settle();
        true
    }

    pub(crate) fn user(&self) -> Option<&str> {
        let bytes = self.record();
        match bytes.first()? & USER_BIT {
            0 => None,
            _ => text(bytes, field(bytes, 1)?.0),
        }
    }

    /// O(1): what the eviction class reads.
    pub(crate) fn has_user(&self) -> bool {
        self.block
            .0
            .first()
            .is_some_and(|first| first[0] & USER_BIT != 0)
    }

    /// Sets or clears the user; a user over 4 GiB (no JS string is) clears it. O(size).
    pub(crate) fn set_user(&mut self, user: Option<&str>) {
        if user.is_none() && self.is_empty() {
            return;
        }
        let end = roles_at(self.record()).unwrap_or(1);
        match user.and_then(|u| Some((len32(u)?, u))) {
            Some((len, user)) => self.splice(0..end, &[&[1], &len, user.as_bytes()]),
            None => self.splice(0..end, &[&[0]]),
        }
        self.settle();
    }

    pub(crate) fn roles(&self) -> Vec<&str> {
        let bytes = self.record();
        let Some(mut at) = roles_at(bytes) else {
            return Vec::new();
        };
        let count = u32_at(bytes, at).unwrap_or(0);
        at += 4;
        let mut roles = Vec::with_capacity(count.min(bytes.len() / 4));
        for _ in 0..count {
            let Some((range, next)) = field(bytes, at) else {
                break;
            };
            roles.extend(text(bytes, range));
            at = next;
        }
        roles
    }

    /// Replaces the roles; a role over 4 GiB (no JS string is) is left out. O(size).
    pub(crate) fn set_roles<S: AsRef<str>>(&mut self, roles: &[S]) {
        if roles.is_empty() && self.is_empty() {
            return;
        }
        let bytes = self.record();
        let (Some(start), Some(end)) = (roles_at(bytes), data_at(bytes)) else {
            return;
        };
        let section = roles_section(roles);
        self.splice(start..end, &[&section]);
        self.settle();
    }

    /// A record built in one go: `user`, `roles`, and each data entry in order as
    /// [`SideRecord::set`] would store it under the cap `max`, an entry that would take the
    /// data over it ending the data ([`OverCap::Stop`]) or left out ([`OverCap::Skip`]).
    /// Returns the record and whether every entry was stored. One allocation, sized exactly;
    /// O(size) (a list of the entries kept is made only when keys repeat or one does not fit).
    pub(crate) fn build<'s, S: AsRef<str>, I>(
        user: Option<&str>,
        roles: &[S],
        data: I,
        max: usize,
        over_cap: OverCap,
    ) -> (SideRecord, bool)
    where
        I: ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
    {
        match plain_data(data.clone(), max) {
            Some(framed) => (write(user, roles, data, framed), true),
            None => {
                let (kept, all) = keep(data, max, over_cap);
                let framed = kept.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
                (write(user, roles, kept.into_iter(), framed), all)
            }
        }
    }

    /// A record from a Session record's tail as the session file holds it, already checked by
    /// the reader (framing, UTF-8, distinct data keys): one allocation, one copy.
    pub(crate) fn from_record(tail: &[u8]) -> SideRecord {
        if tail == NOTHING {
            return SideRecord::default();
        }
        let mut block = Block::zeroed(tail.len());
        Cursor {
            out: block.record_mut(),
            at: 0,
        }
        .put(tail);
        block.mark_len(tail.len());
        SideRecord { block }
    }

    /// True when the record holds nothing (and no block).
    pub(crate) fn is_empty(&self) -> bool {
        self.block.0.is_empty()
    }

    /// Appends the record as the session file holds it: the tail of a Session record
    /// (docs/persistence-format.md). O(bytes), one copy.
    pub(crate) fn write_record(&self, out: &mut Vec<u8>) {
        let record = self.record();
        out.push(record.first().map_or(0, |first| first & USER_BIT));
        out.extend_from_slice(record.get(1..).unwrap_or_default());
    }

    /// Heap bytes of the block: its header and capacity (mimalloc's rounding not counted).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.block.heap_bytes()
    }

    /// Replaces `range` of the record with `parts`, moving the bytes after it once and resizing
    /// the block to the exact new length (a `realloc`: in place within mimalloc's size class).
    fn splice(&mut self, range: Range<usize>, parts: &[&[u8]]) {
        let old_len = self.record().len();
        let added: usize = parts.iter().map(|p| p.len()).sum();
        let Some(new_len) = (old_len - range.len()).checked_add(added) else {
            return;
        };
        if self.is_empty() {
            // The first change of a session with nothing: build the block at its size.
            let mut block = Block::zeroed(new_len);
            let mut out = Cursor {
                out: block.record_mut(),
                at: 0,
            };
            out.put(NOTHING.get(..range.start).unwrap_or_default());
            for part in parts {
                out.put(part);
            }
            out.put(NOTHING.get(range.end..).unwrap_or_default());
            block.mark_len(new_len);
            self.block = block;
            return;
        }
        let tail = range.end..old_len;
        let to = range.start + added;
        if new_len > old_len {
            self.block.resize(new_len);
            self.block.record_mut().copy_within(tail, to);
        } else {
            self.block.record_mut().copy_within(tail, to);
            self.block.resize(new_len);
        }
        let mut out = Cursor {
            out: self.block.record_mut(),
            at: range.start,
        };
        for part in parts {
            out.put(part);
        }
        self.block.mark_len(new_len);
    }

    /// Frees the block once it holds nothing.
    fn settle(&mut self) {
        let record = self.block.record();
        let nothing = record.len() == NOTHING.len()
            && record.first().is_some_and(|first| first & USER_BIT == 0)
            && record
                .get(1..)
                .is_some_and(|rest| rest.iter().all(|b| *b == 0));
        if nothing {
            self.block = Block::default();
        }
    }
}

/// The framed bytes of `data` when its keys are distinct, each string fits a length field and
/// the text fits under `max`: then the data goes into a record as it is.
fn plain_data<'s, I>(data: I, max: usize) -> Option<usize>
where
    I: ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
{
    let mut text = 0usize;
    for (key, value) in data.clone() {
        len32(key)?;
        len32(value)?;
        text = text.checked_add(key.len() + value.len())?;
    }
    if text > max {
        return None;
    }
    let n = data.len();
    if !distinct_keys(data) {
        return None;
    }
    text.checked_add(8 * n)
}

/// True when no key of `data` repeats: O(n), with a hash set past [`LINEAR_KEYS`] keys.
pub(crate) fn distinct_keys<'s, I>(data: I) -> bool
where
    I: ExactSizeIterator<Item = (&'s str, &'s str)> + Clone,
{
    let n = data.len();
    if n <= LINEAR_KEYS {
        return data
            .clone()
            .enumerate()
            .all(|(i, (key, _))| data.clone().take(i).all(|(other, _)| other != key));
    }
    let mut seen = HashMap::with_capacity_and_hasher(n, RandomState::default());
    data.into_iter()
        .all(|(key, _)| seen.insert(key, ()).is_none())
}

/// The entries [`SideRecord::set`] run on each in order would leave (a repeated key replaces
/// the value in its first place), each that would go over `max` ending the run or skipped.
/// O(n), with an index once more than [`LINEAR_KEYS`] keys are kept.
fn keep<'s>(
    data: impl Iterator<Item = (&'s str, &'s str)>,
    max: usize,
    over_cap: OverCap,
) -> (Vec<(&'s str, &'s str)>, bool) {
    let mut kept: Vec<(&'s str, &'s str)> = Vec::new();
    let mut index: Option<HashMap<&'s str, usize, RandomState>> = None;
    let mut total = 0usize;
    let mut all = true;
    for (key, value) in data {
        let position = match &index {
            Some(index) => index.get(key).copied(),
            None => kept.iter().position(|(other, _)| *other == key),
        };
        let old = position
            .and_then(|i| kept.get(i))
            .map_or(0, |(k, v)| k.len() + v.len());
        let fits = len32(key).is_some() && len32(value).is_some();
        let Some(new_total) = (total - old)
            .checked_add(key.len() + value.len())
            .filter(|t| fits && *t <= max)
        else {
            all = false;
            match over_cap {
                OverCap::Stop => break,
                OverCap::Skip => continue,
            }
        };
        total = new_total;
        match position.and_then(|i| kept.get_mut(i)) {
            Some(entry) => entry.1 = value,
            None => {
                kept.push((key, value));
                match &mut index {
                    Some(index) => {
                        index.insert(key, kept.len() - 1);
                    }
                    None if kept.len() > LINEAR_KEYS => {
                        let mut built = HashMap::with_hasher(RandomState::default());
                        built.extend(kept.iter().enumerate().map(|(i, (k, _))| (*k, i)));
                        index = Some(built);
                    }
                    None => {}
                }
            }
        }
    }
    (kept, all)
}

/// The roles' section: their count, then each role (one over 4 GiB left out).
fn roles_section<S: AsRef<str>>(roles: &[S]) -> Vec<u8> {
    let fitting = || {
        roles
            .iter()
            .filter_map(|r| Some((len32(r.as_ref())?, r.as_ref())))
    };
    let count = u32::try_from(fitting().count()).unwrap_or(u32::MAX);
    let mut section = Vec::with_capacity(4 + fitting().map(|(_, r)| 4 + r.len()).sum::<usize>());
    section.extend_from_slice(&count.to_le_bytes());
    for (len, role) in fitting() {
        section.extend_from_slice(&len);
        section.extend_from_slice(role.as_bytes());
    }
    section
}

/// A record of `user`, `roles` and the entries of `data` (distinct keys, each fitting its length
/// field, `framed` bytes with their length fields), in one allocation of the exact size.
fn write<'s, S: AsRef<str>>(
    user: Option<&str>,
    roles: &[S],
    data: impl ExactSizeIterator<Item = (&'s str, &'s str)>,
    framed: usize,
) -> SideRecord {
    let user = user.and_then(|u| Some((len32(u)?, u)));
    let count = data.len();
    if user.is_none() && roles.is_empty() && count == 0 {
        return SideRecord::default();
    }
    let fitting = || {
        roles
            .iter()
            .filter_map(|r| Some((len32(r.as_ref())?, r.as_ref())))
    };
    let roles_framed: usize = fitting().map(|(_, r)| 4 + r.len()).sum();
    let size = 1 + user.map_or(0, |(_, u)| 4 + u.len()) + 4 + roles_framed + 4 + framed;
    let mut block = Block::zeroed(size);
    let mut out = Cursor {
        out: block.record_mut(),
        at: 0,
    };
    match user {
        Some((len, user)) => {
            out.put(&[1]);
            out.put(&len);
            out.put(user.as_bytes());
        }
        None => out.put(&[0]),
    }
    out.put(
        &u32::try_from(fitting().count())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for (len, role) in fitting() {
        out.put(&len);
        out.put(role.as_bytes());
    }
    out.put(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
    for (key, value) in data {
        out.put(&len32(key).unwrap_or_default());
        out.put(key.as_bytes());
        out.put(&len32(value).unwrap_or_default());
        out.put(value.as_bytes());
    }
    debug_assert_eq!(out.at, size, "a record built at a size it does not have");
    block.mark_len(size);
    let mut record = SideRecord { block };
    record.settle();
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(r: &mut SideRecord, k: &str, v: &str) {
        r.set(k, v, usize::MAX).unwrap();
    }

    /// The record as the session file gets it.
    fn written(r: &SideRecord) -> Vec<u8> {
        let mut out = Vec::new();
        r.write_record(&mut out);
        out
    }

    /// Heap bytes of a block holding `r`'s record in whole chunks.
    fn exact(r: &SideRecord) -> usize {
        match written(r).len().div_ceil(CHUNK) {
            _ if r.is_empty() => 0,
            chunks => BLOCK_HEADER + CHUNK * chunks,
        }
    }

    /// The record as the session file's writer spells a Session record's tail.
    fn spelled(user: Option<&str>, roles: &[&str], data: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        let str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        match user {
            Some(u) => {
                out.push(1);
                str(&mut out, u);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(roles.len() as u32).to_le_bytes());
        for r in roles {
            str(&mut out, r);
        }
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        for (k, v) in data {
            str(&mut out, k);
            str(&mut out, v);
        }
        out
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
        assert_eq!(r.set("b", "é", 4), Ok(()));
        assert_eq!(r.set("b", "éé", 4), Err(TooLarge));
        assert_eq!(r.get("b"), Some("é"));
        assert!(!r.is_empty());
        r.delete("a");
        r.delete("b");
        assert!(r.is_empty());
        r.set_roles(&["x", "y"]);
        assert_eq!(r.roles(), ["x", "y"]);
        r.set_user(Some("u"));
        assert_eq!(r.user(), Some("u"));
        assert!(r.has_user());
    }

    #[test]
    fn the_block_is_the_session_records_tail_after_every_kind_of_change() {
        let mut r = SideRecord::default();
        assert_eq!(written(&r), spelled(None, &[], &[]));
        set(&mut r, "theme", "dark");
        r.set_user(Some("alice"));
        r.set_roles(&["admin", "ops"]);
        set(&mut r, "cart", "sku-1");
        set(&mut r, "theme", "a much longer theme value");
        assert_eq!(
            written(&r),
            spelled(
                Some("alice"),
                &["admin", "ops"],
                &[("theme", "a much longer theme value"), ("cart", "sku-1")]
            )
        );
        set(&mut r, "theme", "");
        r.set_user(None);
        r.set_roles(&["x"]);
        assert!(r.delete("cart"));
        assert_eq!(written(&r), spelled(None, &["x"], &[("theme", "")]));
        assert_eq!(r.entries().collect::<Vec<_>>(), [("theme", "")]);
        // Sized exactly after growing and shrinking.
        assert_eq!(r.heap_bytes(), exact(&r));
        r.set_roles::<&str>(&[]);
        assert!(r.delete("theme"));
        assert!(r.is_empty());
        assert_eq!(r.heap_bytes(), 0);
    }

    #[test]
    fn a_built_record_is_the_one_set_by_set_in_order() {
        let long: Vec<String> = (0..40).map(|i| format!("k{}", i % 25)).collect();
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("a", "1"), ("b", "22")],
            vec![("a", "1"), ("b", "22"), ("a", "4444"), ("c", "")],
            vec![("a", "123456"), ("b", "1"), ("c", "12")],
            long.iter().map(|k| (k.as_str(), "vv")).collect(),
        ];
        for data in &cases {
            for max in [0, 3, 7, 12, 60, usize::MAX] {
                for over_cap in [OverCap::Stop, OverCap::Skip] {
                    let (built, all) =
                        SideRecord::build(Some("u"), &["r"], data.iter().copied(), max, over_cap);
                    let mut by_set = SideRecord::default();
                    by_set.set_user(Some("u"));
                    by_set.set_roles(&["r"]);
                    let mut every = true;
                    for (k, v) in data {
                        if by_set.set(k, v, max).is_err() {
                            every = false;
                            if over_cap == OverCap::Stop {
                                break;
                            }
                        }
                    }
                    assert_eq!(
                        written(&built),
                        written(&by_set),
                        "{data:?} {max} {over_cap:?}"
                    );
                    assert_eq!(all, every);
                    assert_eq!(built.heap_bytes(), exact(&built));
                }
            }
        }
        let (nothing, all) =
            SideRecord::build::<&str, _>(None, &[], [].into_iter(), 0, OverCap::Stop);
        assert!(nothing.is_empty() && all);
    }

    #[test]
    fn every_padding_of_the_last_chunk_keeps_the_user_flag_and_the_length() {
        for n in 0..24 {
            let value = "v".repeat(n);
            for user in [None, Some("u")] {
                let mut r = SideRecord::default();
                set(&mut r, "k", &value);
                r.set_user(user);
                assert_eq!(
                    written(&r),
                    spelled(user, &[], &[("k", &value)]),
                    "{n} {user:?}"
                );
                assert_eq!(
                    (r.user(), r.has_user(), r.get("k")),
                    (user, user.is_some(), Some(&*value))
                );
                assert_eq!((r.data_bytes(), r.heap_bytes()), (1 + n, exact(&r)));
                let copied = SideRecord::from_record(&written(&r));
                assert_eq!(
                    (written(&copied), copied.has_user()),
                    (written(&r), user.is_some())
                );
                r.set_user(None);
                assert!(r.delete("k"));
                assert!(r.is_empty(), "{n} {user:?}");
            }
        }
    }

    #[test]
    fn a_record_tail_is_copied_as_it_is() {
        let tail = spelled(Some("bob"), &[], &[("a", "1"), ("b", "2")]);
        let r = SideRecord::from_record(&tail);
        assert_eq!(written(&r), tail);
        assert_eq!(
            (r.user(), r.get("b"), r.data_bytes()),
            (Some("bob"), Some("2"), 4)
        );
        assert!(SideRecord::from_record(&NOTHING).is_empty());
    }

    #[test]
    fn repeated_keys_are_found_by_pairs_and_by_hash() {
        let few = [("a", ""), ("b", ""), ("a", "")];
        assert!(!distinct_keys(few.iter().copied()));
        assert!(distinct_keys(few[..2].iter().copied()));
        let keys: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let mut many: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "")).collect();
        assert!(distinct_keys(many.iter().copied()));
        many.push(("57", ""));
        assert!(!distinct_keys(many.iter().copied()));
    }
}
