//! Property test: random operation sequences run against the engine and against a
//! linear-scan model of the sessions with plain `Vec`s (`support/model.rs`, which the fuzz
//! target `ops` shares); every result and every getter must agree, and the engine's invariant
//! checker runs after every step. Narrow generation spaces retire slots within a run, so a
//! stale handle meeting a retired or reused slot is exercised too; a clock that steps back
//! exercises re-filing, and a long step moves sessions filed on the wheel's higher levels.

#[path = "support/model.rs"]
mod model;

use model::{run, Op, DATA_KEYS, KEYS, TIMEOUTS};
use proptest::prelude::*;
use sessionkeeper_core::{Config, IdEncoding, KeyMode, GENERATION_SPACE};

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TIMEOUTS.len();
    let h = 0usize..64;
    prop_oneof![
        4 => (t.clone(), t.clone()).prop_map(|(idle, abs)| Op::Create { idle, abs }),
        4 => (0..KEYS.len(), t.clone(), t.clone()).prop_map(|(key, idle, abs)| Op::CreateWithKey { key, idle, abs }),
        4 => (h.clone(), any::<bool>()).prop_map(|(target, renew)| Op::Lookup { target, renew }),
        1 => (h.clone(), 0u8..3).prop_map(|(target, kind)| Op::LookupMalformed { target, kind }),
        2 => h.clone().prop_map(|target| Op::DetachIfExpired { target }),
        3 => h.clone().prop_map(Op::Touch),
        1 => h.clone().prop_map(Op::Detach),
        2 => h.clone().prop_map(Op::Release),
        2 => (0usize..4).prop_map(Op::Sweep),
        1 => (0usize..4).prop_map(Op::SweepRelease),
        2 => (h.clone(), t.clone()).prop_map(|(h, t)| Op::SetIdle(h, t)),
        2 => (h.clone(), t).prop_map(|(h, t)| Op::SetAbs(h, t)),
        2 => (h.clone(), 0..DATA_KEYS.len(), 0usize..8).prop_map(|(h, key, len)| Op::SetData { h, key, len }),
        1 => (h.clone(), 0..DATA_KEYS.len()).prop_map(|(h, key)| Op::DeleteData { h, key }),
        1 => h.clone().prop_map(Op::Regenerate),
        1 => (h.clone(), 0..KEYS.len()).prop_map(|(h, key)| Op::Rekey { h, key }),
        1 => (h.clone(), proptest::option::of(0usize..3)).prop_map(|(h, user)| Op::SetUser { h, user }),
        1 => (h, 0usize..3).prop_map(|(h, n)| Op::SetRoles { h, n }),
        1 => (0u32..8, 0usize..6).prop_map(|(from, limit)| Op::Scan { from, limit }),
        1 => Just(Op::Evict),
        4 => (-2i32..12).prop_map(Op::Advance),
        1 => (0i32..400_000).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(16usize), Just(33), Just(64)],
        prop_oneof![Just(usize::MAX), Just(9usize)],
        prop_oneof![Just(1.0), Just(3.0), Just(1000.0)],
    )
        .prop_map(
            |(random, hex, id_bytes, max_data_bytes, resolution)| Config {
                id_bytes,
                id_encoding: if hex {
                    IdEncoding::Hex
                } else {
                    IdEncoding::Base64Url
                },
                keys: if random {
                    KeyMode::Random
                } else {
                    KeyMode::Caller
                },
                max_data_bytes,
                resolution,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(
        config in config(),
        generations in prop_oneof![Just(GENERATION_SPACE), 1u32..4],
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        run(config, generations, ops);
    }
}
