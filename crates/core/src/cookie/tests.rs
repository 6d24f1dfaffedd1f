use super::*;
use crate::config::{Config, KeyMode};

const SECRET: &str = "a signing secret of 32+ characters, for tests";
const OLD: &str = "an older secret, still verifying cookies";

fn values(header: &str, name: &str) -> Vec<String> {
    let mut out = vec![];
    find_cookies(header.as_bytes(), name.as_bytes(), |span| {
        out.push(header[span.start..span.end].to_string());
        true
    });
    out
}

fn utf16_values(header: &str, name: &str) -> Vec<String> {
    let units: Vec<u16> = header.encode_utf16().collect();
    let mut out = vec![];
    find_cookies(&units, name.as_bytes(), |span| {
        out.push(String::from_utf16_lossy(&units[span.start..span.end]));
        true
    });
    out
}

#[test]
fn only_spaces_and_tabs_are_trimmed_and_every_value_of_the_name_is_found_in_order() {
    let header = " \t sid \t=\t a \t;sid=b;xsid=c; sidx=d;sid;=e";
    assert_eq!(values(header, "sid"), ["a", "b"]);
    assert_eq!(utf16_values(header, "sid"), ["a", "b"]);
    for blank in ["\u{b}", "\u{c}", "\u{a0}", "\u{feff}", "\n"] {
        let header = format!("sid={blank}a{blank}");
        assert_eq!(utf16_values(&header, "sid"), [format!("{blank}a{blank}")]);
        assert!(utf16_values(&format!("{blank}sid=a"), "sid").is_empty());
    }
    assert!(values("", "sid").is_empty());
    assert!(values("sid", "sid").is_empty());
    assert_eq!(values("a=1;sid=", "sid"), [""]);
    assert_eq!(values("sid=a=b", "sid"), ["a=b"]);
}

#[test]
fn a_pair_without_equals_does_not_borrow_the_next_pairs_equals() {
    // The remembered '=' lies in a later pair: this pair has none and is skipped.
    assert_eq!(values("sid;sid=x", "sid"), ["x"]);
    assert_eq!(values("a;b;c;sid=x;d", "sid"), ["x"]);
}

#[test]
fn signatures_match_the_javascript_signer() {
    // node: createHmac('sha256', createHmac('sha256', SECRET).update(SIGNING_CONTEXT).digest())
    //   .update('sid=' + id).digest('base64url'), and the 0.1.0 one under the secret itself.
    let id = "AAAAAAAAAAAAAAAAAAAAAA";
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let value = format!("{id}.kwiMb5FPMZOorAZzVlFf5cdNknJngQXVVpRR-wZbCJE");
    assert_eq!(verifier.sign(id.as_bytes()), value);
    let verified = verifier.verify(value.as_bytes(), false);
    assert_eq!(
        verified,
        Some(Verified {
            secret: 0,
            legacy: false,
            id_len: id.len()
        })
    );
    let legacy = format!("{id}.OlrvN6HGrGT_nYAmkXKuG1oPk7Hy_2Q-dDj4oA-8aFs");
    assert_eq!(verifier.verify(legacy.as_bytes(), false), None);
    assert_eq!(
        verifier.verify(legacy.as_bytes(), true),
        Some(Verified {
            secret: 0,
            legacy: true,
            id_len: id.len()
        })
    );
}

#[test]
fn the_first_secret_that_verifies_is_returned() {
    let old = CookieVerifier::new("sid", &[OLD]);
    let rotated = CookieVerifier::new("sid", &[SECRET, OLD]);
    let value = old.sign(b"some-id");
    assert_eq!(
        rotated.verify(value.as_bytes(), false).map(|v| v.secret),
        Some(1)
    );
    let current = rotated.sign(b"some-id");
    assert_eq!(
        rotated.verify(current.as_bytes(), false).map(|v| v.secret),
        Some(0)
    );
    // Another name, or no secret of the list, verifies nothing.
    let other = CookieVerifier::new("other", &[SECRET, OLD]);
    assert_eq!(other.verify(current.as_bytes(), true), None);
    assert_eq!(
        CookieVerifier::new("sid", &["x"]).verify(current.as_bytes(), true),
        None
    );
}

#[test]
fn only_the_canonical_spelling_of_a_signature_verifies() {
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let value = verifier.sign(b"an-id");
    let (id, signature) = value.rsplit_once('.').unwrap();
    let last = signature.chars().last().unwrap();
    // The last character carries 4 bits of the digest and 2 spare bits, which must be zero.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let at = alphabet.find(last).unwrap();
    for spare in 1..4 {
        let twin = alphabet.as_bytes()[at | spare] as char;
        let spelled = format!("{id}.{}{twin}", &signature[..42]);
        assert_eq!(
            verifier.verify(spelled.as_bytes(), false),
            None,
            "{spelled}"
        );
    }
    for bad in [
        format!("{id}.{}=", &signature[..42]),
        format!("{id}.{}", &signature[..42]),
        format!("{id}.{signature}A"),
        format!(".{signature}"),
        format!("{id}!{signature}"),
        format!("{id}.{}+", &signature[..42]),
    ] {
        assert_eq!(verifier.verify(bad.as_bytes(), true), None, "{bad}");
    }
}

#[test]
fn a_signature_with_any_unit_outside_the_alphabet_at_any_position_is_refused() {
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let value = verifier.sign(b"an-id");
    let units: Vec<u16> = value.encode_utf16().collect();
    let signature_start = units.len() - SIGNATURE_LENGTH;
    assert!(verifier.verify(&units, false).is_some());
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // Every byte outside the alphabet, and UTF-16 units whose low bits spell a base64url
    // character (a decoder that masked the unit would take them for it).
    let outside = (0u16..=255)
        .filter(|&code| code > 127 || !alphabet.contains(char::from(code as u8)))
        .chain([0x141, 0x161, 0x130, 0x2d2d, 0xff5f, 0xd800]);
    for code in outside {
        for at in signature_start..units.len() {
            let mut changed = units.clone();
            changed[at] = code;
            assert_eq!(
                verifier.verify(&changed, true),
                None,
                "unit {code:#x} at {at}"
            );
            // The same as UTF-8 bytes, where every byte value is a unit of its own.
            if let Ok(byte) = u8::try_from(code) {
                let mut bytes = value.as_bytes().to_vec();
                bytes[at] = byte;
                assert_eq!(
                    verifier.verify(bytes.as_slice(), true),
                    None,
                    "byte {byte:#x} at {at}"
                );
            }
        }
    }
}

#[test]
fn values_outside_cookie_octets_or_too_long_are_refused() {
    let unsigned = CookieVerifier::new::<&str>("sid", &[]);
    assert!(unsigned.verify(b"abc".as_slice(), false).is_some());
    for bad in ["", "a b", "a\"b", "a,b", "a\\b", "a;b", "\u{7f}", "\u{e9}"] {
        assert_eq!(unsigned.verify(bad.as_bytes(), false), None, "{bad:?}");
        let units: Vec<u16> = bad.encode_utf16().collect();
        assert_eq!(unsigned.verify(&units, false), None, "{bad:?}");
    }
    let long = "a".repeat(MAX_COOKIE_VALUE);
    assert!(unsigned.verify(long.as_bytes(), false).is_some());
    let longer = "a".repeat(MAX_COOKIE_VALUE + 1);
    assert_eq!(unsigned.verify(longer.as_bytes(), false), None);
}

fn random_engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn live_id(engine: &mut Engine) -> (Handle, String) {
    let handle = engine.create(0.0, 1000.0, 0.0).unwrap();
    (handle, engine.id(handle).unwrap())
}

#[test]
fn one_value_finds_and_renews_its_session() {
    let mut engine = random_engine();
    let (handle, id) = live_id(&mut engine);
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let header = format!("a=1; sid={}; b=2", verifier.sign(id.as_bytes()));
    match verifier.read(&mut engine, header.as_bytes(), 500.0) {
        CookieRead::Found {
            handle: found,
            value,
            verified,
        } => {
            assert_eq!(found, handle);
            assert_eq!(&header[value.start..value.start + verified.id_len], id);
            assert_eq!(verified.secret, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.last_activity(handle), Some(500.0));
    assert_eq!(
        verifier.read(&mut engine, b"a=1".as_slice(), 500.0),
        CookieRead::NoCookie
    );
    let unknown = format!("sid={}", verifier.sign(b"BBBBBBBBBBBBBBBBBBBBBB"));
    assert_eq!(
        verifier.read(&mut engine, unknown.as_bytes(), 500.0),
        CookieRead::NotFound
    );
    let forged = format!("sid={id}.{}", "A".repeat(43));
    assert_eq!(
        verifier.read(&mut engine, forged.as_bytes(), 500.0),
        CookieRead::Rejected
    );
    // Past its deadline (renewed at 500, idle 1000) it names no session.
    let live = format!("sid={}", verifier.sign(id.as_bytes()));
    assert_eq!(
        verifier.read(&mut engine, live.as_bytes(), 1500.0),
        CookieRead::NotFound
    );
}

#[test]
fn duplicates_use_the_one_live_value_and_two_live_ones_name_none() {
    let mut engine = random_engine();
    let (alice, alice_id) = live_id(&mut engine);
    let (_, bob_id) = live_id(&mut engine);
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let a = format!("sid={}", verifier.sign(alice_id.as_bytes()));
    let b = format!("sid={}", verifier.sign(bob_id.as_bytes()));
    for header in [
        format!("sid=junk; {a}"),
        format!("{a}; sid="),
        format!("{a}; sid={}", "A".repeat(22)),
        format!("{a}; {a}"),
    ] {
        match verifier.read(&mut engine, header.as_bytes(), 10.0) {
            CookieRead::Found { handle, .. } => assert_eq!(handle, alice, "{header}"),
            other => panic!("{header}: {other:?}"),
        }
    }
    assert_eq!(engine.last_activity(alice), Some(10.0));
    let ambiguous = format!("{a}; {b}");
    assert_eq!(
        verifier.read(&mut engine, ambiguous.as_bytes(), 20.0),
        CookieRead::Rejected
    );
    assert_eq!(engine.last_activity(alice), Some(10.0), "nothing renewed");
    let eight = format!("{}{a}", "sid=junk; ".repeat(7));
    assert!(matches!(
        verifier.read(&mut engine, eight.as_bytes(), 20.0),
        CookieRead::Found { .. }
    ));
    let nine = format!("{}{a}", "sid=junk; ".repeat(8));
    assert_eq!(
        verifier.read(&mut engine, nine.as_bytes(), 20.0),
        CookieRead::Rejected
    );
}

#[test]
fn the_old_signature_verifies_over_random_ids_only() {
    let legacy_value = |secret: &str, id: &str| {
        let mut mac = prepared(secret.as_bytes());
        mac.update(id.as_bytes());
        format!("{id}.{}", encode_base64url(&mac.finalize().into_bytes()))
    };
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let mut random = random_engine();
    let (_, id) = live_id(&mut random);
    let header = format!("sid={}", legacy_value(SECRET, &id));
    assert!(matches!(
        verifier.read(&mut random, header.as_bytes(), 1.0),
        CookieRead::Found {
            verified: Verified {
                legacy: true,
                secret: 0,
                ..
            },
            ..
        }
    ));
    let mut caller = Engine::new(Config {
        keys: KeyMode::Caller,
        ..Config::default()
    })
    .unwrap();
    caller
        .create_with_key(b"user-alice", 0.0, 1000.0, 0.0)
        .unwrap();
    let forged = format!("sid={}", legacy_value(SECRET, "user-alice"));
    assert_eq!(
        verifier.read(&mut caller, forged.as_bytes(), 1.0),
        CookieRead::Rejected
    );
    let signed = format!("sid={}", verifier.sign(b"user-alice"));
    assert!(matches!(
        verifier.read(&mut caller, signed.as_bytes(), 1.0),
        CookieRead::Found { .. }
    ));
}

#[test]
fn utf16_positions_are_string_indices_past_non_ascii_text() {
    let mut engine = random_engine();
    let (handle, id) = live_id(&mut engine);
    let verifier = CookieVerifier::new("sid", &[SECRET]);
    let header = format!("x=\u{e9}\u{1f600}; sid={}", verifier.sign(id.as_bytes()));
    let units: Vec<u16> = header.encode_utf16().collect();
    match verifier.read(&mut engine, &units, 1.0) {
        CookieRead::Found {
            handle: found,
            value,
            verified,
        } => {
            assert_eq!(found, handle);
            assert_eq!(
                String::from_utf16_lossy(&units[value.start..value.start + verified.id_len]),
                id
            );
        }
        other => panic!("{other:?}"),
    }
}
