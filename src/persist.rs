//! Persistence fast paths for the native engine: parse a session file and restore its sessions
//! in Rust (`sessionkeeper_core::persist`), and encode every attached session as records, so
//! that neither crosses the boundary once per session. The TypeScript side (ts/persist) keeps
//! the file, the lock and the journal.

use napi::bindgen_prelude::{Buffer, External, Uint8Array};
use napi::Env;
use napi_derive::napi;
use sessionkeeper_core::persist::{self, Damage, FileConfig};
use sessionkeeper_core::Handle;

use crate::engine::NativeEngine;
use crate::handle_buffer::HandleBuffer;

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
    /// `'not-ours'`, `'mismatch'`, `'corrupt'` or `'bad-id'` when nothing was restored.
    pub damage: Option<String>,
    /// Where the damage is.
    pub offset: Option<f64>,
    /// What it is.
    pub why: Option<String>,
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
    }
}

/// Parses a whole session file and restores its sessions into the (empty) engine; unless the
/// file is clean, each last activity moves on by `window` ms, not past `now`.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, bytes: Uint8Array, window: number, now: number"
)]
pub fn load_sessions(
    env: Env,
    engine: &mut External<NativeEngine>,
    bytes: Uint8Array,
    window: f64,
    now: f64,
) -> LoadOutcome {
    let config = FileConfig::of(&engine.engine);
    let parsed = match persist::parse_borrowed(&bytes, &config) {
        Ok(parsed) => parsed,
        Err(Damage::NotOurs { offset, why }) => return failed("not-ours", Some(offset), why),
        Err(Damage::Mismatch { why }) => return failed("mismatch", None, why),
        Err(Damage::Corrupt { offset, why }) => return failed("corrupt", Some(offset), why),
    };
    let window = if parsed.clean { 0.0 } else { window };
    let restored = persist::restore_borrowed(&mut engine.engine, &parsed.sessions, window, now);
    let count = match restored {
        Ok(count) => count,
        Err((index, _)) => {
            let id = parsed.sessions.get(index).map_or("", |s| s.id);
            return failed(
                "bad-id",
                None,
                format!("the saved id {id:?} is not an id of this manager"),
            );
        }
    };
    engine.count_op(&env, count as u32);
    LoadOutcome {
        restored: count as u32,
        records: parsed.records as u32,
        torn_at: parsed.torn_at.map(|o| o as f64),
        clean: parsed.clean,
        damage: None,
        offset: None,
        why: None,
    }
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
    mut handles: HandleBuffer,
    count: u32,
) -> Buffer {
    let mut out = Vec::new();
    for value in handles.slots().take(count as usize) {
        if let Some(h) = Handle::from_f64(*value) {
            persist::write_session(&engine.engine, h, &mut out);
        }
    }
    Buffer::from(out)
}
