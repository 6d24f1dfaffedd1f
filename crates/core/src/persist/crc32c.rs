//! CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of the session file's
//! header and records. A load checks every byte of the file, so the x86-64 instruction made for
//! this polynomial (SSE 4.2's `crc32`) is used where the CPU has it: 10 ms for 278 MB of ~278-byte
//! records against 105 ms table-driven (a probe outside the repository, AMD EPYC, 2026-12-04),
//! most of a native load's checking of 10^6 sessions. Elsewhere, and where the CPU lacks it, the
//! table-driven form, slicing by 8 (eight bytes a step take about half the time of four), with
//! tables built at compile time. The two agree with the bit-by-bit definition at every length
//! and alignment (the tests below). The crate denies unsafe code; the one call that needs it
//! (an instruction the CPU was just found to have) is allowed where it is made.

const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][n] = c;
        n += 1;
    }
    let mut n = 0;
    while n < 256 {
        let mut c = t[0][n];
        let mut s = 1;
        while s < 8 {
            c = t[0][(c & 0xFF) as usize] ^ (c >> 8);
            t[s][n] = c;
            s += 1;
        }
        n += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = tables();

/// The CRC-32C of `bytes`.
///
/// ```
/// assert_eq!(sessionkeeper_core::persist::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(bytes: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        // The detection is cached by std after its first call: one relaxed load.
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU was just found to have SSE 4.2, all that `by_instruction` needs.
            #[allow(unsafe_code)]
            return unsafe { by_instruction(bytes) };
        }
    }
    by_tables(bytes)
}

/// CRC-32C by SSE 4.2's `crc32`, eight bytes an instruction. One dependent chain: at ~278-byte
/// records, interleaving three chains (and combining them) would save little over 10 ms a GB.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn by_instruction(bytes: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = u64::from(!0u32);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        crc = _mm_crc32_u64(crc, u64::from_le_bytes(word));
    }
    // The instruction leaves the CRC in the low 32 bits.
    let mut crc = crc as u32;
    for &byte in chunks.remainder() {
        crc = _mm_crc32_u8(crc, byte);
    }
    !crc
}

/// CRC-32C by the tables, for any CPU.
fn by_tables(bytes: &[u8]) -> u32 {
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &TABLES;
    let mut crc = !0u32;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let low = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ crc;
        let high = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        crc = t7[(low & 0xFF) as usize]
            ^ t6[((low >> 8) & 0xFF) as usize]
            ^ t5[((low >> 16) & 0xFF) as usize]
            ^ t4[(low >> 24) as usize]
            ^ t3[(high & 0xFF) as usize]
            ^ t2[((high >> 8) & 0xFF) as usize]
            ^ t1[((high >> 16) & 0xFF) as usize]
            ^ t0[(high >> 24) as usize];
    }
    for &byte in chunks.remainder() {
        crc = t0[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "x86_64")]
    use super::by_instruction;
    use super::{by_tables, crc32c};

    /// Bit by bit, from the polynomial: what the tables must agree with at every length.
    fn reference(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn every_length_and_alignment_matches_the_bitwise_definition() {
        let bytes: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        #[cfg(target_arch = "x86_64")]
        let instruction = std::arch::is_x86_feature_detected!("sse4.2");
        for start in 0..9 {
            for end in start..=bytes.len() {
                let expected = reference(&bytes[start..end]);
                assert_eq!(crc32c(&bytes[start..end]), expected, "{start}..{end}");
                assert_eq!(by_tables(&bytes[start..end]), expected, "{start}..{end}");
                #[cfg(target_arch = "x86_64")]
                if instruction {
                    // SAFETY: SSE 4.2 was detected above.
                    #[allow(unsafe_code)]
                    let by_instruction = unsafe { by_instruction(&bytes[start..end]) };
                    assert_eq!(by_instruction, expected, "{start}..{end}");
                }
            }
        }
    }
}
