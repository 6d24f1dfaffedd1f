//! Random ids: a pooled OS CSPRNG, and the two text encodings with strict, canonical decoding.

use crate::config::IdEncoding;
use crate::error::Error;

/// Largest random id in bytes; lookup decodes into a stack buffer of this size.
pub(crate) const MAX_ID_BYTES: usize = 64;
/// Bytes read from the OS at a time: one syscall serves many ids.
const POOL_BYTES: usize = 4096;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Random bytes read from the OS in blocks and handed out once each.
#[derive(Debug, Default)]
pub(crate) struct RandomPool {
    buf: Vec<u8>,
    pos: usize,
}

impl RandomPool {
    /// Fills `out` with fresh random bytes (`out` must not exceed the block size).
    pub(crate) fn fill(&mut self, out: &mut [u8]) -> Result<(), Error> {
        if out.len() > POOL_BYTES {
            return Err(Error::Random("request larger than the pool".into()));
        }
        if self.buf.len().saturating_sub(self.pos) < out.len() {
            self.buf.resize(POOL_BYTES, 0);
            // Marked used before the read, so a failed read never hands out stale bytes.
            self.pos = self.buf.len();
            getrandom::fill(&mut self.buf).map_err(|e| Error::Random(e.to_string()))?;
            self.pos = 0;
        }
        let end = self.pos + out.len();
        let Some(src) = self.buf.get_mut(self.pos..end) else {
            return Err(Error::Random("pool out of range".into()));
        };
        out.copy_from_slice(src);
        // Wiped so that handed-out ids do not linger in the pool.
        src.fill(0);
        self.pos = end;
        Ok(())
    }

    /// The `n` bytes the next `fill` of `n` will hand out, when the pool holds them already.
    pub(crate) fn peek(&self, n: usize) -> Option<&[u8]> {
        self.buf.get(self.pos..self.pos.checked_add(n)?)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Length of the text form of an id of `n` bytes.
pub(crate) fn encoded_len(encoding: IdEncoding, n: usize) -> usize {
    match encoding {
        IdEncoding::Base64Url => (n * 4).div_ceil(3),
        IdEncoding::Hex => n * 2,
    }
}

/// Writes the text form of `bytes` into `out`; `None` when `out` is too short.
pub(crate) fn encode_into(encoding: IdEncoding, bytes: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = encoded_len(encoding, bytes.len());
    let out = out.get_mut(..len)?;
    match encoding {
        IdEncoding::Hex => {
            for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
                if let [hi, lo] = pair {
                    *hi = HEX[usize::from(b >> 4)];
                    *lo = HEX[usize::from(b & 15)];
                }
            }
        }
        IdEncoding::Base64Url => {
            let mut acc: u32 = 0;
            let mut bits = 0u32;
            let mut k = 0;
            for &b in bytes {
                acc = (acc << 8) | u32::from(b);
                bits += 8;
                while bits >= 6 {
                    bits -= 6;
                    *out.get_mut(k)? = B64[((acc >> bits) & 63) as usize];
                    k += 1;
                }
                acc &= (1 << bits) - 1;
            }
            if bits > 0 {
                *out.get_mut(k)? = B64[((acc << (6 - bits)) & 63) as usize];
            }
        }
    }
    Some(len)
}

/// The text form of `bytes` as a `String`.
pub(crate) fn encode(encoding: IdEncoding, bytes: &[u8]) -> String {
    let mut buf = [0u8; 2 * MAX_ID_BYTES];
    let n = encode_into(encoding, bytes, &mut buf).unwrap_or(0);
    buf.get(..n)
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or_default()
        .to_owned()
}

/// Marks a byte outside an alphabet in the decoding tables: its high bit survives an OR of
/// the values of a group, so one test per group rejects any foreign character.
pub(crate) const INVALID: u8 = 0xff;

/// The value of each byte in base64url, or `INVALID`.
pub(crate) const B64_VALUE: [u8; 256] = value_table(B64);
/// The value of each byte in lowercase hex, or `INVALID`.
const HEX_VALUE: [u8; 256] = value_table(HEX);

const fn value_table(alphabet: &[u8]) -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut value = 0;
    while value < alphabet.len() {
        table[alphabet[value] as usize] = value as u8;
        value += 1;
    }
    table
}

/// Decodes the text form of an `n`-byte id into `out`. `None` unless `text` is the one
/// canonical encoding of some `n` bytes: exact length, alphabet, zero padding bits.
///
/// Every lookup decodes a client's id, and random ids make a per-character range test
/// mispredict about once a character (16% of a native lookup at 10^6 sessions, where the rest
/// is two cache misses): the tables turn that into loads, and a whole group is checked at once.
pub(crate) fn decode<'a>(
    encoding: IdEncoding,
    text: &[u8],
    n: usize,
    out: &'a mut [u8; MAX_ID_BYTES],
) -> Option<&'a [u8]> {
    if n > MAX_ID_BYTES || text.len() != encoded_len(encoding, n) {
        return None;
    }
    match encoding {
        IdEncoding::Hex => {
            let mut seen = 0u8;
            for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
                if let [hi, lo] = pair {
                    let (hi, lo) = (HEX_VALUE[usize::from(*hi)], HEX_VALUE[usize::from(*lo)]);
                    seen |= hi | lo;
                    *slot = (hi << 4) | (lo & 15);
                }
            }
            if seen & INVALID_BIT != 0 {
                return None;
            }
        }
        IdEncoding::Base64Url => {
            let mut seen = 0u8;
            let groups = text.chunks_exact(4);
            let tail = groups.remainder();
            for (bytes, group) in out.chunks_exact_mut(3).zip(groups) {
                if let ([b0, b1, b2], [c0, c1, c2, c3]) = (bytes, group) {
                    let v = [c0, c1, c2, c3].map(|c| B64_VALUE[usize::from(*c)]);
                    seen |= v[0] | v[1] | v[2] | v[3];
                    let word = (u32::from(v[0]) << 18)
                        | (u32::from(v[1]) << 12)
                        | (u32::from(v[2]) << 6)
                        | u32::from(v[3]);
                    *b0 = (word >> 16) as u8;
                    *b1 = (word >> 8) as u8;
                    *b2 = word as u8;
                }
            }
            let at = (text.len() - tail.len()) / 4 * 3;
            let v = tail.iter().map(|c| B64_VALUE[usize::from(*c)]);
            let mut word = 0u32;
            for value in v {
                seen |= value;
                word = (word << 6) | u32::from(value & 63);
            }
            // A tail of 2 characters holds one byte and 4 padding bits, of 3 two bytes and 2.
            match tail.len() {
                0 => {}
                2 => {
                    if word & 0xf != 0 {
                        return None;
                    }
                    *out.get_mut(at)? = (word >> 4) as u8;
                }
                3 => {
                    if word & 0x3 != 0 {
                        return None;
                    }
                    *out.get_mut(at)? = (word >> 10) as u8;
                    *out.get_mut(at + 1)? = (word >> 2) as u8;
                }
                _ => return None,
            }
            if seen & INVALID_BIT != 0 {
                return None;
            }
        }
    }
    out.get(..n)
}

/// The bit every table value below 64 lacks and `INVALID` has.
pub(crate) const INVALID_BIT: u8 = 0x80;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(encode(IdEncoding::Hex, &[0x00, 0xff, 0x1a]), "00ff1a");
        assert_eq!(encode(IdEncoding::Base64Url, b"foobar"), "Zm9vYmFy");
        assert_eq!(encode(IdEncoding::Base64Url, b"fo"), "Zm8");
        assert_eq!(encode(IdEncoding::Base64Url, b"f"), "Zg");
        assert_eq!(encode(IdEncoding::Base64Url, &[0xfb, 0xff]), "-_8");
        assert_eq!(encoded_len(IdEncoding::Base64Url, 16), 22);
        assert_eq!(encoded_len(IdEncoding::Base64Url, 64), 86);
    }

    #[test]
    fn peek_shows_the_bytes_the_next_fill_hands_out_and_nothing_past_the_pool() {
        let mut pool = RandomPool::default();
        assert_eq!(pool.peek(16), None, "an empty pool has nothing to show");
        let mut first = [0u8; 16];
        pool.fill(&mut first).unwrap();
        let mut drawn = 16;
        while drawn + 64 <= POOL_BYTES {
            let shown = pool.peek(64).unwrap().to_vec();
            let mut next = [0u8; 64];
            pool.fill(&mut next).unwrap();
            assert_eq!(&shown[..], &next[..]);
            drawn += 64;
        }
        // Fewer bytes left than asked: the next fill reads a new block, so nothing is shown.
        assert_eq!(pool.peek(POOL_BYTES - drawn + 1), None);
        assert!(pool.peek(POOL_BYTES - drawn).is_some());
    }

    #[test]
    fn round_trip_every_length() {
        let mut pool = RandomPool::default();
        for n in 16..=MAX_ID_BYTES {
            for enc in [IdEncoding::Base64Url, IdEncoding::Hex] {
                let mut raw = [0u8; MAX_ID_BYTES];
                pool.fill(&mut raw[..n]).unwrap();
                let text = encode(enc, &raw[..n]);
                assert_eq!(text.len(), encoded_len(enc, n));
                let mut out = [0u8; MAX_ID_BYTES];
                assert_eq!(decode(enc, text.as_bytes(), n, &mut out), Some(&raw[..n]));
            }
        }
    }

    #[test]
    fn rejects_non_canonical() {
        let mut out = [0u8; MAX_ID_BYTES];
        let n = 16;
        let good = encode(IdEncoding::Base64Url, &[0u8; 16]);
        assert!(decode(IdEncoding::Base64Url, good.as_bytes(), n, &mut out).is_some());
        // 22 chars carry 132 bits: the last char's low 4 bits must be zero.
        let mut bad = good.clone().into_bytes();
        *bad.last_mut().unwrap() = b'B';
        assert!(decode(IdEncoding::Base64Url, &bad, n, &mut out).is_none());
        let mut bad = good.clone().into_bytes();
        bad[3] = b'=';
        assert!(decode(IdEncoding::Base64Url, &bad, n, &mut out).is_none());
        assert!(decode(IdEncoding::Base64Url, &good.as_bytes()[1..], n, &mut out).is_none());
        let hex = encode(IdEncoding::Hex, &[0xabu8; 16]);
        assert!(decode(IdEncoding::Hex, hex.as_bytes(), n, &mut out).is_some());
        let upper = hex.to_uppercase();
        assert!(decode(IdEncoding::Hex, upper.as_bytes(), n, &mut out).is_none());
    }

    /// The character-by-character decoder the tables replaced: the definition they must match.
    fn reference_decode(encoding: IdEncoding, text: &[u8], n: usize) -> Option<Vec<u8>> {
        if text.len() != encoded_len(encoding, n) {
            return None;
        }
        let alphabet: &[u8] = match encoding {
            IdEncoding::Base64Url => B64,
            IdEncoding::Hex => HEX,
        };
        let bits_per_char = if encoding == IdEncoding::Hex { 4 } else { 6 };
        let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
        for &c in text {
            let value = alphabet.iter().position(|&a| a == c)? as u32;
            acc = (acc << bits_per_char) | value;
            bits += bits_per_char;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        (acc == 0 && out.len() == n).then_some(out)
    }

    /// Every byte value at every position of ids of every length, in both encodings, decodes
    /// exactly as the reference does (rejections included).
    #[test]
    fn decode_matches_the_reference_for_every_byte_at_every_position() {
        let mut pool = RandomPool::default();
        for n in 16..=MAX_ID_BYTES {
            for enc in [IdEncoding::Base64Url, IdEncoding::Hex] {
                let mut raw = [0u8; MAX_ID_BYTES];
                pool.fill(&mut raw[..n]).unwrap();
                let text = encode(enc, &raw[..n]).into_bytes();
                for at in 0..text.len() {
                    for byte in 0..=255u8 {
                        let mut mutated = text.clone();
                        mutated[at] = byte;
                        let mut out = [0u8; MAX_ID_BYTES];
                        let got = decode(enc, &mutated, n, &mut out).map(<[u8]>::to_vec);
                        assert_eq!(
                            got,
                            reference_decode(enc, &mutated, n),
                            "{enc:?} n={n} at={at} byte={byte}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn pool_never_repeats_within_blocks() {
        let mut pool = RandomPool::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut b = [0u8; 48];
            pool.fill(&mut b).unwrap();
            assert!(seen.insert(b));
        }
    }
}
