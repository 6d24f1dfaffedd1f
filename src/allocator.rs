//! The binding's global allocator: mimalloc, with the engine's large blocks in an arena of
//! transparent huge pages.
//!
//! A lookup at 10^6 sessions is two dependent cache misses (the index bucket, then the slot's
//! entry), and with 4 KiB pages each also misses the TLB: on this machine (a VM, so every TLB
//! miss walks two page tables) that was a third of a lookup's CPU time. The large blocks, the
//! index's 256 KiB chunks and the slot table's ~90 KiB pages, are what a lookup touches; they
//! come from one exclusive mimalloc arena that is advised for huge pages, so 2 MiB pages map
//! them. Everything else (session data, the bulk of the memory) stays on 4 KiB pages in
//! mimalloc's own arenas: huge pages there too cost creates ~15% of CPU time (faulting and
//! zeroing 2 MiB at a time) and more RSS, for no further gain on the lookup path. Native
//! get-and-renew at 10^6 sessions, CPU time per call (bench/get-cpu.ts, alternating builds, load
//! 8-9): 547-593 ns with the tables in huge pages against 836-872 ns without; creates ~10% and
//! RSS ~9% higher (README, Design notes).
//!
//! The arena is address space reserved up front (`MAP_NORESERVE`, nothing resident until
//! touched) and committed from the start, since huge pages need whole 2 MiB ranges mapped
//! read-write before the first touch. Where it is not made ([`arena_allowed`], off Linux) or
//! cannot be had (no transparent huge pages, a thread whose heap cannot be made) large blocks
//! come from the ordinary heap, as before.
//!
//! mimalloc purges freed memory back to the OS only some time after it was freed (10 ms, 100 ms
//! for whole segments), and runs those delayed purges only from later allocator calls in the
//! same part of the heap. After a mass expiry nothing comes back there, so the freed pages of
//! 4M sessions stayed resident (bench/growth-stall.ts expire). Purging at once (purge delay 0)
//! gave them back, but put a madvise per emptied 64 KiB page into the sweep: 10^6 sessions
//! expiring blocked the event loop for 7.4-9.9 ms instead of 2.6 ms, and took 360 ms instead of
//! 272 (bench/store-worker.ts native 1000000 full, alternating builds, load below 1). So the
//! default delay stays, and [`release_freed_memory`] gives freed memory back on request: the
//! facade calls it in steps of a few MiB while its engines' memory falls (ts/registry.ts).
//!
//! mimalloc also commits each 1 GiB arena it reserves eagerly by default on Linux; filling a
//! table to 3M sessions in Rust then had 313 creates over 0.5 ms of thread CPU, the slowest 9 ms,
//! clustered where arenas were committed; committed on demand, 2, the slowest 0.54 ms. Its own
//! arenas are therefore committed on demand; only the huge-page arena is not.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::{c_int, c_long, c_void};
use std::ptr;
use std::sync::OnceLock;

use mimalloc::MiMalloc;
use napi_derive::napi;

/// `mi_option_arena_eager_commit` in mimalloc v2's `mi_option_e` (libmimalloc-sys 0.1.49, v2
/// feature, pinned with the crate in Cargo.toml).
const MI_OPTION_ARENA_EAGER_COMMIT: c_int = 4;
/// `mi_option_allow_thp` there: set (the default), mimalloc advises memory it maps straight from
/// the OS (not through an arena) for transparent huge pages.
const MI_OPTION_ALLOW_THP: c_int = 37;
/// `mi_option_destroy_on_exit` there: set (`MIMALLOC_DESTROY_ON_EXIT`), mimalloc unmaps its arenas
/// at exit, which a thread touching the arena then could meet.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const MI_OPTION_DESTROY_ON_EXIT: c_int = 22;
/// Blocks this large or larger, and made of whole 4 KiB pages, go to the huge-page arena.
const LARGE_BLOCK_BYTES: usize = 64 * 1024;
/// The engine's table pages and index chunks are whole 4 KiB pages by construction (1,024 slots
/// of a 4-byte-aligned type; 2^15 buckets of 8 bytes); a session's data block (a 16-byte header
/// and 8-byte chunks) is one only for 1 size in 512. Without this test a session holding 64-128
/// KiB of data went to huge pages too, where mimalloc's whole size-class slot is resident: 2,000
/// sessions of a 70 KB value grew RSS by 258-267 MB for 140 MB of data
/// (__test__/hostile-engine-round3.spec.ts).
const PAGE_BYTES: usize = 4096;

/// True for the blocks that belong on huge pages: the lookup tables.
fn for_huge_pages(size: usize) -> bool {
    size >= LARGE_BLOCK_BYTES && size.is_multiple_of(PAGE_BYTES)
}
/// Address space of the huge-page arena: the lookup tables of ~10^8 sessions. Reserved, not
/// resident; an arena that fills up sends further large blocks to the ordinary heap.
#[cfg(target_os = "linux")]
const HUGE_ARENA_BYTES: usize = 16 << 30;
/// `MADV_HUGEPAGE` on Linux.
#[cfg(target_os = "linux")]
const MADV_HUGEPAGE: c_int = 14;
/// `MADV_NOHUGEPAGE` on Linux.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const MADV_NOHUGEPAGE: c_int = 15;
/// mimalloc v2's segment size, which is also its alignment (`MI_SEGMENT_SIZE`, 2^25 on 64-bit).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const MI_SEGMENT_BYTES: usize = 32 << 20;
/// `RLIMIT_AS` on Linux.
#[cfg(target_os = "linux")]
const RLIMIT_AS: c_int = 9;

/// `struct rlimit` on Linux (`rlim_t` is 64 bits on every Linux target Node.js runs on).
#[cfg(target_os = "linux")]
#[repr(C)]
struct Rlimit {
    current: u64,
    max: u64,
}

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn mi_option_is_enabled(option: c_int) -> bool;
    fn mi_reserve_os_memory_ex(
        size: usize,
        commit: bool,
        allow_large: bool,
        exclusive: bool,
        arena_id: *mut c_int,
    ) -> c_int;
    fn mi_arena_area(arena_id: c_int, size: *mut usize) -> *mut c_void;
    fn mi_heap_new_in_arena(arena_id: c_int) -> *mut c_void;
    fn mi_heap_malloc_aligned(heap: *mut c_void, size: usize, alignment: usize) -> *mut c_void;
    fn mi_heap_zalloc_aligned(heap: *mut c_void, size: usize, alignment: usize) -> *mut c_void;
    fn mi_heap_realloc_aligned(
        heap: *mut c_void,
        p: *mut c_void,
        new_size: usize,
        alignment: usize,
    ) -> *mut c_void;
    fn mi_collect(force: bool);
    fn mi_heap_collect(heap: *mut c_void, force: bool);
}

#[cfg(target_os = "linux")]
extern "C" {
    fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    fn getrlimit(resource: c_int, limit: *mut Rlimit) -> c_int;
}

/// Whether this process may reserve the arena. Not under an address-space limit (`ulimit -v`,
/// systemd's `LimitAS`): 16 GiB would take most of it from V8, whose every WebAssembly memory
/// reserves ~10 GiB (under 24,000,000 kB, Node 20's `fetch()` failed to instantiate its HTTP
/// parser once the addon was loaded, and worked without it). Nor under strict overcommit
/// (`vm.overcommit_memory` 2), where a writable private mapping is charged whole, `MAP_NORESERVE`
/// or not, against the whole machine's commit limit.
#[cfg(target_os = "linux")]
fn arena_allowed() -> bool {
    use std::io::Read;
    let mut limit = Rlimit { current: 0, max: 0 };
    // SAFETY: getrlimit writes one `struct rlimit`, which `limit` is laid out as.
    if unsafe { getrlimit(RLIMIT_AS, &mut limit) } != 0 || limit.current != u64::MAX {
        return false;
    }
    let mut mode = [0u8; 1];
    let strict = std::fs::File::open("/proc/sys/vm/overcommit_memory")
        .and_then(|mut file| file.read_exact(&mut mode))
        .is_ok_and(|()| mode == *b"2");
    !strict
}

/// Reserves the arena and advises it for huge pages; `None` when it is not allowed or could not
/// be had.
#[cfg(target_os = "linux")]
fn reserve_huge_arena() -> Option<c_int> {
    if !arena_allowed() {
        return None;
    }
    // SAFETY: mimalloc's documented calls; the arena id is written before it is read, and
    // madvise gets exactly the range mimalloc reports for the arena it just mapped.
    unsafe {
        let mut id: c_int = -1;
        if mi_reserve_os_memory_ex(HUGE_ARENA_BYTES, true, false, true, &mut id) != 0 {
            return None;
        }
        let mut size = 0usize;
        let start = mi_arena_area(id, &mut size);
        if start.is_null() || size == 0 {
            return None;
        }
        // Advice only: a kernel without transparent huge pages leaves 4 KiB pages.
        madvise(start, size, MADV_HUGEPAGE);
        Some(id)
    }
}

/// Transparent huge pages and `madvise` are Linux's: elsewhere large blocks stay in the
/// ordinary heap.
#[cfg(not(target_os = "linux"))]
fn reserve_huge_arena() -> Option<c_int> {
    None
}

/// The process's huge-page arena, reserved on first use; `None` when it could not be.
fn huge_arena() -> Option<c_int> {
    static ARENA: OnceLock<Option<c_int>> = OnceLock::new();
    *ARENA.get_or_init(|| {
        // SAFETY: a documented mimalloc option: its own arenas commit on demand (see above).
        unsafe { mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
        reserve_huge_arena()
    })
}

thread_local! {
    /// This thread's mimalloc heap in the huge-page arena (mimalloc heaps allocate only on the
    /// thread that made them; each Worker has its own). Null until the first large block.
    static HUGE_HEAP: Cell<*mut c_void> = const { Cell::new(ptr::null_mut()) };
    /// Bytes this thread has taken from the huge-page arena (never lowered): how far ahead of
    /// its blocks pages are made (src/prefault.rs).
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    static HUGE_TAKEN: Cell<usize> = const { Cell::new(0) };
    /// This thread's small-object segment has been advised against huge pages.
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    static SMALL_PAGES_ADVISED: Cell<bool> = const { Cell::new(false) };
}

/// This thread's heap in the huge-page arena, made on first use; `None` when there is none.
fn huge_heap() -> Option<*mut c_void> {
    let heap = HUGE_HEAP.try_with(|cell| {
        let mut heap = cell.get();
        if heap.is_null() {
            if let Some(arena) = huge_arena() {
                // SAFETY: a mimalloc call with an arena id mimalloc gave; null on failure.
                heap = unsafe { mi_heap_new_in_arena(arena) };
                cell.set(heap);
            }
        }
        heap
    });
    heap.ok().filter(|heap| !heap.is_null())
}

/// Gives the memory this thread's heaps hold free back to the OS now: frees their empty pages
/// and runs every purge pending (see the module's notes). Its cost is a walk over the heaps' pages
/// plus one madvise per run of freed pages, so the facade calls it in small steps while sessions
/// are being closed en masse (ts/registry.ts), each step finding a few MiB to give back.
#[napi(catch_unwind)]
pub fn release_freed_memory() {
    // SAFETY: documented mimalloc calls on this thread's own heaps; the huge-page heap only when
    // this thread made one (reading the cell never makes it).
    unsafe {
        mi_collect(true);
        if let Ok(heap) = HUGE_HEAP.try_with(Cell::get) {
            if !heap.is_null() {
                mi_heap_collect(heap, true);
            }
        }
    }
}

/// Sets mimalloc's options once per process, before the first engine allocates, and starts the
/// thread that makes the arena's huge pages ahead of use (src/prefault.rs).
pub(crate) fn tune() {
    // SAFETY: a documented mimalloc option. Set here, when an engine is made, not in
    // `huge_arena` (which a large block could reach while the addon loads): mimalloc is
    // initialised by now, so this only stops its later `madvise` calls, where at its
    // initialisation it would disable huge pages for the whole process (arena and V8 too).
    unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    small_blocks_on_small_pages();
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    if let Some(arena) = huge_arena() {
        let mut size = 0usize;
        // SAFETY: documented mimalloc calls, with an arena id mimalloc gave.
        let (start, destroyed_at_exit) = unsafe {
            (
                mi_arena_area(arena, &mut size),
                mi_option_is_enabled(MI_OPTION_DESTROY_ON_EXIT),
            )
        };
        if !start.is_null() && !destroyed_at_exit {
            crate::prefault::start(start as usize, size);
        }
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    huge_arena();
}

/// Advises the mimalloc segment that holds this thread's small blocks against transparent huge
/// pages, once per thread. mimalloc maps a segment straight from the OS, and advises it for huge
/// pages (`allow_thp`), when it cannot take one from an arena: always for the segments made while
/// the addon loads, before mimalloc's own initialiser has run (its arenas refuse then), and later
/// wherever an arena cannot be reserved (an address-space limit). The first of these held the
/// loading thread's small blocks: the one 32 MiB mapping with the `hg` flag besides the huge-page
/// arena in `/proc/self/smaps`, fully on huge pages at 10^6 sessions. Session data filled it
/// first, so a fresh 2 MiB page was zeroed inside one create every ~9,000 creates (4.6-5.4 ms;
/// `perf`: `do_huge_pmd_anonymous_page` under `mi_page_free_list_extend` from
/// `data::Block::zeroed`), the slowest creates of a new process's first 30,000 sessions. Session
/// data belongs on 4 KiB pages (see the module's notes): this advises that segment back (pages
/// made huge before stay so), and [`tune`] turns `allow_thp` off for the segments after it.
/// The addon is loaded on the thread that makes its first engine (ts/load-engine.ts), so the
/// segment is this thread's; elsewhere the advice only touches a segment that needed none.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn small_blocks_on_small_pages() {
    if SMALL_PAGES_ADVISED
        .try_with(|advised| advised.replace(true))
        .unwrap_or(true)
    {
        return;
    }
    // A small block comes from the thread's current small-object segment, and mimalloc's
    // segments are aligned to their size.
    let probe = std::hint::black_box(Box::new(0u64));
    let segment = (&*probe as *const u64 as usize) & !(MI_SEGMENT_BYTES - 1);
    // SAFETY: advice about a range of this process's memory, which changes no byte: the 32 MiB
    // segment the probe lies in (mimalloc's segments are aligned to their size on 64-bit).
    unsafe {
        madvise(segment as *mut c_void, MI_SEGMENT_BYTES, MADV_NOHUGEPAGE);
    }
}

/// A block of `size` bytes from the huge-page arena: its next huge pages are made ahead.
fn from_huge_arena(block: *mut c_void, size: usize) -> *mut c_void {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    if !block.is_null() {
        let taken = HUGE_TAKEN
            .try_with(|taken| {
                let now = taken.get().saturating_add(size);
                taken.set(now);
                now
            })
            .unwrap_or(0);
        crate::prefault::after(block as usize + size, taken);
    }
    block
}

/// mimalloc, with the lookup tables' blocks from this thread's huge-page heap.
pub(crate) struct Allocator;

// SAFETY: every block comes from mimalloc (a heap of it or its default heap) with the layout's
// size and alignment, and mimalloc frees and reallocates any of its blocks from any thread.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if for_huge_pages(layout.size()) {
            if let Some(heap) = huge_heap() {
                // SAFETY: a live heap of this thread; size and alignment from the layout.
                let block = from_huge_arena(
                    unsafe { mi_heap_malloc_aligned(heap, layout.size(), layout.align()) },
                    layout.size(),
                );
                if !block.is_null() {
                    return block.cast();
                }
            }
        }
        // SAFETY: forwarded as received.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if for_huge_pages(layout.size()) {
            if let Some(heap) = huge_heap() {
                // SAFETY: as in `alloc`.
                let block = from_huge_arena(
                    unsafe { mi_heap_zalloc_aligned(heap, layout.size(), layout.align()) },
                    layout.size(),
                );
                if !block.is_null() {
                    return block.cast();
                }
            }
        }
        // SAFETY: forwarded as received.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: mi_free takes a block of any mimalloc heap.
        unsafe { MiMalloc.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if for_huge_pages(new_size) {
            if let Some(heap) = huge_heap() {
                // SAFETY: `block` is a live mimalloc block of `layout`; mimalloc moves it into
                // `heap` when it must grow, and returns null (keeping `block`) on failure.
                let moved = from_huge_arena(
                    unsafe {
                        mi_heap_realloc_aligned(heap, block.cast(), new_size, layout.align())
                    },
                    new_size,
                );
                if !moved.is_null() {
                    return moved.cast();
                }
            }
        }
        // SAFETY: forwarded as received.
        unsafe { MiMalloc.realloc(block, layout, new_size) }
    }
}
