//! One writer per session file, as the kernel keeps it: an exclusive lock (`flock` on Unix,
//! `LockFileEx` on Windows) on `<path>.lock.owner`, a file made once and never removed (removing a
//! locked file would let the next opener lock a new one beside a holder of the old). The kernel
//! drops the lock with the descriptor, so a holder that dies leaves nothing stale, whatever its
//! pid becomes, and two opens of one file exclude each other even within one thread. The
//! TypeScript side keeps the `<pid> <threadId>` lock file beside it, for earlier releases and
//! for naming the holder (`ts/persist/lock.ts`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// The lock, held until dropped.
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
}

/// What an attempt to take the lock found.
#[derive(Debug)]
pub enum OwnerLockAttempt {
    /// Taken: no one else holds it until this is dropped.
    Taken(OwnerLock),
    /// Another open of the file holds it (this process or another).
    Held,
    /// The file system cannot lock (some network and FUSE ones), or the file cannot be made.
    Unavailable(io::Error),
}

/// Tries to take the exclusive lock of `owner_path` (created, mode 0600, when missing), without
/// waiting.
pub fn try_lock_owner(owner_path: &Path) -> OwnerLockAttempt {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = match options.open(owner_path) {
        Ok(file) => file,
        Err(error) => return OwnerLockAttempt::Unavailable(error),
    };
    match file.try_lock() {
        Ok(()) => OwnerLockAttempt::Taken(OwnerLock { _file: file }),
        Err(TryLockError::WouldBlock) => OwnerLockAttempt::Held,
        Err(TryLockError::Error(error)) => OwnerLockAttempt::Unavailable(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sk-owner-lock-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join("sessions.skdb.lock.owner")
    }

    #[test]
    fn a_second_open_is_refused_until_the_first_is_dropped() {
        let path = temp_path("second");
        let first = match try_lock_owner(&path) {
            OwnerLockAttempt::Taken(lock) => lock,
            other => panic!("not taken: {other:?}"),
        };
        assert!(matches!(try_lock_owner(&path), OwnerLockAttempt::Held));
        drop(first);
        assert!(matches!(try_lock_owner(&path), OwnerLockAttempt::Taken(_)));
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    }

    #[test]
    fn a_missing_directory_is_unavailable_not_a_panic() {
        let path = temp_path("missing").join("nowhere").join("x.lock.owner");
        assert!(matches!(
            try_lock_owner(&path),
            OwnerLockAttempt::Unavailable(_)
        ));
    }
}
