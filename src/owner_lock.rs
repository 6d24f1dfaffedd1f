//! The kernel's lock on a session file's owner file (`sessionkeeper_core::persist::try_lock_owner`),
//! for ts/persist/lock.ts: taken, refused, or unavailable (the file system cannot lock); and the
//! owner file's text, read and written through the locked handle.

use napi::bindgen_prelude::{Either, External};
use napi_derive::napi;
use sessionkeeper_core::persist::{try_lock_owner, OwnerLock, OwnerLockAttempt};

/// A taken owner lock; `releaseOwnerLock` lets it go (so does the end of the process).
pub struct HeldOwnerLock(Option<OwnerLock>);

/// Takes the exclusive lock of `ownerPath` without waiting: the lock, `'held'` when another open
/// of the file holds it, or `'unavailable: <why>'`.
#[napi(catch_unwind, ts_return_type = "ExternalObject<'OwnerLock'> | string")]
pub fn lock_owner(owner_path: String) -> Either<External<HeldOwnerLock>, String> {
    match try_lock_owner(std::path::Path::new(&owner_path)) {
        OwnerLockAttempt::Taken(lock) => Either::A(External::new(HeldOwnerLock(Some(lock)))),
        OwnerLockAttempt::Held => Either::B("held".into()),
        OwnerLockAttempt::Unavailable(error) => Either::B(format!("unavailable: {error}")),
    }
}

/// The owner file's text (what the previous holder recorded); undefined when it cannot be read
/// or the lock was released.
#[napi(catch_unwind, ts_args_type = "lock: ExternalObject<'OwnerLock'>")]
pub fn owner_text(lock: &mut External<HeldOwnerLock>) -> Option<String> {
    lock.0.as_mut().and_then(|held| held.text().ok())
}

/// Replaces the owner file's text; false when it cannot be written or the lock was released.
#[napi(
    catch_unwind,
    ts_args_type = "lock: ExternalObject<'OwnerLock'>, text: string"
)]
pub fn record_owner(lock: &mut External<HeldOwnerLock>, text: String) -> bool {
    lock.0
        .as_mut()
        .is_some_and(|held| held.set_text(&text).is_ok())
}

/// Lets the lock go now (its descriptor closed), not when the collector gets to it.
#[napi(catch_unwind, ts_args_type = "lock: ExternalObject<'OwnerLock'>")]
pub fn release_owner_lock(lock: &mut External<HeldOwnerLock>) {
    lock.0 = None;
}
