//! Huge pages made ahead of use, off the JavaScript thread.
//!
//! The kernel zeroes a transparent huge page when it is first touched: 2 MiB at once, which on
//! this machine (a VM) took 4.5-5.4 ms of system time inside one native `create`, once every
//! ~16,000 creates while a table grew (`perf`: `clear_page_erms` under
//! `do_huge_pmd_anonymous_page`, from `Table::alloc`; bench/growth-stall.ts fill). The huge-page
//! arena is handed out from its start upwards, so a thread of our own touches the next huge
//! pages past the end of each block the arena hands out, before the engine writes there.
//!
//! A touch is a locked add of zero to each 4 KiB page (as the JVM pre-touches its heap): a write
//! fault that makes the page, which changes no byte even if another thread is using it.
//! `MADV_POPULATE_WRITE` does the same but holds the process's memory-map lock while it zeroes,
//! and V8's `mprotect` calls on the JavaScript thread waited for it (`perf`:
//! `rwsem_down_write_slowpath` under `do_mprotect_pkey`); a fault holds only the arena's own lock.
//! Written for x86-64 Linux (the touch is one instruction); elsewhere pages are made on first
//! use, as before.
#![allow(unsafe_code)]

use std::arch::asm;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};

const HUGE_PAGE: usize = 2 << 20;
/// Huge pages touched past the one a block ends in, at most: a table page (~90 KiB) or an index
/// chunk (256 KiB) at a time, the engine takes a huge page in ~9,000-16,000 creates. Two ahead
/// still let the engine catch up with the thread in bursts of growth (4.7-5 ms creates while
/// filling to 10^7, where it waited for the page the thread was zeroing); four did not. Never
/// more than the arena holds below the block, so a small table gains at most as much memory as
/// it has (a process with a few sessions keeps its one or two huge pages).
const PAGES_AHEAD: usize = 4;
const SMALL_PAGE: usize = 4096;

/// The arena's range, and the thread that touches it (`None`: it could not be started).
struct Prefaulter {
    start: usize,
    end: usize,
    thread: Option<Thread>,
}

static PREFAULTER: OnceLock<Prefaulter> = OnceLock::new();
/// Where the touched range should end: the highest end asked for so far.
static WANTED_END: AtomicUsize = AtomicUsize::new(0);

/// Starts the thread for the arena at `start`, `len` bytes long (once per process).
pub(crate) fn start(start: usize, len: usize) {
    PREFAULTER.get_or_init(|| Prefaulter {
        start,
        end: start.saturating_add(len),
        thread: thread::Builder::new()
            .name("sessionkeeper-prefault".into())
            .stack_size(64 * 1024)
            .spawn(move || touch_ahead(start))
            .ok()
            .map(|handle| handle.thread().clone()),
    });
}

/// A block of the arena now ends at `end`: asks for the huge pages after it. An atomic and, when
/// the range moves on, a wake-up (every ~1,000 creates).
pub(crate) fn after(end: usize) {
    let Some(prefaulter) = PREFAULTER.get() else {
        return;
    };
    let Some(thread) = &prefaulter.thread else {
        return;
    };
    let ahead = (end.saturating_sub(prefaulter.start) / HUGE_PAGE).min(PAGES_AHEAD);
    if ahead == 0 {
        return;
    }
    let wanted = (end & !(HUGE_PAGE - 1))
        .saturating_add((ahead + 1) * HUGE_PAGE)
        .min(prefaulter.end);
    if WANTED_END.fetch_max(wanted, Ordering::AcqRel) < wanted {
        thread.unpark();
    }
}

fn touch_ahead(start: usize) {
    let mut done = start;
    loop {
        let wanted = WANTED_END.load(Ordering::Acquire);
        if wanted <= done {
            thread::park();
            continue;
        }
        // A jump (a block far past the last) touches only the pages just before the end.
        let mut at = done.max(wanted.saturating_sub(PAGES_AHEAD * HUGE_PAGE));
        while at < wanted {
            touch(at);
            at += SMALL_PAGE;
        }
        done = wanted;
    }
}

/// Faults in the page at `at` for writing, leaving its bytes as they are. In assembly: LLVM
/// turns an atomic add of zero into a fenced load, and a read maps the shared zero page, whose
/// first write then splits it into 4 KiB pages instead of making a huge one.
fn touch(at: usize) {
    // SAFETY: `at` is 8-byte aligned and inside the arena, which stays mapped, read-write, for
    // the life of the process; a locked add of zero is one atomic write of the value it finds.
    unsafe {
        asm!("lock add qword ptr [{0}], 0", in(reg) at, options(nostack));
    }
}
