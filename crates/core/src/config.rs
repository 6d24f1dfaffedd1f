//! Engine settings: id length and encoding, key mode, data cap, wheel resolution.

/// How random ids are written as text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdEncoding {
    /// RFC 4648 §5 without padding: `ceil(id_bytes * 4 / 3)` characters.
    Base64Url,
    /// Lower-case hex: `2 * id_bytes` characters.
    Hex,
}

/// Where session ids come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyMode {
    /// The engine draws ids from the OS CSPRNG ([`Engine::create`], [`Engine::regenerate`]).
    Random,
    /// The caller supplies keys ([`Engine::create_with_key`], [`Engine::rekey`]).
    Caller,
}

/// Engine settings, fixed for its life.
#[derive(Clone, Debug)]
pub struct Config {
    /// Random id length in bytes, 16..=64 (checked in every mode).
    pub id_bytes: usize,
    /// Text form of random ids.
    pub id_encoding: IdEncoding,
    /// Random or caller-supplied ids.
    pub keys: KeyMode,
    /// Cap on one session's data bytes; `usize::MAX` for none.
    pub max_data_bytes: usize,
    /// Tick of the deadline wheel in ms (at least 1): expiry is at most this late, and
    /// eviction picks the earliest deadline to within it.
    pub resolution: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id_bytes: 16,
            id_encoding: IdEncoding::Base64Url,
            keys: KeyMode::Random,
            max_data_bytes: usize::MAX,
            resolution: 1000.0,
        }
    }
}
