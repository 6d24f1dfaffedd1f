//! Persistence fast paths for the native engine: parse a session file and restore its sessions
//! in Rust (`sessionkeeper_core::persist`), and encode every attached session as records, so
//! that neither crosses the boundary once per session. The TypeScript side (ts/persist) keeps
//! the file, the lock and the journal.

use napi::bindgen_prelude::{Buffer, External, Float64Array};
use napi::Env;
use napi::Error;
use napi_derive::napi;
use sessionkeeper_core::persist::{self, Damage, PieceError};
use sessionkeeper_core::{Engine, Handle};

use crate::engine::NativeEngine;
use crate::handle_buffer::{ByteBuffer, HandleBuffer};

/// What loading a file into the engine did, or why it could not.
#[napi(object)]
pub struct LoadOutcome {
    /// Sessions restored.
    pub restored: u32,
    /// Intact records read.
    pub records: u32,
    /// Offset of a torn final record that was dropped.
    pub torn_at: Option<f64>,
    /// The header's CLEAN flag.
    pub clean: bool,
    /// `'not-ours'`, `'mismatch'` or `'corrupt'` when nothing was restored.
    pub damage: Option<String>,
    /// Where the damage is.
    pub offset: Option<f64>,
    /// What it is.
    pub why: Option<String>,
    /// Records that gave a restored session a user: 0 when none has one.
    pub users: u32,
    /// Some session's data was cut to `maxDataBytes`: the file must be rewritten.
    pub cut: bool,
}

fn failed(damage: &str, offset: Option<usize>, why: String) -> LoadOutcome {
    LoadOutcome {
        restored: 0,
        records: 0,
        torn_at: None,
        clean: false,
        damage: Some(damage.into()),
        offset: offset.map(|o| o as f64),
        why: Some(why),
        users: 0,
        cut: false,
    }
}

/// Replays a whole session file into the (empty) engine (`sessionkeeper_core::persist::load`);
/// unless the file is clean, each last activity moves on by `window` ms, not past `now`. On
/// damage the engine is emptied again and nothing is restored.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, bytes: Uint8Array, window: number, now: number"
)]
pub fn load_sessions(
    env: Env,
    engine: &mut External<NativeEngine>,
    bytes: ByteBuffer,
    window: f64,
    now: f64,
) -> LoadOutcome {
    let loaded = persist::load(&mut engine.engine, bytes.bytes(), window, now);
    outcome(&env, engine, loaded)
}

/// Pieces the file at a path is read in: a few MiB, so the reads are few and the buffer small.
const LOAD_PIECE_BYTES: usize = 4 << 20;

/// [`load_sessions`] of the plain file at `path`, read here in pieces
/// (`sessionkeeper_core::persist::load_from`): no buffer of the file's size is made, whose fresh
/// pages the kernel zeroed and copied into for longer than the replay took. Throws when the
/// file cannot be read (the engine is then emptied again).
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, path: string, window: number, now: number"
)]
pub fn load_session_file_at(
    env: Env,
    engine: &mut External<NativeEngine>,
    path: String,
    window: f64,
    now: f64,
) -> napi::Result<LoadOutcome> {
    let unreadable =
        |error: std::io::Error| Error::from_reason(format!("could not read {path}: {error}"));
    let file = std::fs::File::open(&path).map_err(unreadable)?;
    match persist::load_from(&mut engine.engine, file, window, now, LOAD_PIECE_BYTES) {
        Ok(loaded) => Ok(outcome(&env, engine, Ok(loaded))),
        Err(PieceError::Damage(damage)) => Ok(outcome(&env, engine, Err(damage))),
        Err(PieceError::Io(error)) => {
            empty(engine);
            Err(unreadable(error))
        }
    }
}

/// A fresh engine: the cheap way to drop whatever a file's first records made.
fn empty(engine: &mut NativeEngine) {
    if let Ok(fresh) = Engine::new(engine.engine.config().clone()) {
        engine.engine = fresh;
    }
}

/// What a load did, for JavaScript; on damage the engine is emptied first.
fn outcome(
    env: &Env,
    engine: &mut NativeEngine,
    loaded: Result<persist::Loaded, Damage>,
) -> LoadOutcome {
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(damage) => {
            empty(engine);
            return match damage {
                Damage::NotOurs { offset, why } => failed("not-ours", Some(offset), why),
                Damage::Mismatch { why } => failed("mismatch", None, why),
                Damage::Corrupt { offset, why } => failed("corrupt", Some(offset), why),
            };
        }
    };
    engine.report_memory(env);
    LoadOutcome {
        restored: loaded.restored as u32,
        records: loaded.records as u32,
        torn_at: loaded.torn_at.map(|o| o as f64),
        clean: loaded.clean,
        damage: None,
        offset: None,
        why: None,
        users: u32::try_from(loaded.users).unwrap_or(u32::MAX),
        cut: loaded.cut,
    }
}

/// Every attached session's handle and last activity, as pairs: what the journal holds of
/// each right after a load, in one call instead of two per session.
#[napi(catch_unwind, ts_args_type = "engine: ExternalObject<'NativeEngine'>")]
pub fn attached_activity(engine: &External<NativeEngine>) -> Float64Array {
    let e = &engine.engine;
    let mut pairs = Vec::with_capacity(e.len() * 2);
    e.scan(0, f64::NEG_INFINITY, usize::MAX, |h| {
        pairs.push(h.to_f64());
        pairs.push(e.last_activity(h).unwrap_or(f64::NAN));
    });
    Float64Array::new(pairs)
}

/// A Session record for every attached session, in slot order: a snapshot's body.
#[napi(catch_unwind, ts_args_type = "engine: ExternalObject<'NativeEngine'>")]
pub fn snapshot_records(engine: &External<NativeEngine>) -> Buffer {
    let mut out = Vec::new();
    persist::write_sessions(&engine.engine, &mut out);
    Buffer::from(out)
}

/// A Session record for each of the first `count` handles (stale ones are skipped): a slice of
/// a compaction's snapshot.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, handles: Float64Array, count: number"
)]
pub fn session_records(
    engine: &External<NativeEngine>,
    handles: HandleBuffer,
    count: u32,
) -> Buffer {
    let mut out = Vec::new();
    for value in handles.values().iter().take(count as usize) {
        if let Some(h) = Handle::from_f64(*value) {
            persist::write_session(&engine.engine, h, &mut out);
        }
    }
    Buffer::from(out)
}

/// [`session_records`] appended to `out` from byte `at`: returns the end, or -1, writing
/// nothing, when the records do not fit. A compaction reuses one buffer for all its slices.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, handles: Float64Array, count: number, out: Uint8Array, at: number"
)]
pub fn session_records_into(
    engine: &External<NativeEngine>,
    handles: HandleBuffer,
    count: u32,
    mut out: ByteBuffer,
    at: u32,
) -> f64 {
    // The handles are read before `out` is written: both may be views of one buffer.
    let mut records = Vec::new();
    for value in handles.values().iter().take(count as usize) {
        if let Some(h) = Handle::from_f64(*value) {
            persist::write_session(&engine.engine, h, &mut records);
        }
    }
    let start = at as usize;
    match out.bytes_mut().get_mut(start..start + records.len()) {
        Some(target) => {
            target.copy_from_slice(&records);
            (start + records.len()) as f64
        }
        None => -1.0,
    }
}
