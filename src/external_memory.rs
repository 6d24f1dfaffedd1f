//! Telling V8 how much memory the engines hold off its heap, so that its garbage collector
//! weighs a `SessionManager` by the sessions it keeps alive, not by its few JS objects.
//!
//! No engine keeps an `Env`: napi-rs documents that an `Env` is valid only during the call
//! that received it, and a Worker's `Env` is gone once the Worker exits. The calls that grow or
//! shrink a table take one as an argument and report through it.
//!
//! The finalizer of an `External` gets no `Env` on napi-rs 3.11: `External<T>` drops `T` in its
//! own finalize callback and only undoes the fixed size hint it was created with. The ways to get
//! one there cost more than they save: `ObjectFinalize` is for `#[napi]` classes (a class
//! crossing costs about twice a free-function call, bench/call-shape.ts), and
//! `napi_add_finalizer` needs N-API 5 and raw `unsafe` FFI. So a dropped engine leaves what it
//! had reported in a per-thread ledger, and the next report on that thread, from any engine or
//! from `createEngine`, hands it back to V8 with its own change. Per thread because V8 counts
//! external memory per isolate, and each isolate (the main thread, each Worker) runs its JS and
//! its finalizers on its own thread; a Worker's ledger ends with it, as does its isolate's count.

use std::cell::Cell;

use napi::bindgen_prelude::Env;

/// V8 is told about the table's memory in steps of this size, and only every
/// `REPORT_EVERY_OPS` growing or shrinking operations, so the hot path pays nothing for it.
const REPORT_STEP_BYTES: i64 = 1 << 20;
const REPORT_EVERY_OPS: u32 = 1024;

thread_local! {
    /// Bytes reported by engines dropped on this thread and not yet handed back to V8.
    static RELEASED: Cell<i64> = const { Cell::new(0) };
}

/// What one engine has told V8 it holds.
#[derive(Debug, Default)]
pub struct MemoryReport {
    reported: i64,
    ops_since_report: u32,
}

impl MemoryReport {
    /// Counts `ops` growing or shrinking operations. Every `REPORT_EVERY_OPS` of them, tells
    /// V8 about `held()` (bytes) when it moved by a step since the last report, together with
    /// what dropped engines released on this thread. A failed report changes nothing and is
    /// tried again later: it only steers the garbage collector.
    pub fn count(&mut self, env: &Env, ops: u32, held: impl FnOnce() -> usize) {
        self.ops_since_report = self.ops_since_report.saturating_add(ops);
        if self.ops_since_report < REPORT_EVERY_OPS {
            return;
        }
        self.ops_since_report = 0;
        let held = i64::try_from(held()).unwrap_or(i64::MAX);
        let released = RELEASED.get();
        let Some(change) = report_change(self.reported, held, released) else {
            return;
        };
        if env.adjust_external_memory(change).is_ok() {
            self.reported = held;
            RELEASED.set(0);
        }
    }
}

impl Drop for MemoryReport {
    /// Runs in the External's finalizer, on the thread of the isolate that was told.
    fn drop(&mut self) {
        RELEASED.set(RELEASED.get().saturating_add(self.reported));
    }
}

/// Hands back to V8 what engines dropped on this thread had reported (`createEngine` calls it,
/// so a process that replaces its managers never lets the count drift).
pub fn settle_released(env: &Env) {
    let released = RELEASED.get();
    if released != 0 && env.adjust_external_memory(-released).is_ok() {
        RELEASED.set(0);
    }
}

/// The adjustment to send, or `None` when neither this engine's holding nor the ledger moved
/// by a step.
fn report_change(reported: i64, held: i64, released: i64) -> Option<i64> {
    let own = held.saturating_sub(reported);
    if own.abs() < REPORT_STEP_BYTES && released < REPORT_STEP_BYTES {
        return None;
    }
    Some(own.saturating_sub(released))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_under_a_step_is_not_reported() {
        assert_eq!(report_change(0, REPORT_STEP_BYTES - 1, 0), None);
        assert_eq!(report_change(REPORT_STEP_BYTES, 1, 0), None);
    }

    #[test]
    fn growth_and_shrinkage_of_a_step_are_reported() {
        assert_eq!(
            report_change(0, REPORT_STEP_BYTES, 0),
            Some(REPORT_STEP_BYTES)
        );
        assert_eq!(
            report_change(3 * REPORT_STEP_BYTES, REPORT_STEP_BYTES, 0),
            Some(-2 * REPORT_STEP_BYTES)
        );
    }

    #[test]
    fn what_dropped_engines_released_goes_back_with_the_next_report() {
        assert_eq!(
            report_change(0, REPORT_STEP_BYTES, 5 * REPORT_STEP_BYTES),
            Some(-4 * REPORT_STEP_BYTES)
        );
        assert_eq!(
            report_change(0, 0, 2 * REPORT_STEP_BYTES),
            Some(-2 * REPORT_STEP_BYTES)
        );
    }

    #[test]
    fn a_dropped_report_lands_in_this_threads_ledger_only() {
        RELEASED.set(0);
        drop(MemoryReport {
            reported: 7,
            ops_since_report: 0,
        });
        assert_eq!(RELEASED.get(), 7);
        let other = std::thread::spawn(|| RELEASED.get()).join().ok();
        assert_eq!(other, Some(0));
        RELEASED.set(0);
    }
}
