//! Hostile review of the deadline wheel: level boundaries (64^L ticks ± 1), the overflow, clock
//! jumps of ten years, setters that move deadlines across levels and to none and back, users
//! set and cleared, at resolutions 1, 7, 1000 and 2^31 - 1. A simulated expiry timer (it wakes
//! at `next_deadline()`, never more often than every `resolution` ms) checks that expiry is
//! never early and less than `resolution` late, and counts the wake-ups that expire nothing.

use sessionkeeper_core::{Config, Engine, Handle, KeyMode};

const B6: f64 = 68_719_476_736.0; // 64^6

fn engine(resolution: f64) -> Engine {
    Engine::new(Config {
        keys: KeyMode::Caller,
        resolution,
        ..Config::default()
    })
    .unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Timeouts on every level boundary of the wheel at `resolution`, one tick and one ms either
/// side, and past the overflow.
fn boundary_timeouts(resolution: f64) -> Vec<f64> {
    let mut out = vec![0.0, 1.0];
    for level in 0..=7 {
        let span = 64f64.powi(level) * resolution;
        for t in [
            span - resolution,
            span - 1.0,
            span,
            span + 1.0,
            span + resolution,
        ] {
            if (1.0..=9.0e15).contains(&t) {
                out.push(t);
            }
        }
    }
    out.push(3.0 * B6 * resolution.min(1.0e3) + 5.0);
    out
}

struct Sim {
    e: Engine,
    res: f64,
    now: f64,
    last_wake: f64,
    /// Per handle: when its deadline was last set (a create, renew, setter or user change).
    live: Vec<(Handle, f64)>,
    empty_wakes: usize,
    wakes: usize,
    expired: usize,
}

impl Sim {
    /// Runs the expiry timer up to `until`: wake at max(next_deadline, last wake + resolution).
    fn run_timer(&mut self, until: f64) {
        loop {
            let wake = self
                .e
                .next_deadline()
                .max(self.last_wake + self.res)
                .max(self.now);
            if wake > until {
                break;
            }
            self.now = wake;
            self.last_wake = wake;
            self.wakes += 1;
            let mut n = 0;
            loop {
                let mut out = Vec::new();
                let got = self.e.sweep(wake, 16, |h| out.push(h));
                for h in out {
                    let d = self.e.expires_at(h).unwrap();
                    let set = self
                        .live
                        .iter()
                        .find(|(x, _)| *x == h)
                        .map(|x| x.1)
                        .unwrap();
                    assert!(d <= wake, "early: deadline {d}, swept at {wake}");
                    assert!(
                        wake <= d.max(set) + self.res,
                        "late: deadline {d} (set at {set}) swept at {wake}, resolution {}",
                        self.res
                    );
                    self.live.retain(|(x, _)| *x != h);
                    assert!(self.e.release(h));
                    n += 1;
                }
                self.e.check_invariants().unwrap();
                if got < 16 && self.e.next_deadline() > wake {
                    break;
                }
            }
            self.expired += n;
            if n == 0 {
                self.empty_wakes += 1;
            }
        }
        self.now = self.now.max(until);
    }

    fn touched(&mut self, h: Handle) {
        let now = self.now;
        if let Some(x) = self.live.iter_mut().find(|(x, _)| *x == h) {
            x.1 = now;
        }
    }
}

fn simulate(resolution: f64, seed: u64, steps: usize) -> Sim {
    let timeouts = boundary_timeouts(resolution);
    let mut rng = Rng(seed);
    let start = 1_700_000_000_000.0 - (1_700_000_000_000.0 % resolution);
    let mut sim = Sim {
        e: engine(resolution),
        res: resolution,
        now: start,
        last_wake: f64::NEG_INFINITY,
        live: Vec::new(),
        empty_wakes: 0,
        wakes: 0,
        expired: 0,
    };
    let mut created = 0usize;
    for _ in 0..steps {
        // Clock moves: a slot boundary, ± 1 ms, a level boundary, ten years.
        let target = match rng.below(10) {
            0 => sim.now + 1.0,
            1 => (sim.now / resolution).floor() * resolution + resolution,
            2 => (sim.now / resolution).floor() * resolution + resolution - 1.0,
            3 => sim.now + timeouts[rng.below(timeouts.len())],
            4 if rng.below(20) == 0 => sim.now + 10.0 * 365.25 * 86_400_000.0,
            _ => sim.now,
        };
        sim.run_timer(target);
        let pick = |rng: &mut Rng, live: &Vec<(Handle, f64)>| {
            (!live.is_empty()).then(|| live[rng.below(live.len())].0)
        };
        match rng.below(8) {
            0 | 1 => {
                let idle = timeouts[rng.below(timeouts.len())];
                let abs = if rng.below(3) == 0 {
                    timeouts[rng.below(timeouts.len())]
                } else {
                    0.0
                };
                let h = sim
                    .e
                    .create_with_key(format!("k{created}").as_bytes(), sim.now, idle, abs)
                    .unwrap();
                created += 1;
                sim.live.push((h, sim.now));
            }
            2 => {
                if let Some(h) = pick(&mut rng, &sim.live) {
                    if sim.e.touch(h, sim.now) {
                        sim.touched(h);
                    }
                }
            }
            3 | 4 => {
                if let Some(h) = pick(&mut rng, &sim.live) {
                    let t = timeouts[rng.below(timeouts.len())];
                    if sim.e.is_alive(h, sim.now) {
                        if rng.below(2) == 0 {
                            sim.e.set_idle_timeout(h, t);
                        } else {
                            sim.e.set_absolute_timeout(h, t);
                        }
                        sim.touched(h);
                    }
                }
            }
            5 => {
                if let Some(h) = pick(&mut rng, &sim.live) {
                    let user = ["u", ""][rng.below(2)];
                    sim.e.set_user(h, (rng.below(2) == 0).then_some(user));
                }
            }
            6 => {
                if let Some(v) = sim.e.eviction_candidate() {
                    sim.live.retain(|(x, _)| *x != v);
                    assert!(sim.e.release(v));
                }
            }
            _ => {}
        }
        sim.e.check_invariants().unwrap();
        let earliest = sim
            .live
            .iter()
            .map(|(h, _)| sim.e.expires_at(*h).unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(sim.e.next_deadline() <= earliest);
    }
    sim.run_timer(sim.now + 40.0 * 365.25 * 86_400_000.0);
    sim
}

#[test]
fn expiry_is_never_early_and_less_than_a_resolution_late_at_every_level_boundary() {
    for resolution in [1.0, 7.0, 1000.0, 2_147_483_647.0] {
        for seed in 1..=12u64 {
            let sim = simulate(resolution, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 400);
            // A wake-up that expires nothing cascades at least one filing a level down (or
            // re-files a renewed session): bounded by the filings, never a spin.
            assert!(
                sim.empty_wakes <= 8 * (sim.wakes - sim.empty_wakes + 400),
                "resolution {resolution}: {} empty of {} wakes",
                sim.empty_wakes,
                sim.wakes
            );
        }
    }
}

/// Found by this review: opening the overflow moved the cursor to the 64^6 block of the
/// earliest overflow deadline even when that block lay years after `now`. Every deadline filed
/// afterwards fell at or before the cursor, into the current bucket: one unordered list that
/// each sweep walked in full (10^4 visits per sweep) and that eviction took in filing order,
/// the overflow session (due in six years) first.
#[test]
fn opening_the_overflow_never_moves_the_cursor_past_now() {
    let mut e = engine(1.0);
    let far = e.create_with_key(b"far", 0.0, 3.0 * B6, 0.0).unwrap();
    let now = B6 + 5.0;
    assert_eq!(e.sweep_release(now, 10), 0);
    e.check_invariants().unwrap();
    let near: Vec<Handle> = (0..1000)
        .map(|i| {
            e.create_with_key(
                format!("s{i}").as_bytes(),
                now,
                60_000.0 + f64::from(i),
                0.0,
            )
            .unwrap()
        })
        .collect();
    e.check_invariants().unwrap();
    assert_eq!(e.eviction_candidate(), Some(near[0]));
    // The next deadline is the start of the 64^2-tick bucket of the first, not the overflow's.
    assert!(e.next_deadline() <= now + 60_000.0 && e.next_deadline() > now);
    let mut swept = 0;
    for i in 0..1000 {
        swept += e.sweep_release(now + 60_000.0 + f64::from(i), 10);
    }
    assert_eq!(swept, 1000);
    assert_eq!(e.eviction_candidate(), Some(far));
    assert_eq!(e.sweep_release(3.0 * B6 - 1.0, 10), 0);
    assert_eq!(e.sweep_release(3.0 * B6, 10), 1);
    e.check_invariants().unwrap();
}

/// The same after a ten-year jump of the clock with sessions in the overflow at 1 ms.
#[test]
fn a_ten_year_jump_with_sessions_in_the_overflow() {
    let ten_years = 10.0 * 365.25 * 86_400_000.0;
    let mut e = engine(1.0);
    let hs: Vec<Handle> = (0..50)
        .map(|i| {
            e.create_with_key(
                format!("o{i}").as_bytes(),
                0.0,
                2.0 * ten_years + f64::from(i) * B6 / 7.0,
                0.0,
            )
            .unwrap()
        })
        .collect();
    let now = ten_years;
    assert_eq!(e.sweep_release(now, 100), 0);
    let fresh = e.create_with_key(b"fresh", now, 1000.0, 0.0).unwrap();
    e.check_invariants().unwrap();
    assert_eq!(e.eviction_candidate(), Some(fresh));
    assert_eq!(e.sweep_release(now + 999.0, 100), 0);
    assert_eq!(e.sweep_release(now + 1000.0, 100), 1);
    let mut t = now + 1000.0;
    let mut wakes = 0;
    while e.next_deadline() < f64::INFINITY {
        t = t.max(e.next_deadline());
        e.sweep_release(t, 100);
        e.check_invariants().unwrap();
        wakes += 1;
        assert!(wakes < 2000);
    }
    assert!(hs.iter().all(|&h| e.expires_at(h).is_none()));
}

/// Found by review: sessions due later in the current tick were left in place by each walk and
/// walked again by every sweep call in that tick (70,000 sessions due within one 1 s tick,
/// swept every ms, cost 3.5 x 10^7 slot reads). The first full walk now sorts what it leaves,
/// and the sweeps that follow stop at the first session not yet due; expiry stays exact.
#[test]
fn sessions_due_later_in_the_current_tick_expire_exactly_from_a_sorted_bucket() {
    let mut e = engine(1000.0);
    for i in 0..10_000 {
        // Filed out of order: deadlines cycle through the tick.
        e.create_with_key(
            format!("k{i}").as_bytes(),
            0.0,
            61_000.5 + f64::from((i * 7) % 1000),
            0.0,
        )
        .unwrap();
    }
    assert_eq!(e.sweep_release(61_000.0, 256), 0);
    assert_eq!(e.next_deadline(), 61_000.5);
    e.check_invariants().unwrap();
    let mut closed = 0;
    let mut late = None;
    for now in 61_001..=62_000 {
        if now == 61_500 {
            // Out of order: the bucket is walked in full once more, and sorted again.
            late = Some(e.create_with_key(b"late", 61_500.0, 10.0, 0.0).unwrap());
            e.check_invariants().unwrap();
        }
        let now = f64::from(now);
        loop {
            let n = e.sweep_release(now, 256);
            closed += n;
            if n < 256 {
                break;
            }
        }
        // Exact: every session due by now is closed, and no other.
        let due = ((now - 61_000.0) as usize).min(1000) * 10 + usize::from(now >= 61_510.0);
        assert_eq!(closed, due, "at {now}");
        assert!(e.next_deadline() > now);
        e.check_invariants().unwrap();
    }
    assert!(!e.is_alive(late.unwrap(), 62_000.0));
    assert_eq!(e.len(), 0);
}

/// A session renewed to a deadline still inside the current tick (an idle timeout below
/// `resolution`) is filed again at once, so the sorted bucket stays in order of true deadlines:
/// a walk that stops at the first session not yet due holds back nothing. Before the renewal
/// was re-filed, `b` (due 61,200) waited behind `a` until 61,299.
#[test]
fn a_renewal_inside_the_tick_is_filed_again_so_a_sorted_bucket_expires_exactly() {
    let mut e = engine(1000.0);
    let b = e.create_with_key(b"b", 0.0, 61_200.0, 0.0).unwrap();
    let a = e.create_with_key(b"a", 60_900.0, 200.0, 0.0).unwrap();
    assert_eq!(e.sweep_release(61_050.0, 10), 0);
    assert_eq!(e.next_deadline(), 61_100.0, "sorted: a first");
    // Renewed inside the tick: a is due at 61,299, now after b.
    assert!(e.lookup(b"a", 61_099.0, true).is_some());
    e.check_invariants().unwrap();
    assert!(e.next_deadline() <= 61_200.0);
    assert_eq!(e.sweep_release(61_250.0, 10), 1, "b, due at 61,200");
    assert!(!e.is_alive(b, 61_250.0));
    assert_eq!(e.next_deadline(), 61_299.0);
    e.check_invariants().unwrap();
    assert_eq!(e.sweep_release(61_299.0, 10), 1);
    assert!(!e.is_alive(a, 61_299.0));
    e.check_invariants().unwrap();
}
