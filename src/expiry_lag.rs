//! The expiry-lag histogram (sessionkeeper-core `ExpiryLag`), copied out whole on a metrics
//! scrape: one call, no JS object built.

use napi::bindgen_prelude::External;
use napi_derive::napi;
use sessionkeeper_core::EXPIRY_LAG_BUCKETS;

use crate::engine::NativeEngine;
use crate::handle_buffer::HandleBuffer;

/// Writes the sessions per expiry-lag bucket (`EXPIRY_LAG_BOUNDS`, then one over the last) and
/// then the sum of the lags in ms into `out`, as far as it reaches; returns how many numbers
/// it wrote (16 fill it).
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, out: Float64Array"
)]
pub fn expiry_lag(engine: &External<NativeEngine>, mut out: HandleBuffer) -> u32 {
    let lag = engine.engine.expiry_lag();
    let values = lag
        .counts()
        .iter()
        // Counts stay exact in an f64 up to 2^53 sessions.
        .map(|&count| count as f64)
        .chain(std::iter::once(lag.sum()));
    let mut written = 0;
    for (slot, value) in out.slots().zip(values) {
        *slot = value;
        written += 1;
    }
    debug_assert!(written <= EXPIRY_LAG_BUCKETS as u32 + 1);
    written
}
