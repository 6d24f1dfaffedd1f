//! The engine's lookup-and-renew at a given table size, with no binding in the way: the
//! figure to compare with the N-API floor, and a fixed workload for cachegrind/callgrind.
//!
//! `cargo run --release -p sessionkeeper-core --example lookup_profile -- 1000000`

use std::time::Instant;

use sessionkeeper_core::{Config, Engine};

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut engine = Engine::new(Config::default()).expect("default config is valid");
    let now = 1_700_000_000_000.0;
    // Ids as text, side by side in one buffer, as a request's cookie header would hold them
    // (one cache miss to read each), visited in a fixed pseudo-random order.
    let mut text = Vec::new();
    let mut id_len = 0;
    for _ in 0..size {
        let h = engine.create(now, 60_000.0, 0.0).expect("create");
        let id = engine.id(h).expect("id");
        id_len = id.len();
        text.extend_from_slice(id.as_bytes());
    }
    let mut order: Vec<u32> = (0..size as u32).collect();
    let mut state = 42u32;
    for i in (1..size).rev() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        order.swap(i, state as usize % (i + 1));
    }
    let mut samples = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        let mut found = 0usize;
        for &i in &order {
            let at = i as usize * id_len;
            let id = &text[at..at + id_len];
            if engine.lookup(id, now + round as f64, true).is_some() {
                found += 1;
            }
        }
        assert_eq!(found, size, "every lookup must hit");
        samples.push(start.elapsed().as_nanos() as f64 / size as f64);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "{size} sessions: lookup+renew median {:.0} ns (runs: {:?})",
        samples[samples.len() / 2],
        samples.iter().map(|s| s.round()).collect::<Vec<_>>()
    );
}
