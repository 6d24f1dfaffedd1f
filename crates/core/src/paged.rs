//! Slot-indexed storage in fixed-size pages. Growing allocates one page and never moves what is
//! there, so no single call copies the whole table (a `Vec` doubling at 2^22 sessions copied
//! ~370 MB inside one create: 784 ms); a page can be given back to the allocator and made again
//! later, which is how an emptied table returns its memory.

/// Slots per page: 1,024 entries of ~90 bytes is ~90 KiB. A page that is made again after a
/// release is filled at once, and on a loaded machine each first touch of a 4 KiB memory page
/// costs a fault of tens of µs (a 360 KiB page cost ~5 ms of CPU in one create); the page list
/// stays short (~10,000 pages at 10^7). A new page is filled slot by slot as it is used.
pub(crate) const PAGE_BITS: u32 = 10;
pub(crate) const PAGE_SLOTS: usize = 1 << PAGE_BITS;
const PAGE_MASK: usize = PAGE_SLOTS - 1;

/// The page a slot is on.
pub(crate) fn page_of(slot: usize) -> usize {
    slot >> PAGE_BITS
}

/// Values for slots `0..len`, in pages that may each be absent (released). A slot on an absent
/// page reads as `None`, like one past the end.
#[derive(Debug)]
pub(crate) struct Paged<T> {
    /// Each page has room for `PAGE_SLOTS` from the start (it never reallocates) and holds the
    /// slots made so far: all of them once made again after a release.
    pages: Vec<Option<Vec<T>>>,
    len: usize,
    present: usize,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Paged {
            pages: Vec::new(),
            len: 0,
            present: 0,
        }
    }
}

impl<T> Paged<T> {
    /// Slots ever made: one past the highest.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&T> {
        if slot >= self.len {
            return None;
        }
        self.pages
            .get(page_of(slot))?
            .as_deref()?
            .get(slot & PAGE_MASK)
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        if slot >= self.len {
            return None;
        }
        self.pages
            .get_mut(page_of(slot))?
            .as_deref_mut()?
            .get_mut(slot & PAGE_MASK)
    }

    /// Appends a slot, starting a page when the last one is full. O(1): a new page is
    /// allocated, not filled, so its memory is touched a slot at a time. The last page must be
    /// present (made again if it was released).
    pub(crate) fn push(&mut self, value: T) {
        let slot = self.len;
        if slot & PAGE_MASK == 0 {
            self.pages.push(Some(Vec::with_capacity(PAGE_SLOTS)));
            self.present += 1;
        }
        let Some(Some(page)) = self.pages.last_mut() else {
            debug_assert!(false, "pushing slot {slot} onto an absent page");
            return;
        };
        match page.get_mut(slot & PAGE_MASK) {
            Some(place) => *place = value,
            None => page.push(value),
        }
        self.len += 1;
    }

    /// True when the page holding `slot` is allocated.
    pub(crate) fn is_present(&self, page: usize) -> bool {
        self.pages.get(page).is_some_and(Option::is_some)
    }

    /// Allocates an absent page, every slot filled by `blank(slot)`. No-op when present.
    pub(crate) fn make_page(&mut self, page: usize, mut blank: impl FnMut(usize) -> T) {
        let Some(place) = self.pages.get_mut(page) else {
            return;
        };
        if place.is_none() {
            let first = page << PAGE_BITS;
            let mut slots = Vec::with_capacity(PAGE_SLOTS);
            slots.extend((first..first + PAGE_SLOTS).map(&mut blank));
            *place = Some(slots);
            self.present += 1;
        }
    }

    /// Gives a page's memory back; its slots read as `None` until it is made again.
    pub(crate) fn release_page(&mut self, page: usize) -> Option<Vec<T>> {
        let taken = self.pages.get_mut(page)?.take();
        if taken.is_some() {
            self.present -= 1;
        }
        taken
    }

    /// Present slots from `from` on, in order, with their index; absent pages are skipped
    /// whole, so an emptied table is walked in O(pages).
    pub(crate) fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &T)> + '_ {
        let len = self.len;
        self.pages
            .iter()
            .enumerate()
            .skip(page_of(from))
            .filter_map(|(page, p)| p.as_deref().map(|p| (page << PAGE_BITS, p)))
            .flat_map(move |(first, p)| {
                let start = from.saturating_sub(first).min(PAGE_SLOTS);
                (first + start..).zip(p.iter().skip(start))
            })
            .take_while(move |(slot, _)| *slot < len)
    }

    /// Bytes allocated: present pages and the page list.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.present * PAGE_SLOTS * std::mem::size_of::<T>()
            + self.pages.capacity() * std::mem::size_of::<Option<Vec<T>>>()
    }
}

/// A stack in pages: pushing never copies what is below (the free stack can hold every slot,
/// 128 MiB at the slot limit). Pages above the top are freed, keeping one spare so a push and
/// pop across a page boundary does not allocate each time.
#[derive(Debug, Default)]
pub(crate) struct PagedStack {
    pages: Vec<Box<[u32]>>,
    len: usize,
}

impl PagedStack {
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, value: u32) {
        if page_of(self.len) == self.pages.len() {
            self.pages.push(vec![0; PAGE_SLOTS].into_boxed_slice());
        }
        if let Some(v) = self
            .pages
            .get_mut(page_of(self.len))
            .and_then(|p| p.get_mut(self.len & PAGE_MASK))
        {
            *v = value;
        }
        self.len += 1;
    }

    pub(crate) fn last(&self) -> Option<u32> {
        let top = self.len.checked_sub(1)?;
        self.pages
            .get(page_of(top))
            .and_then(|p| p.get(top & PAGE_MASK))
            .copied()
    }

    pub(crate) fn pop(&mut self) -> Option<u32> {
        let value = self.last()?;
        self.len -= 1;
        if self.pages.len() > page_of(self.len) + 2 {
            self.pages.pop();
        }
        Some(value)
    }

    // Only the invariant checker walks the stack, and it is compiled out of release builds.
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.pages
            .iter()
            .flat_map(|p| p.iter().copied())
            .take(self.len)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.pages.len() * PAGE_SLOTS * std::mem::size_of::<u32>()
            + self.pages.capacity() * std::mem::size_of::<Box<[u32]>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_grow_without_moving_and_come_back_blank() {
        let mut p: Paged<u32> = Paged::default();
        for i in 0..(2 * PAGE_SLOTS + 3) {
            p.push(i as u32);
        }
        let first: *const u32 = p.get(0).unwrap();
        p.push(7);
        assert_eq!(first, p.get(0).unwrap() as *const u32);
        assert_eq!(p.len(), 2 * PAGE_SLOTS + 4);
        assert_eq!(p.get(2 * PAGE_SLOTS + 4), None);
        assert!(p.release_page(1).is_some());
        assert_eq!(p.get(PAGE_SLOTS), None);
        assert_eq!(p.get(PAGE_SLOTS - 1), Some(&(PAGE_SLOTS as u32 - 1)));
        let walked: Vec<usize> = p.iter_from(PAGE_SLOTS - 2).map(|(s, _)| s).collect();
        let mut expected = vec![PAGE_SLOTS - 2, PAGE_SLOTS - 1];
        expected.extend(2 * PAGE_SLOTS..2 * PAGE_SLOTS + 4);
        assert_eq!(walked, expected);
        p.make_page(1, |slot| slot as u32 * 10);
        assert_eq!(p.get(PAGE_SLOTS + 1), Some(&((PAGE_SLOTS as u32 + 1) * 10)));
        assert!(p.heap_bytes() >= 3 * PAGE_SLOTS * 4);
    }

    #[test]
    fn the_stack_pops_what_it_pushed_across_pages_and_frees_pages_above_the_top() {
        let mut s = PagedStack::default();
        let n = 3 * PAGE_SLOTS + 5;
        for i in 0..n {
            s.push(i as u32);
        }
        assert_eq!(s.iter().count(), n);
        for i in (0..n).rev() {
            assert_eq!(s.pop(), Some(i as u32));
        }
        assert_eq!(s.pop(), None);
        assert!(s.is_empty());
        assert!(s.pages.len() <= 2);
    }
}
