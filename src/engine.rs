//! The engine as free functions over an `External`: they mirror the `Engine` interface of the
//! TypeScript facade (ts/engine.ts), which the thin adapter ts/native-engine.ts forwards to.
//! Hot calls take strings and numbers and return numbers; batched calls fill a caller-owned
//! Float64Array. Free functions, not a `#[napi]` class: on napi-rs 3.11 a class method costs
//! about twice a free-function call (bench/call-shape.ts).

use napi::bindgen_prelude::{Env, External};
use napi::{Error, Result, Status};
use napi_derive::napi;
use sessionkeeper_core::{
    Config, Engine, Handle, IdEncoding, KeyMode, RekeyError, SetDataError, State,
};

use crate::errors::map_error;
use crate::external_memory::{EngineExternal, MemoryReport};
use crate::handle_buffer::HandleBuffer;
use crate::id_text::{IdArg, IdText, MAX_KEY_BYTES};
use crate::packed::{parse_entries, PackedScratch, PackedText};

const CREATE_KEY_EXISTS: f64 = -1.0;
const CREATE_TABLE_FULL: f64 = -2.0;
const RESTORE_INVALID_ID: f64 = -3.0;
const NOT_FOUND: f64 = -1.0;

/// The Rust session engine behind a JS `External`. Made by the SessionManager, not by users.
/// It holds no `Env` (one is valid only during its call): the calls that grow or shrink the
/// table take one to report memory to V8 (src/external_memory.rs).
pub struct NativeEngine {
    pub(crate) engine: Engine,
    memory: MemoryReport,
}

fn handle(value: f64) -> Option<Handle> {
    Handle::from_f64(value)
}

fn to_handle_number(found: Option<Handle>) -> f64 {
    found.map_or(NOT_FOUND, Handle::to_f64)
}

fn id_bytes(id: &IdArg) -> &[u8] {
    id.bytes().unwrap_or_default()
}

/// Builds an engine; the facade has validated every argument.
#[napi(catch_unwind, ts_return_type = "ExternalObject<'NativeEngine'>")]
pub fn create_engine(
    id_bytes: u32,
    id_encoding: String,
    keys: String,
    max_data_bytes: f64,
    resolution: f64,
) -> Result<EngineExternal> {
    let id_encoding = match id_encoding.as_str() {
        "base64url" => IdEncoding::Base64Url,
        "hex" => IdEncoding::Hex,
        other => {
            return Err(Error::new(
                Status::InvalidArg,
                format!("unknown idEncoding {other:?}"),
            ))
        }
    };
    let keys = match keys.as_str() {
        "random" => KeyMode::Random,
        "caller" => KeyMode::Caller,
        other => {
            return Err(Error::new(
                Status::InvalidArg,
                format!("unknown keys mode {other:?}"),
            ))
        }
    };
    let max_data_bytes = if max_data_bytes.is_finite() && max_data_bytes >= 0.0 {
        max_data_bytes as usize
    } else {
        usize::MAX
    };
    let config = Config {
        id_bytes: id_bytes as usize,
        id_encoding,
        keys,
        max_data_bytes,
        resolution,
    };
    crate::allocator::tune();
    let engine = Engine::new(config).map_err(map_error)?;
    Ok(EngineExternal(External::new(NativeEngine {
        engine,
        memory: MemoryReport::default(),
    })))
}

/// Attached sessions.
#[napi(catch_unwind)]
pub fn size(engine: &External<NativeEngine>) -> u32 {
    engine.engine.len() as u32
}

/// A session with a fresh random id; its handle, or -2 when the table is full.
#[napi(catch_unwind)]
pub fn create(
    env: Env,
    engine: &mut External<NativeEngine>,
    now: f64,
    idle_timeout: f64,
    absolute_timeout: f64,
) -> Result<f64> {
    let created = engine.engine.create(now, idle_timeout, absolute_timeout);
    engine.report_memory(&env);
    match created {
        Ok(found) => Ok(found.to_f64()),
        Err(sessionkeeper_core::Error::TableFull) => Ok(CREATE_TABLE_FULL),
        Err(error) => Err(map_error(error)),
    }
}

/// A session with a fresh random id holding its initial data (`pairs` entries in the packed
/// form of src/packed.rs: their text, and their lengths in `scratch`), in one crossing: the
/// handle goes to `scratch`'s first 8 bytes (-2 when the table is full) and the id is returned
/// (undefined when full). Data that would exceed maxDataBytes is stored up to the first entry
/// that does not fit (the facade checks the total first). A malformed packing is refused before
/// anything is created.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, now: number, idleTimeout: number, absoluteTimeout: number, pairs: number, packed: string, scratch: ArrayBuffer",
    ts_return_type = "string | undefined"
)]
#[allow(clippy::too_many_arguments)]
pub fn create_session(
    env: Env,
    engine: &mut External<NativeEngine>,
    now: f64,
    idle_timeout: f64,
    absolute_timeout: f64,
    pairs: u32,
    packed: PackedText,
    mut scratch: PackedScratch,
) -> Result<Option<IdText>> {
    packed.read(|text| {
        let entries = text.and_then(|text| parse_entries(text, scratch.lengths(), pairs));
        let Some(entries) = entries else {
            return Err(Error::new(
                Status::InvalidArg,
                "malformed packed data entries",
            ));
        };
        if !scratch.put_handle(CREATE_TABLE_FULL) {
            return Err(Error::new(
                Status::InvalidArg,
                "scratch must have room for the handle",
            ));
        }
        let created = engine.engine.create_with_data(
            now,
            idle_timeout,
            absolute_timeout,
            entries.into_iter(),
        );
        engine.report_memory(&env);
        let found = match created {
            Ok((found, _)) => found,
            Err(sessionkeeper_core::Error::TableFull) => return Ok(None),
            Err(error) => return Err(map_error(error)),
        };
        scratch.put_handle(found.to_f64());
        let mut text = IdText {
            buffer: [0; MAX_KEY_BYTES + 1],
            len: 0,
        };
        text.len = engine
            .engine
            .write_id(found, &mut text.buffer)
            .ok_or_else(|| Error::new(Status::GenericFailure, "a new session has no id"))?;
        Ok(Some(text))
    })?
}

/// A session under a caller's key; its handle, -1 when the key is taken, -2 when full.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, key: string, now: number, idleTimeout: number, absoluteTimeout: number"
)]
pub fn create_with_key(
    env: Env,
    engine: &mut External<NativeEngine>,
    key: IdArg,
    now: f64,
    idle_timeout: f64,
    absolute_timeout: f64,
) -> Result<f64> {
    let Some(key) = key.bytes() else {
        return Err(Error::new(
            Status::InvalidArg,
            format!("keys are at most {MAX_KEY_BYTES} bytes"),
        ));
    };
    let created = engine
        .engine
        .create_with_key(key, now, idle_timeout, absolute_timeout);
    engine.report_memory(&env);
    match created {
        Ok(found) => Ok(found.to_f64()),
        Err(sessionkeeper_core::Error::KeyExists) => Ok(CREATE_KEY_EXISTS),
        Err(sessionkeeper_core::Error::TableFull) => Ok(CREATE_TABLE_FULL),
        Err(error) => Err(map_error(error)),
    }
}

/// A saved session re-created with its own id, timestamps and timeouts (persistence on load);
/// its handle, -1 when the id is taken, -2 when full, -3 when the id is not one of this engine.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, id: string, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number"
)]
pub fn restore(
    env: Env,
    engine: &mut External<NativeEngine>,
    id: IdArg,
    created_at: f64,
    last_activity: f64,
    idle_timeout: f64,
    absolute_timeout: f64,
) -> f64 {
    let Some(id) = id.bytes() else {
        return RESTORE_INVALID_ID;
    };
    let restored = engine.engine.restore(
        id,
        created_at,
        last_activity,
        idle_timeout,
        absolute_timeout,
    );
    engine.report_memory(&env);
    match restored {
        Ok(found) => found.to_f64(),
        Err(sessionkeeper_core::Error::KeyExists) => CREATE_KEY_EXISTS,
        Err(sessionkeeper_core::Error::TableFull) => CREATE_TABLE_FULL,
        Err(_) => RESTORE_INVALID_ID,
    }
}

/// The handle of the live session with this id (renewed when asked), or -1.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, id: string, now: number, renew: boolean"
)]
pub fn lookup(engine: &mut External<NativeEngine>, id: IdArg, now: f64, renew: bool) -> f64 {
    match id.bytes() {
        Some(bytes) => to_handle_number(engine.engine.lookup(bytes, now, renew)),
        None => NOT_FOUND,
    }
}

/// Detaches the session with this id if it is expired; its handle, or -1.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, id: string, now: number"
)]
pub fn detach_if_expired(engine: &mut External<NativeEngine>, id: IdArg, now: f64) -> f64 {
    to_handle_number(engine.engine.detach_if_expired(id_bytes(&id), now))
}

/// Attached and alive at `now`.
#[napi(catch_unwind)]
pub fn is_alive(engine: &External<NativeEngine>, handle_number: f64, now: f64) -> bool {
    handle(handle_number).is_some_and(|found| engine.engine.is_alive(found, now))
}

/// Renews a live session.
#[napi(catch_unwind)]
pub fn touch(engine: &mut External<NativeEngine>, handle_number: f64, now: f64) -> bool {
    handle(handle_number).is_some_and(|found| engine.engine.touch(found, now))
}

/// Attached to detached.
#[napi(catch_unwind)]
pub fn detach(engine: &mut External<NativeEngine>, handle_number: f64) -> bool {
    handle(handle_number).is_some_and(|found| engine.engine.detach(found))
}

/// Frees the slot.
#[napi(catch_unwind)]
pub fn release(env: Env, engine: &mut External<NativeEngine>, handle_number: f64) -> bool {
    let released = handle(handle_number).is_some_and(|found| engine.engine.release(found));
    engine.report_memory(&env);
    released
}

/// Detaches expired sessions into `out`; how many were written.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, now: number, out: Float64Array"
)]
pub fn sweep(engine: &mut External<NativeEngine>, now: f64, mut out: HandleBuffer) -> u32 {
    let mut slots = out.slots();
    let limit = slots.len();
    engine.engine.sweep(now, limit, |found| {
        if let Some(slot) = slots.next() {
            *slot = found.to_f64();
        }
    }) as u32
}

/// Detaches and releases up to `limit` expired sessions; how many.
#[napi(catch_unwind)]
pub fn sweep_release(env: Env, engine: &mut External<NativeEngine>, now: f64, limit: u32) -> u32 {
    let released = engine.engine.sweep_release(now, limit as usize);
    engine.report_memory(&env);
    released as u32
}

/// A lower bound of the earliest deadline (the start of the earliest wheel slot), Infinity
/// when none.
#[napi(catch_unwind)]
pub fn next_deadline(engine: &External<NativeEngine>) -> f64 {
    engine.engine.next_deadline()
}

/// The session to evict (earliest deadline, sessions without a user first), or -1.
#[napi(catch_unwind)]
pub fn eviction_candidate(engine: &mut External<NativeEngine>) -> f64 {
    to_handle_number(engine.engine.eviction_candidate())
}

/// A new random id for a live session; undefined when it is not attached and alive.
#[napi(catch_unwind)]
pub fn regenerate(
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    now: f64,
) -> Result<Option<String>> {
    let Some(found) = handle(handle_number) else {
        return Ok(None);
    };
    engine.engine.regenerate(found, now).map_err(map_error)
}

/// Moves a live session to a caller's key: 0 done, 1 key taken, 2 not attached.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, handle: number, key: string, now: number"
)]
pub fn rekey(engine: &mut External<NativeEngine>, handle_number: f64, key: IdArg, now: f64) -> u32 {
    let (Some(found), Some(key)) = (handle(handle_number), key.bytes()) else {
        return 2;
    };
    match engine.engine.rekey(found, key, now) {
        Ok(()) => 0,
        Err(RekeyError::Exists) => 1,
        Err(RekeyError::NotAttached) => 2,
    }
}

/// 0 stale, 1 attached, 2 detached.
#[napi(catch_unwind)]
pub fn state(engine: &External<NativeEngine>, handle_number: f64) -> u32 {
    match handle(handle_number).map_or(State::Stale, |found| engine.engine.state(found)) {
        State::Stale => 0,
        State::Attached => 1,
        State::Detached => 2,
    }
}

/// The session's id.
#[napi(catch_unwind, ts_return_type = "string | undefined")]
pub fn id(engine: &External<NativeEngine>, handle_number: f64) -> Option<IdText> {
    let found = handle(handle_number)?;
    let mut text = IdText {
        buffer: [0; MAX_KEY_BYTES + 1],
        len: 0,
    };
    text.len = engine.engine.write_id(found, &mut text.buffer)?;
    Some(text)
}

/// Creation time; NaN when stale.
#[napi(catch_unwind)]
pub fn created_at(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.created_at(found))
        .unwrap_or(f64::NAN)
}

/// Last use; NaN when stale.
#[napi(catch_unwind)]
pub fn last_activity(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.last_activity(found))
        .unwrap_or(f64::NAN)
}

/// The earlier deadline; NaN when stale.
#[napi(catch_unwind)]
pub fn expires_at(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.expires_at(found))
        .unwrap_or(f64::NAN)
}

/// Idle timeout; NaN when stale.
#[napi(catch_unwind)]
pub fn idle_timeout(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.idle_timeout(found))
        .unwrap_or(f64::NAN)
}

/// Absolute timeout; NaN when stale.
#[napi(catch_unwind)]
pub fn absolute_timeout(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.absolute_timeout(found))
        .unwrap_or(f64::NAN)
}

/// Sets the idle timeout and refiles the session.
#[napi(catch_unwind)]
pub fn set_idle_timeout(
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    timeout: f64,
) -> bool {
    handle(handle_number).is_some_and(|found| engine.engine.set_idle_timeout(found, timeout))
}

/// Sets the absolute timeout and refiles the session.
#[napi(catch_unwind)]
pub fn set_absolute_timeout(
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    timeout: f64,
) -> bool {
    handle(handle_number).is_some_and(|found| engine.engine.set_absolute_timeout(found, timeout))
}

/// A data value.
#[napi(catch_unwind)]
pub fn get_data(
    engine: &External<NativeEngine>,
    handle_number: f64,
    key: String,
) -> Option<String> {
    let found = handle(handle_number)?;
    engine.engine.get_data(found, &key).map(str::to_owned)
}

/// Stores a data value: 0 done, 1 over maxDataBytes, 2 stale.
#[napi(catch_unwind)]
pub fn set_data(
    env: Env,
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    key: String,
    value: String,
) -> u32 {
    let Some(found) = handle(handle_number) else {
        return 2;
    };
    let stored = engine.engine.set_data(found, &key, &value);
    engine.report_memory(&env);
    match stored {
        Ok(()) => 0,
        Err(SetDataError::TooLarge) => 1,
        Err(SetDataError::Stale) => 2,
    }
}

/// Stores `pairs` entries in the facade's packed form (src/packed.rs: the lengths in `scratch`
/// from byte 8, as for [`create_session`]): 0 done, 1 over maxDataBytes (stops there), 2 stale,
/// 3 malformed (nothing is stored).
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, handleNumber: number, pairs: number, packed: string, scratch: ArrayBuffer"
)]
pub fn set_data_packed(
    env: Env,
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    pairs: u32,
    packed: PackedText,
    scratch: PackedScratch,
) -> u32 {
    let Some(found) = handle(handle_number) else {
        return 2;
    };
    // Not a string is malformed too: the facade always passes one.
    let result = packed.read(|text| {
        let entries = text.and_then(|text| parse_entries(text, scratch.lengths(), pairs));
        let Some(entries) = entries else {
            return 3;
        };
        match engine.engine.set_data_entries(found, entries.into_iter()) {
            Ok(()) => 0,
            Err(SetDataError::TooLarge) => 1,
            Err(SetDataError::Stale) => 2,
        }
    });
    engine.report_memory(&env);
    result.unwrap_or(3)
}

/// Removes a data value; whether it was there.
#[napi(catch_unwind)]
pub fn delete_data(
    env: Env,
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    key: String,
) -> bool {
    let deleted = handle(handle_number).is_some_and(|found| engine.engine.delete_data(found, &key));
    engine.report_memory(&env);
    deleted
}

/// Data keys in insertion order.
#[napi(catch_unwind)]
pub fn data_keys(engine: &External<NativeEngine>, handle_number: f64) -> Vec<&str> {
    handle(handle_number)
        .and_then(|found| engine.engine.data_keys(found))
        .unwrap_or_default()
}

/// UTF-8 bytes of all keys and values; NaN when stale.
#[napi(catch_unwind)]
pub fn data_bytes(engine: &External<NativeEngine>, handle_number: f64) -> f64 {
    handle(handle_number)
        .and_then(|found| engine.engine.data_bytes(found))
        .map_or(f64::NAN, |bytes| bytes as f64)
}

/// The user name.
#[napi(catch_unwind)]
pub fn user(engine: &External<NativeEngine>, handle_number: f64) -> Option<&str> {
    engine.engine.user(handle(handle_number)?)
}

/// The user name of a session that is alive at `now` or closing (detached while its close
/// listeners run), else none: `session.user` in one call, where `is_alive` then `user` took two.
#[napi(catch_unwind)]
pub fn readable_user(
    engine: &External<NativeEngine>,
    handle_number: f64,
    now: f64,
) -> Option<&str> {
    let found = handle(handle_number)?;
    let engine = &engine.engine;
    if engine.is_alive(found, now) || engine.state(found) == State::Detached {
        engine.user(found)
    } else {
        None
    }
}

/// Sets or clears the user name.
#[napi(catch_unwind)]
pub fn set_user(
    env: Env,
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    user: Option<String>,
) -> bool {
    let set =
        handle(handle_number).is_some_and(|found| engine.engine.set_user(found, user.as_deref()));
    engine.report_memory(&env);
    set
}

/// The roles.
#[napi(catch_unwind)]
pub fn roles(engine: &External<NativeEngine>, handle_number: f64) -> Vec<&str> {
    handle(handle_number)
        .and_then(|found| engine.engine.roles(found))
        .unwrap_or_default()
}

/// Replaces the roles.
#[napi(catch_unwind)]
pub fn set_roles(
    env: Env,
    engine: &mut External<NativeEngine>,
    handle_number: f64,
    roles: Vec<String>,
) -> bool {
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let set = handle(handle_number).is_some_and(|found| engine.engine.set_roles(found, &roles));
    engine.report_memory(&env);
    set
}

/// Live attached sessions from `fromSlot` on, into `out`; how many were written.
#[napi(
    catch_unwind,
    ts_args_type = "engine: ExternalObject<'NativeEngine'>, fromSlot: number, now: number, out: Float64Array"
)]
pub fn scan(
    engine: &External<NativeEngine>,
    from_slot: u32,
    now: f64,
    mut out: HandleBuffer,
) -> u32 {
    let mut slots = out.slots();
    let limit = slots.len();
    engine.engine.scan(from_slot, now, limit, |found| {
        if let Some(slot) = slots.next() {
            *slot = found.to_f64();
        }
    }) as u32
}

/// Approximate bytes held by the engine.
#[napi(catch_unwind)]
pub fn memory_bytes(engine: &External<NativeEngine>) -> f64 {
    engine.engine.memory_bytes() as f64
}

impl NativeEngine {
    /// Called after every change that can grow or shrink the engine: O(1), and a napi call
    /// only when the holding moved by a report step (src/external_memory.rs).
    pub(crate) fn report_memory(&mut self, env: &Env) {
        self.memory.update(env, self.engine.memory_bytes());
    }

    pub(crate) fn memory_reported(&self) -> i64 {
        self.memory.reported()
    }
}
