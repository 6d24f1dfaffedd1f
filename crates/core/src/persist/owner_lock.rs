//! One writer per session file, as the kernel keeps it: an exclusive lock (`flock` on Unix,
//! `LockFileEx` on Windows) on `<path>.lock.owner`, a file made once and never removed (removing a
//! locked file would let the next opener lock a new one beside a holder of the old). The kernel
//! drops the lock with the descriptor, so a holder that dies leaves nothing stale, whatever its
//! pid becomes, and two opens of one file exclude each other even within one thread. The holder
//! keeps a few lines of text in the file, read and written through the locked handle (Windows'
//! locks are mandatory: another handle could neither read nor write it). The TypeScript side
//! keeps the `<pid> <threadId>` lock file beside it, for earlier releases and for naming the
//! holder (`ts/persist/lock.ts`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Bytes of the owner file's text that are read: it holds a line or two.
const MAX_TEXT_BYTES: u64 = 4096;

/// The lock, held until dropped.
#[derive(Debug)]
pub struct OwnerLock {
    file: File,
}

impl OwnerLock {
    /// The text the file holds (what the previous holder wrote), up to 4 KiB, invalid UTF-8
    /// replaced.
    pub fn text(&mut self) -> io::Result<String> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        (&mut self.file)
            .take(MAX_TEXT_BYTES)
            .read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Replaces the file's text.
    pub fn set_text(&mut self, text: &str) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())
    }
}

/// What an attempt to take the lock found.
#[derive(Debug)]
pub enum OwnerLockAttempt {
    /// Taken: no one else holds it until this is dropped.
    Taken(OwnerLock),
    /// Another open of the file holds it (this process or another).
    Held,
    /// The file system cannot lock (some network and FUSE ones), the file cannot be made, or it
    /// is not a regular file (a FIFO would block its reader for good).
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
    // Not opened when it is there and not a regular file: opening a FIFO waits for a writer.
    if let Ok(metadata) = std::fs::metadata(owner_path) {
        if !metadata.is_file() {
            return OwnerLockAttempt::Unavailable(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the owner file is not a regular file",
            ));
        }
    }
    let file = match options.open(owner_path) {
        Ok(file) => file,
        Err(error) => return OwnerLockAttempt::Unavailable(error),
    };
    match file.try_lock() {
        Ok(()) => OwnerLockAttempt::Taken(OwnerLock { file }),
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

    fn taken(path: &Path) -> OwnerLock {
        match try_lock_owner(path) {
            OwnerLockAttempt::Taken(lock) => lock,
            other => panic!("not taken: {other:?}"),
        }
    }

    #[test]
    fn a_second_open_is_refused_until_the_first_is_dropped() {
        let path = temp_path("second");
        let first = taken(&path);
        assert!(matches!(try_lock_owner(&path), OwnerLockAttempt::Held));
        drop(first);
        assert!(matches!(try_lock_owner(&path), OwnerLockAttempt::Taken(_)));
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    }

    #[test]
    fn the_text_passes_from_holder_to_holder() {
        let path = temp_path("text");
        let mut first = taken(&path);
        assert_eq!(first.text().ok().as_deref(), Some(""));
        assert!(first
            .set_text("123 0\nlonger than what comes next\n")
            .is_ok());
        assert!(first.set_text("123 0\n").is_ok());
        drop(first);
        let mut second = taken(&path);
        assert_eq!(second.text().ok().as_deref(), Some("123 0\n"));
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

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_unavailable_at_once() {
        let path = temp_path("fifo");
        let _ = std::fs::remove_file(&path);
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !matches!(made, Ok(status) if status.success()) {
            return; // No mkfifo here: nothing to show.
        }
        assert!(matches!(
            try_lock_owner(&path),
            OwnerLockAttempt::Unavailable(_)
        ));
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    }
}
