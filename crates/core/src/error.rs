//! What engine calls return when they change nothing.

use std::fmt;

/// Failures of construction and creation.
#[derive(Debug)]
pub enum Error {
    /// A config field (or a caller key) is out of range.
    InvalidConfig(&'static str),
    /// All [`crate::MAX_SLOTS`] slots are in use or retired.
    TableFull,
    /// An attached session already has this key (expired or not).
    KeyExists,
    /// The call does not belong to the configured [`KeyMode`].
    WrongKeyMode,
    /// The OS random number generator failed.
    Random(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(why) => write!(f, "invalid config: {why}"),
            Error::TableFull => f.write_str("session table is full"),
            Error::KeyExists => f.write_str("a session with this key exists"),
            Error::WrongKeyMode => f.write_str("operation not available in this key mode"),
            Error::Random(why) => write!(f, "OS random number generator failed: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why [`Engine::set_data`] changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SetDataError {
    /// The session's data would exceed `max_data_bytes`.
    TooLarge,
    /// The handle is stale.
    Stale,
}

/// Why [`Engine::rekey`] changed nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RekeyError {
    /// Another attached session has the key.
    Exists,
    /// The handle is not attached and alive (or the engine is not in caller mode, or the key
    /// is not 1..=255 bytes of UTF-8).
    NotAttached,
}
