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
