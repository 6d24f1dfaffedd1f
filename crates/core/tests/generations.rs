//! A handle reaches its own session and never a later one in the same slot: a slot whose
//! generations run out is retired instead of starting over at generation 0. The default space
//! (2^28 sessions per slot) is out of reach of a test, so these use the test knob
//! `Engine::with_generation_space` to make it a handful.

use std::collections::HashSet;

use sessionkeeper_core::{
    Config, Engine, Error, Handle, KeyMode, RekeyError, SetDataError, State, GENERATION_SPACE,
};

const NOW: f64 = 1_700_000_000_000.0;

fn engine(keys: KeyMode, generations: u32) -> Engine {
    Engine::with_generation_space(
        Config {
            keys,
            ..Config::default()
        },
        generations,
    )
    .unwrap()
}

/// Creates a session with an idle timeout of one hour, under `key` in caller mode.
fn create(e: &mut Engine, key: &str) -> Result<Handle, Error> {
    match e.config().keys {
        KeyMode::Random => e.create(NOW, 3_600_000.0, 0.0),
        KeyMode::Caller => e.create_with_key(key.as_bytes(), NOW, 3_600_000.0, 0.0),
    }
}

/// Gives a session data, a user and roles naming `owner`.
fn fill(e: &mut Engine, h: Handle, owner: &str) {
    assert_eq!(e.set_data(h, "owner", owner), Ok(()));
    assert!(e.set_user(h, Some(owner)));
    assert!(e.set_roles(h, &[owner]));
}

/// Every getter and mutator answers "stale" through `h`; a mutator that wrongly succeeds
/// shows up as a failed assertion here or as a changed session in `assert_intact`.
fn assert_stale(e: &mut Engine, h: Handle) {
    assert_eq!(e.state(h), State::Stale, "{h:?}");
    assert!(!e.is_alive(h, NOW));
    assert_eq!(e.id(h), None);
    assert_eq!(e.write_id(h, &mut [0u8; 256]), None);
    assert_eq!(e.created_at(h), None);
    assert_eq!(e.last_activity(h), None);
    assert_eq!(e.expires_at(h), None);
    assert_eq!(e.idle_timeout(h), None);
    assert_eq!(e.absolute_timeout(h), None);
    assert_eq!(e.get_data(h, "owner"), None);
    assert_eq!(e.data_keys(h), None);
    assert_eq!(e.data_bytes(h), None);
    assert_eq!(e.user(h), None);
    assert_eq!(e.roles(h), None);
    assert_eq!(e.set_data(h, "owner", "mallory"), Err(SetDataError::Stale));
    assert!(!e.delete_data(h, "owner"));
    assert!(!e.set_user(h, Some("mallory")));
    assert!(!e.set_roles(h, &["mallory"]));
    assert!(!e.set_idle_timeout(h, 1.0));
    assert!(!e.set_absolute_timeout(h, 1.0));
    assert!(!e.touch(h, NOW + 1.0));
    match e.config().keys {
        KeyMode::Random => assert_eq!(e.regenerate(h, NOW).unwrap(), None),
        KeyMode::Caller => assert_eq!(e.rekey(h, b"mallory", NOW), Err(RekeyError::NotAttached)),
    }
    assert!(!e.detach(h));
    assert!(!e.release(h));
}

/// The session behind `h` is still attached and exactly as `fill` left it.
fn assert_intact(e: &mut Engine, h: Handle, owner: &str) {
    assert_eq!(e.state(h), State::Attached);
    assert_eq!(e.get_data(h, "owner"), Some(owner));
    assert_eq!(e.data_keys(h), Some(vec!["owner"]));
    assert_eq!(e.user(h), Some(owner));
    assert_eq!(e.roles(h), Some(vec![owner]));
    assert_eq!(e.last_activity(h), Some(NOW));
    assert_eq!(e.idle_timeout(h), Some(3_600_000.0));
    assert_eq!(e.absolute_timeout(h), Some(0.0));
    let id = e.id(h).unwrap();
    assert_eq!(e.lookup(id.as_bytes(), NOW, false), Some(h));
}

#[test]
fn a_handle_kept_from_an_old_session_never_reaches_the_newest_in_its_slot() {
    for keys in [KeyMode::Random, KeyMode::Caller] {
        for generations in [1, 2, 3, 5] {
            let mut e = engine(keys, generations);
            // One slot through every generation it has: the LIFO free stack hands it back
            // each time, as it does to a server that creates and closes one session at a time.
            let mut kept = Vec::new();
            for generation in 0..generations {
                let h = create(&mut e, "k").unwrap();
                assert_eq!((h.slot(), h.generation()), (0, generation));
                fill(&mut e, h, "alice");
                assert!(e.release(h));
                kept.push(h);
            }
            let newest = create(&mut e, "k").unwrap();
            fill(&mut e, newest, "bob");
            for &h in &kept {
                assert_stale(&mut e, h);
            }
            assert_intact(&mut e, newest, "bob");
            assert_eq!(e.len(), 1);
            assert_ne!(newest.slot(), 0, "slot 0 has issued its last generation");
            assert_eq!(newest.generation(), 0);
        }
    }
}

#[test]
fn no_slot_and_generation_is_ever_issued_twice() {
    for keys in [KeyMode::Random, KeyMode::Caller] {
        let mut e = engine(keys, 3);
        let mut issued = HashSet::new();
        let mut released = Vec::new();
        let mut live: Vec<Handle> = Vec::new();
        // Sessions come and go a few at a time, in an order that mixes the free stack.
        for step in 0..200u32 {
            if step % 3 != 2 || live.is_empty() {
                let h = create(&mut e, &format!("k{step}")).unwrap();
                assert!(issued.insert(h), "{h:?} issued twice");
                fill(&mut e, h, &format!("owner{step}"));
                live.push(h);
            } else {
                let h = live.remove((step as usize * 7) % live.len());
                assert!(e.release(h));
                released.push(h);
            }
        }
        for &h in &released {
            assert_stale(&mut e, h);
        }
        assert_eq!(e.len(), live.len());
        for &h in &live {
            assert_eq!(e.state(h), State::Attached);
        }
    }
}

#[test]
fn retiring_a_slot_frees_what_its_last_session_held() {
    let mut e = engine(KeyMode::Caller, 2);
    let long = "k".repeat(200);
    let h = create(&mut e, &long).unwrap();
    fill(&mut e, h, &"x".repeat(1000));
    assert!(e.release(h));
    // Slot 0 is back on the free stack for its last generation; the arrays have their size.
    let before = e.memory_bytes();
    let last = create(&mut e, &long).unwrap();
    assert_eq!((last.slot(), last.generation()), (0, 1));
    fill(&mut e, last, &"x".repeat(1000));
    assert!(e.memory_bytes() > before + 1000);
    assert!(e.release(last));
    assert_eq!(e.memory_bytes(), before);
    assert!(e.is_empty());
}

#[test]
fn the_generation_space_is_checked() {
    for bad in [0, GENERATION_SPACE + 1, u32::MAX] {
        assert!(matches!(
            Engine::with_generation_space(Config::default(), bad),
            Err(Error::InvalidConfig(_))
        ));
    }
    let e = Engine::with_generation_space(Config::default(), GENERATION_SPACE).unwrap();
    assert!(e.is_empty());
}

/// More sessions than three pages of the table hold (1,024 slots a page), so that emptying it
/// releases pages and refilling it makes them again.
const PAGES_WORTH: usize = 3 * 4096 + 100;

#[test]
fn handles_stay_stale_and_slots_come_back_as_they_left_across_a_shrink_and_regrow() {
    for keys in [KeyMode::Random, KeyMode::Caller] {
        let mut e = engine(keys, 3);
        let mut first = Vec::new();
        for i in 0..PAGES_WORTH {
            let h = create(&mut e, &format!("a{i}")).unwrap();
            if i % 101 == 0 {
                fill(&mut e, h, &format!("owner{i}"));
            }
            first.push(h);
        }
        let full = e.memory_bytes();
        for &h in &first {
            assert!(e.release(h));
        }
        e.check_invariants().unwrap();
        assert!(e.is_empty());
        let emptied = e.memory_bytes();
        // Every page but the last one emptied is given back (that one is kept as a spare).
        assert!(emptied * 3 < full, "{emptied} bytes left of {full}");
        // The free stack hands the slots back last released first, each at its next generation,
        // exactly as if no page had been released.
        let mut second = Vec::new();
        for (i, &old) in first.iter().rev().enumerate() {
            let h = create(&mut e, &format!("b{i}")).unwrap();
            assert_eq!((h.slot(), h.generation()), (old.slot(), 1), "{keys:?} {i}");
            second.push(h);
        }
        e.check_invariants().unwrap();
        for &h in first.iter().step_by(97) {
            assert_stale(&mut e, h);
        }
        for (i, &h) in second.iter().enumerate().step_by(89) {
            assert_eq!(e.state(h), State::Attached, "{i}");
        }
        // Once more, to the last generation: the slots retire and stay retired on a page
        // released and made again.
        for &h in &second {
            assert!(e.release(h));
        }
        let third: Vec<Handle> = (0..PAGES_WORTH)
            .map(|i| create(&mut e, &format!("c{i}")).unwrap())
            .collect();
        assert!(third.iter().all(|h| h.generation() == 2));
        for &h in &third {
            assert!(e.release(h));
        }
        e.check_invariants().unwrap();
        let fresh = create(&mut e, "d").unwrap();
        assert_eq!(
            (fresh.slot() as usize, fresh.generation()),
            (PAGES_WORTH, 0)
        );
        for &h in second.iter().chain(&third).step_by(113) {
            assert_stale(&mut e, h);
        }
    }
}
