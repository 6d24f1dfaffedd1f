//! The engine of sessionkeeper: a slot table of sessions addressed by generation-checked
//! handles, an open-addressing id index keyed by a per-process randomly seeded hasher, and a
//! hierarchical deadline wheel with lazy re-filing per eviction class, which makes renew,
//! expiry, the timeout setters and eviction O(1) amortized whatever the number of distinct
//! timeouts.
//!
//! The N-API binding maps [`Engine`] one to one onto the TypeScript `Engine` interface
//! (`ts/engine.ts`); a pure TypeScript engine implements the same algorithm, so every rule
//! here (filing order, tie breaking, f64 arithmetic) is deliberate and shared: the repository's
//! `docs/engine-algorithm.md` states it once for both.
//!
//! ```
//! use sessionkeeper_core::{Config, Engine, State};
//! let mut engine = Engine::new(Config::default()).unwrap();
//! let h = engine.create(0.0, 1000.0, 0.0).unwrap();
//! let id = engine.id(h).unwrap();
//! assert_eq!(engine.lookup(id.as_bytes(), 500.0, true), Some(h));
//! assert_eq!(engine.sweep_release(1499.0, 10), 0); // renewed at 500: due at 1500
//! assert_eq!(engine.sweep_release(1500.0, 10), 1);
//! assert_eq!(engine.state(h), State::Stale);
//! ```

// A panic in the engine would cross into JavaScript through the binding: outside tests, no
// unwrap, expect or panic (the binding denies them too).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;
pub mod cookie;
mod data;
mod engine;
mod error;
mod handle;
mod ids;
mod index;
mod paged;
mod prefetch;
mod table;
mod wheel;

pub mod persist;

pub use config::{Config, IdEncoding, KeyMode};
pub use engine::{Engine, ExpiryLag, State, EXPIRY_LAG_BOUNDS, EXPIRY_LAG_BUCKETS};
pub use error::{Error, RekeyError, SetDataError};
pub use handle::{Handle, GENERATION_SPACE, MAX_SLOTS, SLOT_BITS};
