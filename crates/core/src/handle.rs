//! Handles: a slot plus the slot's generation, packed into a JS-safe integer.

/// Bits of a handle that hold the slot; the generation sits above them.
pub const SLOT_BITS: u32 = 25;
/// Number of slots the table can ever hold.
pub const MAX_SLOTS: u32 = 1 << SLOT_BITS;
/// Generations per slot, so that `slot + generation * 2^25` stays below 2^53. They never
/// wrap: a slot that has issued generation `GENERATION_SPACE - 1` is retired on its release.
pub const GENERATION_SPACE: u32 = 1 << 28;

/// Names one session for its whole life. A slot is reused only after release, which bumps its
/// generation, and retired once its generations are used up, so no handle is issued twice and
/// an old handle can never reach a later session.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Handle {
    slot: u32,
    generation: u32,
}

impl Handle {
    pub(crate) fn new(slot: u32, generation: u32) -> Handle {
        Handle { slot, generation }
    }

    /// The slot index, below [`MAX_SLOTS`].
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// The slot's generation when the handle was issued, below [`GENERATION_SPACE`].
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The JS number form: `slot + generation * 2^25`, always a safe integer.
    ///
    /// ```
    /// # use sessionkeeper_core::Handle;
    /// let h = Handle::from_f64(3.0 + 2.0 * 33554432.0).unwrap();
    /// assert_eq!((h.slot(), h.generation()), (3, 2));
    /// assert_eq!(h.to_f64(), 3.0 + 2.0 * 33554432.0);
    /// ```
    pub fn to_f64(self) -> f64 {
        f64::from(self.slot) + f64::from(self.generation) * f64::from(MAX_SLOTS)
    }

    /// Parses the JS number form. `None` for anything no handle can be: negative, NaN,
    /// infinite, fractional or >= 2^53. Such numbers are simply "stale" to the engine.
    pub fn from_f64(v: f64) -> Option<Handle> {
        const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
        if !(0.0..LIMIT).contains(&v) || v.fract() != 0.0 {
            return None;
        }
        let packed = v as u64;
        let slot = (packed & u64::from(MAX_SLOTS - 1)) as u32;
        let generation = u32::try_from(packed >> SLOT_BITS).ok()?;
        if generation >= GENERATION_SPACE {
            return None;
        }
        Some(Handle { slot, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let h = Handle::new(MAX_SLOTS - 1, GENERATION_SPACE - 1);
        assert_eq!(h.to_f64(), 9_007_199_254_740_991.0);
        assert_eq!(Handle::from_f64(h.to_f64()), Some(h));
        assert_eq!(Handle::from_f64(0.0), Some(Handle::new(0, 0)));
        for bad in [
            -1.0,
            0.5,
            f64::NAN,
            f64::INFINITY,
            9_007_199_254_740_992.0,
            -0.5,
        ] {
            assert_eq!(Handle::from_f64(bad), None, "{bad}");
        }
    }
}
