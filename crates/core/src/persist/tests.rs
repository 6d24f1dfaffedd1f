use super::*;
use crate::{Config, Handle, State};

fn caller() -> FileConfig {
    FileConfig {
        keys: KeyMode::Caller,
        id_encoding: IdEncoding::Base64Url,
        id_bytes: 16,
    }
}

/// Written by the TypeScript implementation (ts/persist): every record kind.
const FIXTURE: &[u8] = include_bytes!("fixture-v1.skdb");

#[test]
fn reads_a_file_the_typescript_writer_wrote() {
    let parsed = parse(FIXTURE, &caller()).unwrap();
    assert_eq!(parsed.torn_at, None);
    assert!(!parsed.clean);
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        parsed.sessions,
        vec![
            SavedSession {
                id: "alice-key".into(),
                created_at: 1_000_000.0,
                last_activity: 1_000_000.0,
                idle_timeout: 60_000.0,
                absolute_timeout: 3_600_000.0,
                user: Some("alice".into()),
                roles: strings(&["admin", "ops"]),
                data: pairs(&[("ключ", "значение"), ("cart", "3 items")]),
            },
            SavedSession {
                id: "bob-key-2".into(),
                created_at: 1_000_100.0,
                last_activity: 1_000_200.0,
                idle_timeout: 0.0,
                absolute_timeout: 0.0,
                user: None,
                roles: strings(&["reader"]),
                data: pairs(&[("n", "1")]),
            },
        ]
    );
}

#[test]
fn a_snapshot_restores_into_another_engine_exactly() {
    let config = Config {
        keys: KeyMode::Caller,
        ..Config::default()
    };
    let mut first = Engine::new(config.clone()).unwrap();
    let a = first.create_with_key(b"a", 10.0, 100.0, 0.0).unwrap();
    first.set_user(a, Some("alice"));
    first.set_roles(a, &["x", "y"]);
    first.set_data(a, "k", "v").unwrap();
    first.set_data(a, "k2", "v2").unwrap();
    let b = first.create_with_key(b"b", 20.0, 0.0, 50.0).unwrap();
    let mut file = encode_header(&FileConfig::of(&first), 0.0, FLAG_CLEAN).to_vec();
    write_sessions(&first, &mut file);
    let parsed = parse(&file, &caller()).unwrap();
    assert!(parsed.clean);
    let mut second = Engine::new(config).unwrap();
    let handles = restore(&mut second, &parsed.sessions, 0.0, 30.0).unwrap();
    assert_eq!(handles.len(), 2);
    for (old, new) in [(a, handles[0]), (b, handles[1])] {
        assert_eq!(second.id(new), first.id(old));
        assert_eq!(second.created_at(new), first.created_at(old));
        assert_eq!(second.last_activity(new), first.last_activity(old));
        assert_eq!(second.expires_at(new), first.expires_at(old));
        assert_eq!(second.user(new), first.user(old));
        assert_eq!(second.roles(new), first.roles(old));
        assert_eq!(second.data_keys(new), first.data_keys(old));
    }
    assert_eq!(second.get_data(handles[0], "k2"), Some("v2"));
    assert_eq!(second.state(handles[1]), State::Attached);
}

#[test]
fn truncation_at_every_byte_loads_the_records_before_the_cut_or_fails_in_the_header() {
    let ends = record_starts()
        .iter()
        .skip(1)
        .copied()
        .chain([FIXTURE.len()])
        .collect::<Vec<_>>();
    for cut in 0..=FIXTURE.len() {
        match parse(&FIXTURE[..cut], &caller()) {
            Err(Damage::NotOurs { offset: 0, .. }) => assert!(cut < HEADER_BYTES),
            Ok(parsed) => {
                assert!(cut >= HEADER_BYTES);
                let whole = ends.iter().filter(|&&end| end <= cut).count();
                assert_eq!(parsed.records, whole, "cut at {cut}");
                let boundary = cut == HEADER_BYTES || ends.contains(&cut);
                assert_eq!(parsed.torn_at.is_none(), boundary, "cut at {cut}");
            }
            Err(other) => panic!("cut at {cut}: {other:?}"),
        }
    }
}

fn record_starts() -> Vec<usize> {
    let mut starts = vec![];
    let mut at = HEADER_BYTES;
    while at < FIXTURE.len() {
        starts.push(at);
        at += FRAME_BYTES + u32_le(&FIXTURE[at..at + 4]) as usize;
    }
    starts
}

#[test]
fn a_flipped_byte_is_corruption_at_its_record_or_a_torn_final_record() {
    let starts = record_starts();
    let last = *starts.last().unwrap();
    for position in 0..FIXTURE.len() {
        let mut bytes = FIXTURE.to_vec();
        bytes[position] ^= 0xFF;
        let result = parse(&bytes, &caller());
        let record = starts.iter().rev().find(|&&s| s <= position).copied();
        match (position < HEADER_BYTES, record) {
            (true, _) => assert!(
                matches!(
                    result,
                    Err(Damage::Corrupt { offset: 0, .. }) | Err(Damage::NotOurs { offset: 0, .. })
                ),
                "header byte {position}: {result:?}"
            ),
            (false, Some(start)) if start == last && position >= start + 8 => {
                let parsed = result.unwrap();
                assert_eq!(parsed.torn_at, Some(last), "byte {position}");
            }
            (false, Some(start)) => assert!(
                matches!(&result, Err(Damage::Corrupt { offset, .. }) if *offset == start),
                "byte {position}: {result:?}"
            ),
            (false, None) => unreachable!(),
        }
    }
}

fn u32_le(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[test]
fn a_mismatched_configuration_is_named() {
    let random = FileConfig {
        keys: KeyMode::Random,
        ..caller()
    };
    match parse(FIXTURE, &random) {
        Err(Damage::Mismatch { why }) => assert!(why.contains("keys: 'caller'"), "{why}"),
        other => panic!("{other:?}"),
    }
    let zeros = [0u8; 64];
    assert!(matches!(
        parse(&zeros, &caller()),
        Err(Damage::NotOurs { offset: 0, .. })
    ));
}

#[test]
fn zero_bytes_after_the_last_record_are_a_torn_tail() {
    let mut bytes = FIXTURE.to_vec();
    bytes.extend_from_slice(&[0u8; 4096]);
    let parsed = parse(&bytes, &caller()).unwrap();
    assert_eq!(parsed.torn_at, Some(FIXTURE.len()));
    assert_eq!(parsed.sessions.len(), 2);
}

#[test]
fn a_borrowed_parse_restores_as_the_owned_one_and_as_setters_would() {
    // Data over a lowered cap: each entry is set in order as `set_data` would, one that does
    // not fit is skipped and the later ones still go in.
    let config = Config {
        keys: KeyMode::Caller,
        max_data_bytes: 8,
        ..Config::default()
    };
    let mut file = encode_header(&caller(), 0.0, 0).to_vec();
    let session = |id: &str, data: &[(&str, &str)], out: &mut Vec<u8>| {
        let mut w = RecordWriter::begin(out, kind::SESSION);
        w.str(id);
        for t in [1.0, 2.0, 100.0, 0.0] {
            w.f64(t);
        }
        w.u8(1);
        w.str("alice");
        w.u32(1);
        w.str("admin");
        w.u32(data.len());
        for (k, v) in data {
            w.str(k);
            w.str(v);
        }
        w.end();
    };
    session(
        "a",
        &[("k", "v"), ("big", "too large"), ("k2", "v2"), ("k", "vv")],
        &mut file,
    );
    session("b", &[], &mut file);
    let owned = parse(&file, &caller()).unwrap();
    let borrowed = parse_borrowed(&file, &caller()).unwrap();
    let again: Vec<SavedSession> = borrowed.sessions.iter().map(SessionRef::to_owned).collect();
    assert_eq!(again, owned.sessions);

    let mut by_setters = Engine::new(config.clone()).unwrap();
    let mut by_restore = Engine::new(config.clone()).unwrap();
    let mut by_borrowed = Engine::new(config).unwrap();
    let handles = restore(&mut by_restore, &owned.sessions, 5.0, 50.0).unwrap();
    assert_eq!(
        restore_borrowed(&mut by_borrowed, &borrowed.sessions, 5.0, 50.0).ok(),
        Some(2)
    );
    for (index, s) in owned.sessions.iter().enumerate() {
        let h = by_setters
            .restore(
                s.id.as_bytes(),
                s.created_at,
                7.0,
                s.idle_timeout,
                s.absolute_timeout,
            )
            .unwrap();
        by_setters.set_user(h, s.user.as_deref());
        by_setters.set_roles(h, &s.roles);
        for (k, v) in &s.data {
            let _ = by_setters.set_data(h, k, v);
        }
        let r = handles[index];
        let b = by_borrowed.lookup(s.id.as_bytes(), 0.0, false).unwrap();
        for e in [&by_restore, &by_borrowed] {
            let x = if std::ptr::eq(e, &by_restore) { r } else { b };
            assert_eq!(e.last_activity(x), Some(7.0));
            assert_eq!(e.user(x), by_setters.user(h));
            assert_eq!(e.roles(x), by_setters.roles(h));
            assert_eq!(e.data_keys(x), by_setters.data_keys(h));
            assert_eq!(e.data_bytes(x), by_setters.data_bytes(h));
            for key in by_setters.data_keys(h).unwrap() {
                assert_eq!(e.get_data(x, key), by_setters.get_data(h, key));
            }
        }
    }
    assert_eq!(by_restore.data_keys(handles[0]), Some(vec!["k", "k2"]));
    assert_eq!(by_restore.get_data(handles[0], "k"), Some("vv"));
}

/// Every field of every session `parse` and `restore` leave, against what `load` left.
fn assert_loaded_as_parsed(
    loaded: &Engine,
    parsed: &[SavedSession],
    config: &Config,
    window: f64,
    now: f64,
) {
    let mut restored = Engine::new(config.clone()).unwrap();
    let handles = restore(&mut restored, parsed, window, now).unwrap();
    assert_eq!(loaded.len(), restored.len());
    loaded.check_invariants().unwrap();
    for (s, &r) in parsed.iter().zip(&handles) {
        let h = loaded
            .clone_lookup(s.id.as_bytes())
            .unwrap_or_else(|| panic!("{} was not loaded", s.id));
        assert_eq!(loaded.created_at(h), restored.created_at(r));
        assert_eq!(loaded.last_activity(h), restored.last_activity(r));
        assert_eq!(loaded.expires_at(h), restored.expires_at(r));
        assert_eq!(loaded.user(h), restored.user(r));
        assert_eq!(loaded.roles(h), restored.roles(r));
        assert_eq!(loaded.data_keys(h), restored.data_keys(r));
        assert_eq!(loaded.data_bytes(h), restored.data_bytes(r));
        for key in restored.data_keys(r).unwrap() {
            assert_eq!(loaded.get_data(h, key), restored.get_data(r, key));
        }
    }
}

trait CloneLookup {
    fn clone_lookup(&self, id: &[u8]) -> Option<Handle>;
}

impl CloneLookup for Engine {
    /// A lookup that needs no `&mut` (scan for the id): the test compares, it does not renew.
    fn clone_lookup(&self, id: &[u8]) -> Option<Handle> {
        let mut found = None;
        self.scan(0, f64::NEG_INFINITY, usize::MAX, |h| {
            if self.id(h).as_deref().map(str::as_bytes) == Some(id) {
                found = Some(h);
            }
        });
        found
    }
}

fn record(out: &mut Vec<u8>, k: u8, fill: impl FnOnce(&mut RecordWriter<'_>)) {
    let mut w = RecordWriter::begin(out, k);
    fill(&mut w);
    w.end();
}

fn session(out: &mut Vec<u8>, id: &str, last: f64, user: Option<&str>, data: &[(&str, &str)]) {
    record(out, kind::SESSION, |w| {
        w.str(id);
        for t in [1.0, last, 100.0, 0.0] {
            w.f64(t);
        }
        match user {
            Some(u) => {
                w.u8(1);
                w.str(u);
            }
            None => w.u8(0),
        }
        w.u32(1);
        w.str("role");
        w.u32(data.len());
        for (k, v) in data {
            w.str(k);
            w.str(v);
        }
    });
}

/// A journal with every record kind, a session re-created, one renamed over another, a
/// renewal older than the last activity, and data that a lowered cap cuts.
fn every_kind() -> Vec<u8> {
    let mut file = encode_header(&caller(), 0.0, 0).to_vec();
    session(
        &mut file,
        "a",
        10.0,
        Some("alice"),
        &[("k", "v"), ("big", "too large")],
    );
    session(&mut file, "b", 20.0, None, &[("n", "1")]);
    session(&mut file, "c", 30.0, None, &[]);
    record(&mut file, kind::SET_DATA, |w| {
        w.str("a");
        w.u32(2);
        for s in ["k2", "v2", "big", "x"] {
            w.str(s);
        }
    });
    record(&mut file, kind::DELETE_DATA, |w| {
        w.str("b");
        w.str("n");
    });
    record(&mut file, kind::USER, |w| {
        w.str("b");
        w.u8(1);
        w.str("bob");
    });
    record(&mut file, kind::ROLES, |w| {
        w.str("c");
        w.u32(2);
        w.str("x");
        w.str("y");
    });
    record(&mut file, kind::RENAME, |w| {
        w.str("b");
        w.str("c");
        w.f64(25.0);
    });
    record(&mut file, kind::TIMEOUTS, |w| {
        w.str("a");
        w.f64(500.0);
        w.f64(9000.0);
    });
    record(&mut file, kind::RENEW, |w| {
        w.str("a");
        w.f64(40.0);
    });
    record(&mut file, kind::RENEW, |w| {
        w.str("a");
        w.f64(35.0);
    });
    record(&mut file, kind::REMOVE, |w| w.str("zzz"));
    session(&mut file, "d", 50.0, None, &[("big", "too large too")]);
    record(&mut file, kind::REMOVE, |w| w.str("d"));
    session(&mut file, "d", 60.0, Some("dora"), &[("k", "vv")]);
    session(
        &mut file,
        "a",
        70.0,
        Some("alice"),
        &[("big", "too large"), ("k", "v")],
    );
    record(&mut file, kind::SET_DATA, |w| {
        w.str("a");
        w.u32(1);
        w.str("big");
        w.str("ok");
    });
    file
}

#[test]
fn load_leaves_the_sessions_parse_and_restore_leave() {
    for max_data_bytes in [usize::MAX, 8] {
        let config = Config {
            keys: KeyMode::Caller,
            max_data_bytes,
            ..Config::default()
        };
        for (file, window, now) in [
            (FIXTURE.to_vec(), 0.0, 0.0),
            (FIXTURE.to_vec(), 1000.0, 1_000_500.0),
            (every_kind(), 0.0, 0.0),
            (every_kind(), 7.0, 65.0),
        ] {
            let parsed = parse(&file, &caller()).unwrap();
            let mut engine = Engine::new(config.clone()).unwrap();
            let loaded = load(&mut engine, &file, window, now).unwrap();
            assert_eq!((loaded.records, loaded.torn_at), (parsed.records, None));
            assert_eq!(loaded.restored, parsed.sessions.len());
            assert_loaded_as_parsed(&engine, &parsed.sessions, &config, window, now);
        }
    }
}

#[test]
fn load_counts_the_records_that_gave_a_session_a_user() {
    let config = Config {
        keys: KeyMode::Caller,
        ..Config::default()
    };
    // Session records of alice, dora and alice again, and a User record giving b to bob.
    let mut engine = Engine::new(config.clone()).unwrap();
    assert_eq!(load(&mut engine, &every_kind(), 0.0, 0.0).unwrap().users, 4);

    let mut file = encode_header(&caller(), 0.0, 0).to_vec();
    session(&mut file, "a", 10.0, None, &[("k", "v")]);
    session(&mut file, "b", 10.0, None, &[]);
    // A user for a session the file does not hold, and a user cleared: no session gets one.
    record(&mut file, kind::USER, |w| {
        w.str("zzz");
        w.u8(1);
        w.str("nobody");
    });
    record(&mut file, kind::USER, |w| {
        w.str("a");
        w.u8(0);
    });
    let mut anonymous = Engine::new(config).unwrap();
    let loaded = load(&mut anonymous, &file, 0.0, 0.0).unwrap();
    assert_eq!((loaded.restored, loaded.users), (2, 0));
}

#[test]
fn load_keeps_the_slot_of_a_replaced_or_renamed_session() {
    let mut engine = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    load(&mut engine, &every_kind(), 0.0, 0.0).unwrap();
    let slot = |e: &Engine, id: &str| e.clone_lookup(id.as_bytes()).map(|h| h.slot());
    // a kept slot 0 though re-created; c (slot 2) was released for b's rename, b kept slot 1;
    // d took the top of the free stack each time.
    assert_eq!(slot(&engine, "a"), Some(0));
    assert_eq!(slot(&engine, "c"), Some(1));
    assert_eq!(slot(&engine, "d"), Some(2));
    assert_eq!(engine.len(), 3);
}

#[test]
fn a_torn_tail_is_dropped_and_a_clean_header_adds_no_window() {
    let mut file = encode_header(&caller(), 0.0, FLAG_CLEAN).to_vec();
    session(&mut file, "a", 10.0, None, &[]);
    let whole = file.len();
    session(&mut file, "b", 10.0, None, &[]);
    file.truncate(file.len() - 3);
    let mut engine = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    let loaded = load(&mut engine, &file, 1000.0, 5000.0).unwrap();
    assert_eq!(loaded.torn_at, Some(whole));
    assert!(loaded.clean, "the header's flag");
    let h = engine.clone_lookup(b"a").unwrap();
    assert_eq!(engine.last_activity(h), Some(10.0));
    assert_eq!(engine.len(), 1);
}

#[test]
fn a_damaged_record_or_a_foreign_id_fails_the_load_at_its_offset() {
    let file = every_kind();
    let starts = {
        let mut starts = vec![];
        let mut at = HEADER_BYTES;
        while at < file.len() {
            starts.push(at);
            at += FRAME_BYTES + u32_le(&file[at..at + 4]) as usize;
        }
        starts
    };
    let mut bad = file.clone();
    bad[starts[3] + FRAME_BYTES + 2] ^= 1;
    let mut engine = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    assert!(matches!(
        load(&mut engine, &bad, 0.0, 0.0),
        Err(Damage::Corrupt { offset, .. }) if offset == starts[3]
    ));
    // A caller key where random ids of 16 bytes are expected.
    let random = FileConfig {
        keys: KeyMode::Random,
        ..caller()
    };
    let mut file = encode_header(&random, 0.0, 0).to_vec();
    session(&mut file, "AAAAAAAAAAAAAAAAAAAAAA", 1.0, None, &[]);
    let second = file.len();
    session(&mut file, "alice", 1.0, None, &[]);
    let mut engine = Engine::new(Config::default()).unwrap();
    match load(&mut engine, &file, 0.0, 0.0) {
        Err(Damage::Corrupt { offset, why }) => {
            assert_eq!(offset, second);
            assert!(
                why.contains("\"alice\" is not an id of this manager"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A file from before sessions held their record as one block (the TypeScript writer's, every
/// record kind) loads into the engine's blocks as the reader parses it, and a snapshot of the
/// engine then parses back to the same sessions: the block path of a load (a Session record's
/// tail copied whole, then the later records applied in place) keeps the old files' meaning.
#[test]
fn a_file_from_before_the_record_block_loads_into_blocks_as_parsed() {
    let parsed = parse(FIXTURE, &caller()).unwrap();
    let mut engine = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    let loaded = load(&mut engine, FIXTURE, 0.0, 2_000_000.0).unwrap();
    assert_eq!(loaded.restored, parsed.sessions.len());
    for saved in &parsed.sessions {
        let h = engine
            .lookup(saved.id.as_bytes(), f64::NEG_INFINITY, false)
            .unwrap();
        assert_eq!(engine.user(h), saved.user.as_deref(), "{}", saved.id);
        let roles: Vec<String> = engine
            .roles(h)
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(roles, saved.roles, "{}", saved.id);
        let data: Vec<(String, String)> = engine
            .data_keys(h)
            .unwrap()
            .iter()
            .map(|k| (k.to_string(), engine.get_data(h, k).unwrap().to_string()))
            .collect();
        assert_eq!(data, saved.data, "{}", saved.id);
    }
    let mut file = encode_header(&FileConfig::of(&engine), 0.0, FLAG_CLEAN).to_vec();
    write_sessions(&engine, &mut file);
    assert_eq!(parse(&file, &caller()).unwrap().sessions, parsed.sessions);
}

/// Session records with a valid CRC whose tail lies (a user flag other than 0 or 1, the padding
/// bits the engine keeps in that byte, a length or count past the record's end, bytes left over,
/// text that is not UTF-8) are refused as corruption at their offset, before an honest record;
/// none panics.
#[test]
fn forged_session_tails_are_refused_whatever_their_lengths_claim() {
    type Tail = fn(&mut RecordWriter<'_>);
    let forged: [(&str, Tail); 10] = [
        ("user flag 2", |w| {
            w.u8(2);
            w.str("u");
            w.u32(0);
            w.u32(0);
        }),
        ("user flag with padding bits", |w| {
            w.u8(1 | (7 << 1));
            w.str("u");
            w.u32(0);
            w.u32(0);
        }),
        ("user past the end", |w| {
            w.u8(1);
            w.u32(1 << 20);
        }),
        ("user length at u32::MAX", |w| {
            w.u8(1);
            w.u32(u32::MAX as usize);
            w.u8(b'a');
        }),
        ("role count past the end", |w| {
            w.u8(0);
            w.u32(u32::MAX as usize);
        }),
        ("a role past the end", |w| {
            w.u8(0);
            w.u32(1);
            w.u32(9);
            w.u8(b'r');
        }),
        ("data count past the end", |w| {
            w.u8(0);
            w.u32(0);
            w.u32(0x1_0000);
            w.str("k");
            w.str("v");
        }),
        ("a value past the end", |w| {
            w.u8(0);
            w.u32(0);
            w.u32(1);
            w.str("k");
            w.u32(100);
            w.u8(b'v');
        }),
        ("bytes after the data", |w| {
            w.u8(0);
            w.u32(0);
            w.u32(1);
            w.str("k");
            w.str("v");
            w.u8(0);
        }),
        ("a value not UTF-8", |w| {
            w.u8(0);
            w.u32(0);
            w.u32(1);
            w.str("k");
            w.u32(1);
            w.u8(0xff);
        }),
    ];
    for (what, tail) in forged {
        let mut file = encode_header(&caller(), 0.0, 0).to_vec();
        session(&mut file, "honest", 10.0, Some("u"), &[("k", "v")]);
        let at = file.len();
        record(&mut file, kind::SESSION, |w| {
            w.str("forged");
            for t in [1.0, 10.0, 100.0, 0.0] {
                w.f64(t);
            }
            tail(w);
        });
        session(&mut file, "after", 10.0, None, &[("k", "v")]);
        let mut engine = Engine::new(Config {
            keys: KeyMode::Caller,
            ..Config::default()
        })
        .unwrap();
        match load(&mut engine, &file, 0.0, 20.0) {
            Err(Damage::Corrupt { offset, .. }) => assert_eq!(offset, at, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// Every attached session as text (id, times, user, roles, data in order), sorted: what two
/// loads must agree on.
fn contents(engine: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    engine.scan(0, f64::NEG_INFINITY, usize::MAX, |h| {
        let data: Vec<(String, String)> = engine
            .data_keys(h)
            .unwrap_or_default()
            .into_iter()
            .map(|key| {
                (
                    key.to_string(),
                    engine.get_data(h, key).unwrap_or_default().to_string(),
                )
            })
            .collect();
        out.push(format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            engine.id(h),
            engine.created_at(h),
            engine.last_activity(h),
            engine.expires_at(h),
            engine.user(h),
            engine.roles(h),
            data
        ));
    });
    out.sort();
    out
}

/// `load` of `file` whole and `load_from` of it in pieces of `piece` bytes give the same outcome
/// and leave the same sessions.
fn assert_pieces_load_as_whole(file: &[u8], config: &Config, piece: usize) {
    let (window, now) = (7.0, 65.0);
    let mut whole = Engine::new(config.clone()).unwrap();
    let mut pieces = Engine::new(config.clone()).unwrap();
    let by_whole = load(&mut whole, file, window, now);
    let by_pieces = load_from(&mut pieces, std::io::Cursor::new(file), window, now, piece);
    match (by_whole, by_pieces) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "piece {piece}, {} bytes", file.len());
            assert_eq!(contents(&whole), contents(&pieces), "piece {piece}");
        }
        (Err(a), Err(PieceError::Damage(b))) => assert_eq!(a, b, "piece {piece}"),
        (a, b) => panic!(
            "piece {piece}, {} bytes: whole {a:?}, pieces {b:?}",
            file.len()
        ),
    }
}

#[test]
fn a_load_in_pieces_is_the_whole_file_load_at_every_cut_flip_and_piece_size() {
    let config = Config {
        keys: KeyMode::Caller,
        max_data_bytes: 8,
        ..Config::default()
    };
    let mut zero_tail = every_kind();
    zero_tail.extend([0u8; 40]);
    let mut large = encode_header(&caller(), 0.0, 0).to_vec();
    session(&mut large, "a", 10.0, None, &[("k", &"v".repeat(300))]);
    session(&mut large, "b", 20.0, Some("bob"), &[]);
    for file in [FIXTURE.to_vec(), every_kind(), zero_tail, large] {
        for piece in [1, 13, 64, 4096] {
            assert_pieces_load_as_whole(&file, &config, piece);
            for cut in (0..file.len()).step_by(if piece == 13 { 1 } else { 7 }) {
                assert_pieces_load_as_whole(&file[..cut], &config, piece);
            }
            for at in (0..file.len()).step_by(if piece == 64 { 1 } else { 5 }) {
                for mask in [0x01, 0xff] {
                    let mut flipped = file.clone();
                    flipped[at] ^= mask;
                    assert_pieces_load_as_whole(&flipped, &config, piece);
                }
            }
        }
    }
}
