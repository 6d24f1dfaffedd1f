//! The engine's lookup-and-renew at a given table size, with no binding in the way: the
//! figure to compare with the N-API floor, and a fixed workload for cachegrind/callgrind.
//!
//! `cargo run --release -p sessionkeeper-core --example lookup_profile -- 1000000 [rounds]`

use std::time::Instant;

use sessionkeeper_core::{Config, Engine};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let size: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut engine = Engine::new(Config::default()).map_err(|e| format!("{e:?}"))?;
    let now = 1_700_000_000_000.0;
    // Ids as text, side by side in one buffer, as a request's cookie header would hold them
    // (one cache miss to read each), visited in a fixed pseudo-random order.
    let mut text = Vec::new();
    let mut id_len = 0;
    for _ in 0..size {
        let h = engine
            .create(now, 60_000.0, 0.0)
            .map_err(|e| format!("{e:?}"))?;
        let id = engine.id(h).ok_or("a new session has an id")?;
        id_len = id.len();
        text.extend_from_slice(id.as_bytes());
    }
    let ids: Vec<&[u8]> = text.chunks_exact(id_len.max(1)).collect();
    let mut order: Vec<usize> = (0..ids.len()).collect();
    let mut state = 42u32;
    for i in (1..order.len()).rev() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        order.swap(i, state as usize % (i + 1));
    }
    let mut samples = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        let mut found = 0usize;
        for id in order.iter().filter_map(|&i| ids.get(i)) {
            if engine.lookup(id, now + round as f64, true).is_some() {
                found += 1;
            }
        }
        if found != size {
            return Err(format!("{} of {size} lookups missed", size - found));
        }
        samples.push(start.elapsed().as_nanos() as f64 / size.max(1) as f64);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN);
    let runs: Vec<f64> = samples.iter().map(|s| s.round()).collect();
    println!("{size} sessions: lookup+renew median {median:.0} ns (runs: {runs:?})");
    Ok(())
}
