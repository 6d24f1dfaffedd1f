//! Huge pages made ahead of use, off the JavaScript thread.
//!
//! The kernel zeroes a transparent huge page when it is first touched: 2 MiB at once, which on
//! this machine (a VM) took 4.5-5.4 ms of system time inside one native `create`, once every
//! ~16,000 creates while a table grew (`perf`: `clear_page_erms` under
//! `do_huge_pmd_anonymous_page`, from `Table::alloc`; bench/growth-stall.ts fill). A thread's
//! blocks in the huge-page arena are handed out upwards (mimalloc fills a thread's 32 MiB
//! segment from its start), so a thread of our own touches the next huge pages past the end of
//! each block the arena hands out, before the engine writes there.
//!
//! A touch is a locked add of zero to each 4 KiB page (as the JVM pre-touches its heap): a write
//! fault that makes the page, which changes no byte even if another thread is using it.
//! `MADV_POPULATE_WRITE` does the same but holds the process's memory-map lock while it zeroes,
//! and V8's `mprotect` calls on the JavaScript thread waited for it (`perf`:
//! `rwsem_down_write_slowpath` under `do_mprotect_pkey`). A fault takes only its own mapping's
//! lock since Linux 6.4 (per-VMA locks); before that it too holds the memory-map lock, so the
//! thread is not started there, nor where transparent huge pages are off (nothing to gain).
//! Written for x86-64 Linux (the touch is one instruction); elsewhere pages are made on first
//! use, as before.
//!
//! What it costs: at most `PAGES_AHEAD` huge pages touched past a thread's newest block, and
//! never more than the thread has taken from the arena, so an engine with a few sessions (or a
//! Worker's) touches nothing ahead. Pages touched but never handed out stay resident: at most
//! 8 MiB past the highest block the process ever had.
#![allow(unsafe_code)]

use std::arch::asm;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};

const HUGE_PAGE: usize = 2 << 20;
/// Huge pages touched past the one a block ends in, at most: a table page (~90 KiB) or an index
/// chunk (256 KiB) at a time, the engine takes a huge page in ~9,000-16,000 creates. With two
/// ahead the engine still caught up with the thread in bursts of growth (4.7-5 ms creates while
/// filling to 10^7, waiting for the page the thread was zeroing); with four it did not.
const PAGES_AHEAD: usize = 4;
const SMALL_PAGE: usize = 4096;
/// The first Linux with per-VMA locks for page faults.
const FIRST_KERNEL: (u32, u32) = (6, 4);

/// The arena's range, and the thread that touches it.
struct Prefaulter {
    start: usize,
    end: usize,
    thread: Thread,
}

static PREFAULTER: OnceLock<Option<Prefaulter>> = OnceLock::new();
/// The latest request: the first huge page to touch, with the number of pages in its low bits
/// (a huge page's address leaves them zero).
static REQUEST: AtomicUsize = AtomicUsize::new(0);

/// Starts the thread for the arena at `start`, `len` bytes long, where it pays (once per
/// process; the caller has checked that mimalloc keeps the arena mapped until exit).
pub(crate) fn start(start: usize, len: usize) {
    PREFAULTER.get_or_init(|| {
        if !kernel_faults_per_mapping() || !huge_pages_on() {
            return None;
        }
        let end = start.saturating_add(len);
        let thread = thread::Builder::new()
            .name("sessionkeeper-prefault".into())
            .stack_size(64 * 1024)
            .spawn(move || touch_ahead(start, end))
            .ok()?;
        Some(Prefaulter {
            start,
            end,
            thread: thread.thread().clone(),
        })
    });
}

/// A block of the arena now ends at `end`, and the allocating thread has taken `taken` bytes of
/// the arena so far: asks for the huge pages after the block. An atomic and, when the block
/// starts on a new huge page, a wake-up.
pub(crate) fn after(end: usize, taken: usize) {
    let Some(Some(prefaulter)) = PREFAULTER.get() else {
        return;
    };
    // A block mimalloc kept in place on a realloc may lie outside the arena.
    if end <= prefaulter.start || end > prefaulter.end {
        return;
    }
    let ahead = (taken / HUGE_PAGE).min(PAGES_AHEAD);
    if ahead == 0 {
        return;
    }
    let first = ((end - 1) & !(HUGE_PAGE - 1)) + HUGE_PAGE;
    if first >= prefaulter.end {
        return;
    }
    let request = first | ahead;
    if REQUEST.swap(request, Ordering::AcqRel) != request {
        prefaulter.thread.unpark();
    }
}

fn touch_ahead(arena_start: usize, arena_end: usize) {
    let mut done = 0;
    loop {
        let request = REQUEST.load(Ordering::Acquire);
        if request == done {
            thread::park();
            continue;
        }
        let first = request & !(HUGE_PAGE - 1);
        let pages = request & (HUGE_PAGE - 1);
        let end = first.saturating_add(pages * HUGE_PAGE).min(arena_end);
        let mut at = first.max(arena_start);
        while at < end {
            // SAFETY: `at` is 4 KiB aligned (the arena is) and inside the arena, which stays
            // mapped read-write until the process exits: reserved committed, purged with
            // MADV_DONTNEED (mimalloc without its `secure` feature, which Cargo.toml does not
            // enable), and not unmapped at exit (`start` is not called with destroy_on_exit).
            unsafe { touch(at) };
            at += SMALL_PAGE;
        }
        done = request;
    }
}

/// Faults in the page at `at` for writing, leaving its bytes as they are. In assembly: LLVM
/// turns an atomic add of zero into a fenced load, and a read maps the shared zero page, whose
/// first write then splits it into 4 KiB pages instead of making a huge one.
///
/// # Safety
/// `at` must be 8-byte aligned and inside memory mapped read-write.
unsafe fn touch(at: usize) {
    // SAFETY: the caller's; a locked add of zero is one atomic write of the value it finds.
    unsafe {
        asm!("lock add qword ptr [{0}], 0", in(reg) at, options(nostack));
    }
}

/// Whether this kernel takes only a mapping's own lock on a page fault (6.4 and later).
fn kernel_faults_per_mapping() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u32>().ok());
    matches!((numbers.next(), numbers.next()), (Some(Some(major)), Some(Some(minor))) if (major, minor) >= FIRST_KERNEL)
}

/// Whether transparent huge pages may be used at all (`madvise` or `always`).
fn huge_pages_on() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|setting| !setting.contains("[never]"))
}
