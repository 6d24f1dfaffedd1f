//! The linear-scan model of the engine and the runner that compares them, shared by the
//! property test (`tests/model.rs`, operations from proptest) and the fuzz target `ops`
//! (`tests/support/targets.rs`, operations decoded from bytes; `fuzz/` runs it under AFL++).
//! What depends on the wheel's filing order (which due sessions a limited sweep takes first,
//! which session of the earliest slot is evicted) is checked by its rules: a sweep takes only
//! due sessions, all of them unless the limit stops it, and leaves the next deadline after
//! `now`; eviction takes a session without a user while one exists, and one with a deadline
//! while its class has one. The engine's invariant checker runs after every step.

use sessionkeeper_core::{
    Config, Engine, Error, Handle, IdEncoding, KeyMode, RekeyError, SetDataError, State, MAX_SLOTS,
};

/// Timeouts an operation picks from (ms): small ones that expire within a few steps, and
/// larger ones that file sessions on the wheel's higher levels.
pub(crate) const TIMEOUTS: [f64; 7] = [0.0, 3.0, 5.0, 10.0, 20.0, 5000.0, 300_000.0];
pub(crate) const KEYS: [&str; 6] = [
    "a",
    "b",
    "c",
    "ключ",
    "a-much-longer-key-that-is-stored-boxed-0123456789",
    "z",
];
pub(crate) const DATA_KEYS: [&str; 4] = ["x", "y", "zz", "é"];

/// One step of a run; indices pick a handle, key or timeout modulo the list's length.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Create {
        idle: usize,
        abs: usize,
    },
    CreateWithKey {
        key: usize,
        idle: usize,
        abs: usize,
    },
    Lookup {
        target: usize,
        renew: bool,
    },
    LookupMalformed {
        target: usize,
        kind: u8,
    },
    DetachIfExpired {
        target: usize,
    },
    Touch(usize),
    Detach(usize),
    Release(usize),
    Sweep(usize),
    SweepRelease(usize),
    SetIdle(usize, usize),
    SetAbs(usize, usize),
    SetData {
        h: usize,
        key: usize,
        len: usize,
    },
    DeleteData {
        h: usize,
        key: usize,
    },
    Regenerate(usize),
    Rekey {
        h: usize,
        key: usize,
    },
    SetUser {
        h: usize,
        user: Option<usize>,
    },
    SetRoles {
        h: usize,
        n: usize,
    },
    Scan {
        from: u32,
        limit: usize,
    },
    Evict,
    /// The clock moves by this many ms (back too).
    Advance(i32),
}

#[derive(Clone, Debug)]
struct Sess {
    id: String,
    state: State,
    created: f64,
    last: f64,
    idle: f64,
    abs: f64,
    data: Vec<(String, String)>,
    user: Option<String>,
    roles: Vec<String>,
}

impl Sess {
    fn expires(&self) -> f64 {
        let mut at = f64::INFINITY;
        if self.idle > 0.0 {
            at = self.last + self.idle;
        }
        if self.abs > 0.0 {
            at = at.min(self.created + self.abs);
        }
        at
    }
}

struct Model {
    /// Per slot: its generation and its session. A slot whose generation reached
    /// `generations` is retired: no session, never on `free` again.
    slots: Vec<(u32, Option<Sess>)>,
    /// The free stack as groups, top last: a release pushes a group of one; a
    /// `sweep_release` pushes one group of every slot it released, in an order the model
    /// does not know, so a create may take any slot of the top group.
    free: Vec<Vec<u32>>,
    generations: u32,
    max_data: usize,
}

impl Model {
    fn get(&self, h: Handle) -> Option<&Sess> {
        let (gen, s) = self.slots.get(h.slot() as usize)?;
        if *gen == h.generation() {
            s.as_ref()
        } else {
            None
        }
    }

    fn get_mut(&mut self, h: Handle) -> Option<&mut Sess> {
        let (gen, s) = self.slots.get_mut(h.slot() as usize)?;
        if *gen == h.generation() {
            s.as_mut()
        } else {
            None
        }
    }

    fn sess(&self, slot: u32) -> &Sess {
        self.slots[slot as usize].1.as_ref().unwrap()
    }

    fn sess_mut(&mut self, slot: u32) -> &mut Sess {
        self.slots[slot as usize].1.as_mut().unwrap()
    }

    fn handle(&self, slot: u32) -> Handle {
        Handle::from_f64(
            f64::from(slot) + f64::from(self.slots[slot as usize].0) * f64::from(MAX_SLOTS),
        )
        .unwrap()
    }

    fn attached_id(&self, id: &str) -> Option<u32> {
        (0..self.slots.len() as u32).find(|&s| {
            matches!(&self.slots[s as usize].1, Some(x) if x.state == State::Attached && x.id == id)
        })
    }

    fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| matches!(s, Some(x) if x.state == State::Attached))
            .count()
    }

    /// The slot a create takes: `engine_slot` when the top free group holds it.
    fn take_free(&mut self, engine_slot: u32) -> Option<u32> {
        let group = self.free.last_mut()?;
        let at = group
            .iter()
            .position(|&s| s == engine_slot)
            .unwrap_or(group.len() - 1);
        let slot = group.remove(at);
        if group.is_empty() {
            self.free.pop();
        }
        Some(slot)
    }

    fn create(&mut self, id: String, now: f64, idle: f64, abs: f64, engine: Handle) -> Handle {
        let slot = match self.take_free(engine.slot()) {
            Some(s) => s,
            None => {
                self.slots.push((0, None));
                self.slots.len() as u32 - 1
            }
        };
        self.slots[slot as usize].1 = Some(Sess {
            id,
            state: State::Attached,
            created: now,
            last: now,
            idle,
            abs,
            data: vec![],
            user: None,
            roles: vec![],
        });
        self.handle(slot)
    }

    fn attached_alive(&self, h: Handle, now: f64) -> bool {
        self.get(h)
            .is_some_and(|s| s.state == State::Attached && now < s.expires())
    }

    fn renew(&mut self, slot: u32, now: f64) {
        self.sess_mut(slot).last = now;
    }

    fn detach(&mut self, slot: u32) {
        self.sess_mut(slot).state = State::Detached;
    }

    fn release(&mut self, h: Handle) -> bool {
        let Some(s) = self.get(h) else { return false };
        if s.state == State::Attached {
            self.detach(h.slot());
        }
        let e = &mut self.slots[h.slot() as usize];
        e.0 += 1;
        e.1 = None;
        if e.0 < self.generations {
            self.free.push(vec![h.slot()]);
        }
        true
    }

    fn attached(&self) -> impl Iterator<Item = (u32, &Sess)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, (_, s))| match s {
                Some(s) if s.state == State::Attached => Some((slot as u32, s)),
                _ => None,
            })
    }

    fn earliest(&self) -> f64 {
        self.attached()
            .map(|(_, s)| s.expires())
            .fold(f64::INFINITY, f64::min)
    }

    fn due(&self, now: f64) -> Vec<Handle> {
        self.attached()
            .filter(|(_, s)| s.expires() <= now)
            .map(|(slot, _)| self.handle(slot))
            .collect()
    }

    fn set_idle(&mut self, h: Handle, t: f64) -> bool {
        self.get_mut(h).map(|s| s.idle = t).is_some()
    }

    fn set_abs(&mut self, h: Handle, t: f64) -> bool {
        self.get_mut(h).map(|s| s.abs = t).is_some()
    }

    fn set_data(&mut self, h: Handle, k: &str, v: &str) -> Result<(), SetDataError> {
        let max = self.max_data;
        let s = self.get_mut(h).ok_or(SetDataError::Stale)?;
        let total: usize = s
            .data
            .iter()
            .filter(|(x, _)| x != k)
            .map(|(a, b)| a.len() + b.len())
            .sum::<usize>()
            + k.len()
            + v.len();
        if total > max {
            return Err(SetDataError::TooLarge);
        }
        match s.data.iter_mut().find(|(x, _)| x == k) {
            Some(e) => e.1 = v.to_owned(),
            None => s.data.push((k.to_owned(), v.to_owned())),
        }
        Ok(())
    }
}

fn check(engine: &Engine, model: &Model, handles: &[Handle], now: f64) {
    assert_eq!(engine.len(), model.len());
    assert_eq!(engine.is_empty(), model.len() == 0);
    // A lower bound: the expiry timer never wakes after the earliest deadline.
    assert!(engine.next_deadline() <= model.earliest());
    engine.check_invariants().unwrap();
    for &h in handles {
        let m = model.get(h);
        assert_eq!(
            engine.state(h),
            m.map_or(State::Stale, |s| s.state),
            "{h:?}"
        );
        assert_eq!(engine.id(h), m.map(|s| s.id.clone()));
        let mut buf = [0u8; 256];
        let n = engine.write_id(h, &mut buf);
        assert_eq!(
            n.map(|n| buf[..n].to_vec()),
            m.map(|s| s.id.as_bytes().to_vec())
        );
        assert_eq!(engine.created_at(h), m.map(|s| s.created));
        assert_eq!(engine.last_activity(h), m.map(|s| s.last));
        assert_eq!(engine.expires_at(h), m.map(Sess::expires));
        assert_eq!(engine.idle_timeout(h), m.map(|s| s.idle));
        assert_eq!(engine.absolute_timeout(h), m.map(|s| s.abs));
        assert_eq!(
            engine.data_keys(h),
            m.map(|s| s.data.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
        );
        assert_eq!(
            engine.data_bytes(h),
            m.map(|s| s.data.iter().map(|(k, v)| k.len() + v.len()).sum())
        );
        for k in DATA_KEYS {
            assert_eq!(
                engine.get_data(h, k),
                m.and_then(|s| s.data.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str()))
            );
        }
        assert_eq!(engine.user(h), m.and_then(|s| s.user.as_deref()));
        assert_eq!(
            engine.roles(h),
            m.map(|s| s.roles.iter().map(String::as_str).collect::<Vec<_>>())
        );
    }
    let mut scanned = vec![];
    engine.scan(0, now, usize::MAX, |h| scanned.push(h));
    let expected: Vec<Handle> = (0..model.slots.len() as u32)
        .filter(|&s| matches!(&model.slots[s as usize].1, Some(x) if x.state == State::Attached && now < x.expires()))
        .map(|s| model.handle(s))
        .collect();
    assert_eq!(scanned, expected);
}

/// Runs `ops` against an engine built with `config` and `generations` and against the model,
/// panicking at the first difference or broken invariant.
pub(crate) fn run(config: Config, generations: u32, ops: Vec<Op>) {
    let random = config.keys == KeyMode::Random;
    let id_len = match config.id_encoding {
        IdEncoding::Base64Url => (config.id_bytes * 4).div_ceil(3),
        IdEncoding::Hex => config.id_bytes * 2,
    };
    let mut engine = Engine::with_generation_space(config.clone(), generations).unwrap();
    let mut model = Model {
        slots: vec![],
        free: vec![],
        generations,
        max_data: config.max_data_bytes,
    };
    let bogus = Handle::from_f64(7.0 + 3.0 * f64::from(MAX_SLOTS)).unwrap();
    let mut handles: Vec<Handle> = vec![bogus];
    let mut ids: Vec<String> = if random {
        vec![]
    } else {
        KEYS.iter().map(|k| k.to_string()).collect()
    };
    let mut now = 1000.0;
    let pick = |handles: &Vec<Handle>, i: usize| handles[i % handles.len()];
    for op in ops {
        match op {
            Op::Create { idle, abs } => {
                let r = engine.create(now, TIMEOUTS[idle], TIMEOUTS[abs]);
                if random {
                    let h = r.unwrap();
                    let id = engine.id(h).unwrap();
                    assert_eq!(id.len(), id_len);
                    assert!(model.attached_id(&id).is_none());
                    assert_eq!(
                        model.create(id.clone(), now, TIMEOUTS[idle], TIMEOUTS[abs], h),
                        h
                    );
                    handles.push(h);
                    ids.push(id);
                } else {
                    assert!(matches!(r, Err(Error::WrongKeyMode)));
                }
            }
            Op::CreateWithKey { key, idle, abs } => {
                let k = KEYS[key];
                let r = engine.create_with_key(k.as_bytes(), now, TIMEOUTS[idle], TIMEOUTS[abs]);
                if random {
                    assert!(matches!(r, Err(Error::WrongKeyMode)));
                } else if model.attached_id(k).is_some() {
                    assert!(matches!(r, Err(Error::KeyExists)));
                } else {
                    let h = r.unwrap();
                    assert_eq!(
                        model.create(k.to_owned(), now, TIMEOUTS[idle], TIMEOUTS[abs], h),
                        h
                    );
                    handles.push(h);
                }
            }
            Op::Lookup { target, renew } => {
                let id = ids
                    .get(target % ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let expected = model
                    .attached_id(&id)
                    .filter(|&s| now < model.sess(s).expires());
                let got = engine.lookup(id.as_bytes(), now, renew);
                assert_eq!(got, expected.map(|s| model.handle(s)));
                if let (Some(s), true) = (expected, renew) {
                    model.renew(s, now);
                }
            }
            Op::LookupMalformed { target, kind } => {
                let id = ids
                    .get(target % ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let bad = match (random, kind) {
                    (true, 0) => id
                        .get(..id.len().saturating_sub(1))
                        .unwrap_or("")
                        .to_owned(),
                    (true, 1) => format!("!{}", id.get(1..).unwrap_or("")),
                    (true, _) => id.to_uppercase() + "A",
                    (false, 0) => String::new(),
                    (false, _) => "x".repeat(256),
                };
                assert_eq!(engine.lookup(bad.as_bytes(), now, true), None);
                assert_eq!(engine.detach_if_expired(bad.as_bytes(), now), None);
            }
            Op::DetachIfExpired { target } => {
                let id = ids
                    .get(target % ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let expected = model
                    .attached_id(&id)
                    .filter(|&s| model.sess(s).expires() <= now);
                let got = engine.detach_if_expired(id.as_bytes(), now);
                assert_eq!(got, expected.map(|s| model.handle(s)));
                if let Some(s) = expected {
                    model.detach(s);
                }
            }
            Op::Touch(i) => {
                let h = pick(&handles, i);
                let expected = model.attached_alive(h, now);
                assert_eq!(engine.touch(h, now), expected);
                if expected {
                    model.renew(h.slot(), now);
                }
            }
            Op::Detach(i) => {
                let h = pick(&handles, i);
                let expected = model.get(h).is_some_and(|s| s.state == State::Attached);
                assert_eq!(engine.detach(h), expected);
                if expected {
                    model.detach(h.slot());
                }
            }
            Op::Release(i) => {
                let h = pick(&handles, i);
                assert_eq!(engine.release(h), model.release(h));
            }
            Op::Sweep(limit) => {
                let due = model.due(now);
                let mut got = vec![];
                let n = engine.sweep(now, limit, |h| got.push(h));
                assert_eq!(n, got.len());
                assert_eq!(n, limit.min(due.len()), "due {due:?}, swept {got:?}");
                for &h in &got {
                    assert!(due.contains(&h), "{h:?} was not due");
                    model.detach(h.slot());
                }
                if n < limit {
                    assert!(engine.next_deadline() > now);
                }
            }
            Op::SweepRelease(limit) => {
                let due = model.due(now);
                let n = engine.sweep_release(now, limit);
                assert_eq!(n, limit.min(due.len()));
                let released: Vec<Handle> = due
                    .into_iter()
                    .filter(|&h| engine.state(h) == State::Stale)
                    .collect();
                assert_eq!(released.len(), n);
                let mut group = vec![];
                for h in released {
                    let groups = model.free.len();
                    model.release(h);
                    if model.free.len() > groups {
                        group.extend(model.free.pop().unwrap_or_default());
                    }
                }
                if !group.is_empty() {
                    model.free.push(group);
                }
                if n < limit {
                    assert!(engine.next_deadline() > now);
                }
            }
            Op::Evict => {
                let got = engine.eviction_candidate();
                let attached: Vec<(u32, Sess)> = model
                    .attached()
                    .map(|(slot, s)| (slot, s.clone()))
                    .collect();
                let Some(h) = got else {
                    assert!(attached.is_empty());
                    continue;
                };
                let victim = model.get(h).expect("a live candidate").clone();
                assert_eq!(victim.state, State::Attached);
                let anonymous = attached.iter().any(|(_, s)| s.user.is_none());
                assert_eq!(victim.user.is_none(), anonymous, "class order");
                let class_has_deadline = attached.iter().any(|(_, s)| {
                    s.user.is_none() == victim.user.is_none() && s.expires() < f64::INFINITY
                });
                assert_eq!(victim.expires() < f64::INFINITY, class_has_deadline);
                assert!(engine.detach(h));
                model.detach(h.slot());
            }
            Op::SetIdle(i, t) => {
                let h = pick(&handles, i);
                assert_eq!(
                    engine.set_idle_timeout(h, TIMEOUTS[t]),
                    model.set_idle(h, TIMEOUTS[t])
                );
            }
            Op::SetAbs(i, t) => {
                let h = pick(&handles, i);
                assert_eq!(
                    engine.set_absolute_timeout(h, TIMEOUTS[t]),
                    model.set_abs(h, TIMEOUTS[t])
                );
            }
            Op::SetData { h, key, len } => {
                let h = pick(&handles, h);
                let v = "v".repeat(len);
                assert_eq!(
                    engine.set_data(h, DATA_KEYS[key], &v),
                    model.set_data(h, DATA_KEYS[key], &v)
                );
            }
            Op::DeleteData { h, key } => {
                let h = pick(&handles, h);
                let k = DATA_KEYS[key];
                let expected = model.get_mut(h).is_some_and(|s| {
                    let before = s.data.len();
                    s.data.retain(|(x, _)| x != k);
                    s.data.len() != before
                });
                assert_eq!(engine.delete_data(h, k), expected);
            }
            Op::Regenerate(i) => {
                let h = pick(&handles, i);
                let r = engine.regenerate(h, now);
                if !random {
                    assert!(matches!(r, Err(Error::WrongKeyMode)));
                } else if model.attached_alive(h, now) {
                    let id = r.unwrap().unwrap();
                    assert_eq!(id.len(), id_len);
                    assert!(model.attached_id(&id).is_none());
                    model.sess_mut(h.slot()).id = id.clone();
                    model.renew(h.slot(), now);
                    ids.push(id);
                } else {
                    assert_eq!(r.unwrap(), None);
                }
            }
            Op::Rekey { h, key } => {
                let h = pick(&handles, h);
                let k = KEYS[key];
                let r = engine.rekey(h, k.as_bytes(), now);
                if random || !model.attached_alive(h, now) {
                    assert_eq!(r, Err(RekeyError::NotAttached));
                } else if model.sess(h.slot()).id == k {
                    assert_eq!(r, Ok(()));
                    model.renew(h.slot(), now);
                } else if model.attached_id(k).is_some() {
                    assert_eq!(r, Err(RekeyError::Exists));
                } else {
                    assert_eq!(r, Ok(()));
                    model.sess_mut(h.slot()).id = k.to_owned();
                    model.renew(h.slot(), now);
                }
            }
            Op::SetUser { h, user } => {
                let h = pick(&handles, h);
                let u = user.map(|i| ["ann", "bob", ""][i]);
                let expected = model
                    .get_mut(h)
                    .map(|s| s.user = u.map(str::to_owned))
                    .is_some();
                assert_eq!(engine.set_user(h, u), expected);
            }
            Op::SetRoles { h, n } => {
                let h = pick(&handles, h);
                let roles: Vec<String> = (0..n).map(|i| format!("role{}", n - i)).collect();
                let expected = model.get_mut(h).map(|s| s.roles = roles.clone()).is_some();
                assert_eq!(engine.set_roles(h, &roles), expected);
            }
            Op::Scan { from, limit } => {
                let mut got = vec![];
                let n = engine.scan(from, now, limit, |h| got.push(h));
                let expected: Vec<Handle> = (from..model.slots.len() as u32)
                    .filter(|&s| matches!(&model.slots[s as usize].1, Some(x) if x.state == State::Attached && now < x.expires()))
                    .map(|s| model.handle(s))
                    .take(limit)
                    .collect();
                assert_eq!(n, got.len());
                assert_eq!(got, expected);
            }
            Op::Advance(d) => now += f64::from(d),
        }
        check(&engine, &model, &handles, now);
    }
}
