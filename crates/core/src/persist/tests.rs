use super::*;
use crate::{Config, State};

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
