//! Expiry lag: how late after its deadline each sweep took a session out, counted in fixed
//! buckets as the sweep goes. The metrics read the counts on scrape in one call, so measuring
//! costs the sweep a subtraction and a few comparisons per session and never a crossing into
//! JavaScript per session (the sweep that releases frees sessions without one).

use super::Engine;

/// Upper bounds (inclusive, ms) of the expiry-lag buckets; a last bucket takes what is later.
/// Spans the default resolution (1000 ms, the most a healthy process is late) a hundredfold
/// down and sixtyfold up, where a blocked event loop or a clock step shows. The JavaScript
/// engine (`ts/engine.ts` `EXPIRY_LAG_BOUNDS`) has the same bounds; the differential spec
/// checks that both put each lag in the same bucket.
pub const EXPIRY_LAG_BOUNDS: [f64; 14] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0,
];

/// Buckets of [`ExpiryLag::counts`]: one per bound, and one over the last.
pub const EXPIRY_LAG_BUCKETS: usize = EXPIRY_LAG_BOUNDS.len() + 1;

/// Counts of swept sessions by lateness, and the lateness summed. Only grows: it outlives
/// every session it counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExpiryLag {
    counts: [u64; EXPIRY_LAG_BUCKETS],
    sum: f64,
}

impl ExpiryLag {
    /// Counts one session taken out `lag` ms after its deadline. A sweep only takes sessions
    /// whose deadline is not after `now`, so `lag` is never negative; NaN (no deadline) is
    /// not a lag and is skipped.
    pub(crate) fn record(&mut self, lag: f64) {
        if lag.is_nan() {
            debug_assert!(false, "a swept session had no deadline");
            return;
        }
        let lag = lag.max(0.0);
        if let Some(count) = self.counts.get_mut(bucket_of(lag)) {
            *count += 1;
        }
        self.sum += lag;
    }

    /// Sessions per bucket: `counts()[i]` were at most `EXPIRY_LAG_BOUNDS[i]` ms late and
    /// more than the bound before; the last bucket counts those over 60 s.
    pub fn counts(&self) -> &[u64; EXPIRY_LAG_BUCKETS] {
        &self.counts
    }

    /// Every counted lag added up, in ms.
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// Octaves of lag, `[2^k, 2^(k+1))` ms for `k` in `0..OCTAVES`; a lag under 1 ms counts in the
/// first, and the last starts past every bound.
const OCTAVES: usize = 18;

/// Per octave: how many bounds lie below its start, and the bound inside it (infinity when
/// none; no octave holds two, which the build checks).
const OCTAVE_BOUNDS: ([u8; OCTAVES], [f64; OCTAVES]) = octave_bounds();

const fn octave_bounds() -> ([u8; OCTAVES], [f64; OCTAVES]) {
    let mut below = [0u8; OCTAVES];
    let mut inside = [f64::INFINITY; OCTAVES];
    let mut k = 0;
    while k < OCTAVES {
        let start = (1u64 << k) as f64;
        let mut i = 0;
        while i < EXPIRY_LAG_BOUNDS.len() {
            let bound = EXPIRY_LAG_BOUNDS[i];
            if bound < start {
                below[k] += 1;
            } else if bound < start * 2.0 {
                assert!(
                    inside[k] == f64::INFINITY,
                    "two expiry-lag bounds in one octave"
                );
                inside[k] = bound;
            }
            i += 1;
        }
        k += 1;
    }
    assert!(below[OCTAVES - 1] as usize == EXPIRY_LAG_BOUNDS.len());
    (below, inside)
}

/// The bucket of a lag (>= 0, not NaN): the number of bounds it is over. Found from its octave
/// (the exponent of the f64) and one comparison, in a few instructions without a branch: a
/// search over the 14 bounds cost +7 to 9 ns per session, a fifth of a ~45 ns `sweep_release`
/// (bench/sweep-ab.ts), where this costs none measurable.
fn bucket_of(lag: f64) -> usize {
    let exponent = (lag.to_bits() >> 52) as usize;
    let octave = exponent.saturating_sub(1023).min(OCTAVES - 1);
    let (below, inside) = &OCTAVE_BOUNDS;
    let below = below
        .get(octave)
        .map_or(EXPIRY_LAG_BOUNDS.len(), |&n| usize::from(n));
    let inside = inside.get(octave).copied().unwrap_or(f64::INFINITY);
    below + usize::from(lag > inside)
}

impl Engine {
    /// How late the sweeps ([`Engine::sweep`], [`Engine::sweep_release`]) took sessions out,
    /// since the engine was built. Sessions closed otherwise (detached by hand, found expired
    /// by [`Engine::detach_if_expired`]) are not counted: their caller knows when it closes
    /// them. O(1).
    ///
    /// ```
    /// # use sessionkeeper_core::*;
    /// let mut e = Engine::new(Config { resolution: 1.0, ..Config::default() }).unwrap();
    /// e.create(0.0, 100.0, 0.0).unwrap(); // due at 100
    /// e.create(0.0, 200.0, 0.0).unwrap(); // due at 200
    /// assert_eq!(e.sweep_release(207.0, 10), 2);
    /// let lag = e.expiry_lag();
    /// assert_eq!(lag.sum(), 107.0 + 7.0);
    /// assert_eq!((lag.counts()[2], lag.counts()[6]), (1, 1)); // (5, 10] and (100, 250]
    /// ```
    pub fn expiry_lag(&self) -> &ExpiryLag {
        &self.lag
    }

    /// Counts the lateness of `slot`, which a sweep is taking out at `now`.
    pub(super) fn record_lag(&mut self, slot: u32, now: f64) {
        if let Some(e) = self.table.slot(slot) {
            self.lag.record(now - e.expires_at());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lag_on_a_bound_counts_in_that_bound_and_one_more_in_the_next() {
        let mut lag = ExpiryLag::default();
        for (index, &bound) in EXPIRY_LAG_BOUNDS.iter().enumerate() {
            lag.record(bound);
            lag.record(bound + 0.5);
            assert_eq!(lag.counts()[index], if index == 0 { 1 } else { 2 });
        }
        assert_eq!(lag.counts()[EXPIRY_LAG_BOUNDS.len()], 1);
        assert_eq!(lag.counts().iter().sum::<u64>(), 28);
    }

    #[test]
    fn the_octave_lookup_finds_the_bucket_a_search_finds() {
        let search = |lag: f64| {
            EXPIRY_LAG_BOUNDS
                .iter()
                .position(|&bound| lag <= bound)
                .unwrap_or(EXPIRY_LAG_BOUNDS.len())
        };
        let mut lags = vec![0.0, 1e-300, 0.5, 0.999, 2.0, 1e9, f64::MAX, f64::INFINITY];
        for &bound in &EXPIRY_LAG_BOUNDS {
            lags.extend([bound, bound - 0.5, bound + 0.5, bound - 1.0, bound + 1.0]);
            lags.extend([bound.next_up(), bound.next_down()]);
        }
        for k in 0..20 {
            let power = f64::from(1u32 << k);
            lags.extend([power, power.next_down(), power.next_up()]);
        }
        for lag in lags.into_iter().chain((0..200_000).map(f64::from)) {
            assert_eq!(bucket_of(lag), search(lag), "lag {lag}");
        }
    }

    #[test]
    fn zero_lag_is_in_the_first_bucket() {
        let mut lag = ExpiryLag::default();
        lag.record(0.0);
        assert_eq!(lag.counts()[0], 1);
        assert_eq!(lag.sum(), 0.0);
    }

    #[test]
    fn both_sweeps_count_each_session_once_with_its_own_lag() {
        let mut e = Engine::new(crate::Config {
            resolution: 1.0,
            ..crate::Config::default()
        })
        .unwrap();
        let mut handles = Vec::new();
        // Due at 10, 20, ..., 100; swept at 100: 90, 80, ..., 0 ms late.
        for i in 1..=10 {
            handles.push(e.create(0.0, f64::from(i) * 10.0, 0.0).unwrap());
        }
        let mut seen = 0;
        assert_eq!(e.sweep(100.0, 4, |_| seen += 1), 4);
        assert_eq!(e.sweep_release(100.0, 100), 6);
        assert_eq!(seen, 4);
        let lag = e.expiry_lag();
        assert_eq!(lag.counts().iter().sum::<u64>(), 10);
        assert_eq!(lag.sum(), (0..10).map(|i| f64::from(i) * 10.0).sum::<f64>());
        // 0 | 10 | 20 | 30 40 50 | 60 70 80 90
        assert_eq!(&lag.counts()[..6], &[1, 0, 1, 1, 3, 4]);
        // Closing by hand or finding expired on lookup is the caller's to count.
        let late = e.create(100.0, 1.0, 0.0).unwrap();
        let id = e.id(late).unwrap();
        assert_eq!(e.detach_if_expired(id.as_bytes(), 500.0), Some(late));
        assert_eq!(e.expiry_lag().counts().iter().sum::<u64>(), 10);
    }
}
