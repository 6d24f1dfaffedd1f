//! Telling V8 how much memory the engines hold off its heap, so that its garbage collector
//! weighs a `SessionManager` by the sessions it keeps alive, not by its few JS objects.
//!
//! Two rules pull against each other. Early: a manager dropped without `close()` is freed only
//! when V8 collects its engine's `External`, and V8 runs a full GC for external memory only
//! when the reported total has grown 64 MiB since the last one; so every engine reports from
//! its first 64 KiB on (3,000 dropped managers of 1,000 sessions, ~300 KiB each, then get a
//! full GC every ~200 managers instead of none). Coarse: each such GC is a mark-compact that
//! cannot free a live engine, so one engine's report is capped at `REPORT_CAP_BYTES`, under
//! that 64 MiB: an engine growing to millions of sessions triggers no mark-compact of its own
//! (before the cap, 4M sessions caused 4). The cost of the cap: a dropped engine of more than
//! 32 MiB weighs only 32 MiB, and waits for a full GC that something else starts (or is freed
//! at once by `close()`, which the README asks for).
//!
//! The `External` is made here with a finalizer of our own, because napi-rs's `External` hands
//! its finalizer no `Env` for a size that changed after creation: ours takes back exactly what
//! the engine had reported, at the moment V8 finalizes it, through the `Env` it is called with
//! (the one of the isolate that was told, a Worker's included). napi-rs reads the `External<T>`
//! it made from the same pointer, so every binding function still takes `&External<_>`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{Env, External, ToNapiValue, TypeName};
use napi::{sys, Error, Result, Status, ValueType};

use crate::engine::NativeEngine;

/// Changes smaller than this are not reported: a napi call per session would cost more than
/// the steering is worth, and V8 only acts on tens of MiB.
const REPORT_STEP_BYTES: i64 = 64 << 10;
/// At most this much of one engine is reported (see the module comment).
const REPORT_CAP_BYTES: i64 = 32 << 20;

/// What one engine has told V8 it holds.
#[derive(Debug, Default)]
pub struct MemoryReport {
    reported: i64,
}

impl MemoryReport {
    /// Bytes V8 has been told of.
    pub(crate) fn reported(&self) -> i64 {
        self.reported
    }

    /// Tells V8 about `held` bytes (capped) when that moved by a step since the last report. A
    /// failed report changes nothing and is tried again on the next change: it only steers the
    /// garbage collector.
    pub fn update(&mut self, env: &Env, held: usize) {
        if let Some(change) = report_change(self.reported, held) {
            if env.adjust_external_memory(change).is_ok() {
                self.reported += change;
            }
        }
    }
}

/// The adjustment to send, or `None` when the capped holding moved by less than a step.
fn report_change(reported: i64, held: usize) -> Option<i64> {
    let target = i64::try_from(held)
        .unwrap_or(i64::MAX)
        .min(REPORT_CAP_BYTES);
    let change = target - reported;
    // The cap itself is reported even when the step to it is short, so a full engine is
    // counted as the cap says.
    let reaches_cap = target == REPORT_CAP_BYTES && change != 0;
    (change.abs() >= REPORT_STEP_BYTES || reaches_cap || (target == 0 && change != 0))
        .then_some(change)
}

/// A new engine on its way to JS as an `External` whose finalizer takes its report back.
pub struct EngineExternal(pub External<NativeEngine>);

impl TypeName for EngineExternal {
    fn type_name() -> &'static str {
        "External"
    }

    fn value_type() -> ValueType {
        ValueType::External
    }
}

impl ToNapiValue for EngineExternal {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        let data = Box::into_raw(Box::new(value.0));
        let mut result = ptr::null_mut();
        // SAFETY: `data` is a live, uniquely owned `External<NativeEngine>`; V8 owns it from here
        // and passes it back once, to `finalize_engine`, which frees it.
        let status = unsafe {
            sys::napi_create_external(
                env,
                data.cast(),
                Some(finalize_engine),
                ptr::null_mut(),
                &mut result,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: V8 did not take `data`; it is still ours alone.
            drop(unsafe { Box::from_raw(data) });
            return Err(Error::new(
                Status::GenericFailure,
                "could not create the engine object",
            ));
        }
        Ok(result)
    }
}

/// Frees an engine and hands what it had reported back to V8.
unsafe extern "C" fn finalize_engine(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the pointer `to_napi_value` gave V8, finalized exactly once.
    let engine = unsafe { Box::from_raw(data.cast::<External<NativeEngine>>()) };
    let reported = engine.memory_reported();
    drop(engine);
    if reported != 0 {
        let mut total = 0i64;
        // SAFETY: `env` is the finalizer's own, valid for this call. A failure leaves V8's count
        // high, which only makes its GC a little more eager.
        unsafe { sys::napi_adjust_external_memory(env, -reported, &mut total) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_under_a_step_is_not_reported() {
        assert_eq!(report_change(0, (REPORT_STEP_BYTES - 1) as usize), None);
        assert_eq!(
            report_change(REPORT_STEP_BYTES, (2 * REPORT_STEP_BYTES - 1) as usize),
            None
        );
    }

    #[test]
    fn growth_and_shrinkage_of_a_step_are_reported() {
        assert_eq!(
            report_change(0, REPORT_STEP_BYTES as usize),
            Some(REPORT_STEP_BYTES)
        );
        assert_eq!(
            report_change(3 * REPORT_STEP_BYTES, REPORT_STEP_BYTES as usize),
            Some(-2 * REPORT_STEP_BYTES)
        );
    }

    #[test]
    fn an_emptied_engine_reports_zero() {
        assert_eq!(report_change(1000, 0), Some(-1000));
        assert_eq!(report_change(0, 0), None);
    }

    #[test]
    fn no_engine_reports_more_than_the_cap() {
        let huge = usize::MAX;
        assert_eq!(report_change(0, huge), Some(REPORT_CAP_BYTES));
        assert_eq!(report_change(REPORT_CAP_BYTES, huge), None);
        assert_eq!(
            report_change(REPORT_CAP_BYTES - 1, (REPORT_CAP_BYTES + 5) as usize),
            Some(1)
        );
        assert_eq!(
            report_change(
                REPORT_CAP_BYTES,
                (REPORT_CAP_BYTES - REPORT_STEP_BYTES) as usize
            ),
            Some(-REPORT_STEP_BYTES)
        );
    }
}
