//! A session file read from any `Read` in pieces, for a load that needs no buffer of the
//! file's size: reading a 278 MB file into fresh memory cost the native load more than the
//! replay (the kernel zeroing and copying into new pages), where a reused piece is read into
//! pages already mapped. The rules are [`walk`](super::reader)'s and [`count_sessions`]'s, step
//! for step, restated over a file whose end is found by reading.
//!
//! [`count_sessions`]: super::reader

use std::io::{self, Read};

use super::reader::{u32_at, Damage, MIN_SESSION_BODY};
use super::{kind, FRAME_BYTES, HEADER_BYTES, MAX_BODY_BYTES};

/// The file from `source`, held from some offset on in one buffer that grows only to fit a
/// record larger than a piece.
pub(super) struct Pieces<R> {
    source: R,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    start: usize,
    /// Bytes of `buffer` read.
    filled: usize,
    /// The source has ended.
    ended: bool,
    /// The file's length when the load began: nothing past it is ever read or made room for
    /// (a frame claiming a body of up to 1 GiB must not make the load allocate it).
    len: usize,
}

impl<R: Read> Pieces<R> {
    /// The file of `len` bytes from `source`, positioned at its start.
    pub(super) fn new(source: R, len: usize, piece: usize) -> Pieces<R> {
        Pieces {
            source,
            buffer: vec![0; piece.clamp(FRAME_BYTES + 1, len.max(FRAME_BYTES + 1))],
            start: 0,
            filled: 0,
            ended: false,
            len,
        }
    }

    /// The file's bytes `at..at + len`, or `None` when the file ends before them. Offsets
    /// never go back before the last `at` asked for: what lies before it is dropped.
    pub(super) fn get(&mut self, at: usize, len: usize) -> io::Result<Option<&[u8]>> {
        if at < self.start {
            return Err(io::Error::other("session file read out of order"));
        }
        let want = at.saturating_add(len);
        if want > self.len {
            return Ok(None);
        }
        while self.start + self.filled < want {
            if self.ended {
                return Ok(None);
            }
            // Keep from `at` on; bytes before it not yet read are read and dropped in turn.
            let passed = (at - self.start).min(self.filled);
            if passed > 0 {
                self.buffer.copy_within(passed..self.filled, 0);
                self.start += passed;
                self.filled -= passed;
            }
            // Room for the bytes asked for, once the ones before them are passed: skipping a
            // long body (the counting pass) reads through it a piece at a time.
            let needed = if self.start < at {
                0
            } else {
                want - self.start
            };
            if needed > self.buffer.len() {
                self.buffer.resize(needed, 0);
            }
            let read = match self.buffer.get_mut(self.filled..) {
                Some(space) => loop {
                    match self.source.read(space) {
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                        result => break result?,
                    }
                },
                None => 0,
            };
            if read == 0 {
                self.ended = true;
            }
            self.filled += read;
        }
        let from = at - self.start;
        Ok(self.buffer.get(from..from + len))
    }

    /// [`get`](Self::get), with the bytes after it that are already read (up to the file's
    /// length): the records ahead, which a loader warms without reading further.
    fn get_and_after(&mut self, at: usize, len: usize) -> io::Result<Option<(&[u8], &[u8])>> {
        if self.get(at, len)?.is_none() {
            return Ok(None);
        }
        let from = at - self.start;
        let end = self.filled.min(self.len - self.start);
        let (Some(body), Some(after)) = (
            self.buffer.get(from..from + len),
            self.buffer.get(from + len..end.max(from + len)),
        ) else {
            return Ok(None);
        };
        Ok(Some((body, after)))
    }

    /// Whether every byte from `at` to the file's length is zero (reads the rest). Bytes read
    /// past the length (the file grew meanwhile) are not the file's.
    fn all_zero_from(&mut self, at: usize) -> io::Result<bool> {
        let mut offset = at;
        while self.get(offset, 1)?.is_some() {
            let from = offset - self.start;
            let to = self.filled.min(self.len - self.start);
            let zero = self
                .buffer
                .get(from..to)
                .is_some_and(|bytes| bytes.iter().all(|&b| b == 0));
            if !zero {
                return Ok(false);
            }
            offset = self.start + to;
        }
        Ok(true)
    }
}

/// What walking a file in pieces can fail with: damage, or the file could not be read.
#[derive(Debug)]
pub enum PieceError {
    /// The file is damaged (as [`Damage`] says).
    Damage(Damage),
    /// Reading failed.
    Io(io::Error),
}

impl From<io::Error> for PieceError {
    fn from(error: io::Error) -> PieceError {
        PieceError::Io(error)
    }
}

impl From<Damage> for PieceError {
    fn from(damage: Damage) -> PieceError {
        PieceError::Damage(damage)
    }
}

/// [`walk`](super::reader) over `pieces` (positioned anywhere before the first record): each
/// intact record's offset and body to `apply`, in order, with the bytes after the body that
/// are already read. Returns how many were applied and the offset of a torn final record.
pub(super) fn walk_pieces<R: Read>(
    pieces: &mut Pieces<R>,
    mut apply: impl FnMut(usize, &[u8], &[u8]) -> Result<(), Damage>,
) -> Result<(usize, Option<usize>), PieceError> {
    let mut offset = HEADER_BYTES;
    let mut records = 0;
    while pieces.get(offset, 1)?.is_some() {
        let Some(frame) = pieces.get(offset, FRAME_BYTES)? else {
            return Ok((records, Some(offset)));
        };
        let len = u32_at(frame, 0);
        let check = u32_at(frame, 4);
        let expected = u32_at(frame, 8);
        let len_usize = len as usize;
        if !len != check || len == 0 || len_usize > MAX_BODY_BYTES {
            if pieces.all_zero_from(offset)? {
                return Ok((records, Some(offset)));
            }
            return Err(Damage::Corrupt {
                offset,
                why: "bad record length".into(),
            }
            .into());
        }
        let body_start = offset + FRAME_BYTES;
        let body_end = body_start + len_usize;
        let Some((body, ahead)) = pieces.get_and_after(body_start, len_usize)? else {
            return Ok((records, Some(offset)));
        };
        if super::crc32c(body) != expected {
            // Asked for with the byte after it, so the body stays in the buffer meanwhile.
            let followed = pieces.get(body_start, len_usize + 1)?.is_some();
            if !followed || pieces.all_zero_from(body_start)? {
                return Ok((records, Some(offset)));
            }
            return Err(Damage::Corrupt {
                offset,
                why: "bad record checksum".into(),
            }
            .into());
        }
        apply(offset, body, ahead)?;
        offset = body_end;
        records += 1;
    }
    Ok((records, None))
}

/// [`count_sessions`](super::reader) over `pieces`: Session records counted from the frames
/// alone, stopping at the first bad frame.
pub(super) fn count_pieces<R: Read>(pieces: &mut Pieces<R>) -> io::Result<usize> {
    let mut offset = HEADER_BYTES;
    let mut count = 0;
    while let Some(frame) = pieces.get(offset, FRAME_BYTES + 1)? {
        let len = u32_at(frame, 0);
        if !len != u32_at(frame, 4) || len == 0 {
            break;
        }
        if frame.get(FRAME_BYTES) == Some(&kind::SESSION) && len >= MIN_SESSION_BODY {
            count += 1;
        }
        offset += FRAME_BYTES + len as usize;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_past_the_end_are_refused_without_making_room_for_them() {
        let file = vec![7u8; 100];
        let mut pieces = Pieces::new(file.as_slice(), file.len(), 16);
        assert_eq!(pieces.get(90, 10).unwrap(), Some(&file[90..100]));
        // A frame claiming a body of 1 GiB in a 100-byte file.
        assert_eq!(pieces.get(95, 1 << 30).unwrap(), None);
        assert!(pieces.buffer.len() <= 100, "{}", pieces.buffer.len());
    }

    /// Reads a few bytes at a time and is interrupted before every other read.
    struct Stuttering<'a> {
        bytes: &'a [u8],
        interrupt: bool,
    }

    impl Read for Stuttering<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = out.len().min(self.bytes.len()).min(3);
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn interrupted_reads_are_retried_and_bytes_past_the_length_are_not_the_files() {
        // 40 bytes at the length given, then bytes the file grew by during the load.
        let mut grown = vec![0u8; 40];
        grown.extend([0xff; 5]);
        let stuttering = |bytes| Stuttering {
            bytes,
            interrupt: false,
        };
        let mut pieces = Pieces::new(stuttering(&grown), 40, 64);
        assert!(pieces.all_zero_from(10).unwrap());
        let mut pieces = Pieces::new(stuttering(&grown), 40, 64);
        assert_eq!(pieces.get(38, 2).unwrap(), Some(&[0u8, 0][..]));
        assert_eq!(pieces.get(39, 2).unwrap(), None);
    }

    #[test]
    fn a_record_longer_than_a_piece_is_read_whole_and_earlier_bytes_are_dropped() {
        let file: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut pieces = Pieces::new(file.as_slice(), file.len(), 16);
        assert_eq!(pieces.get(3, 4).unwrap(), Some(&file[3..7]));
        assert_eq!(pieces.get(10, 500).unwrap(), Some(&file[10..510]));
        assert_eq!(pieces.get(900, 100).unwrap(), Some(&file[900..1000]));
        assert!(pieces.get(5, 1).is_err(), "reading back is refused");
        let mut skipping = Pieces::new(file.as_slice(), file.len(), 16);
        assert_eq!(skipping.get(990, 4).unwrap(), Some(&file[990..994]));
        assert_eq!(skipping.buffer.len(), 16, "skipped bytes need no room");
        assert_eq!(pieces.get(1000, 1).unwrap(), None);
    }
}
