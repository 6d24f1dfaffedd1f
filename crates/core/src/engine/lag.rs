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
        let bucket = EXPIRY_LAG_BOUNDS
            .iter()
            .position(|&bound| lag <= bound)
            .unwrap_or(EXPIRY_LAG_BOUNDS.len());
        if let Some(count) = self.counts.get_mut(bucket) {
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
