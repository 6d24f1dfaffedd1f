//! CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of the session file's
//! header and records. Table-driven, slicing by 4; the tables are built at compile time.

const fn tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
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
        while s < 4 {
            c = t[0][(c & 0xFF) as usize] ^ (c >> 8);
            t[s][n] = c;
            s += 1;
        }
        n += 1;
    }
    t
}

static TABLES: [[u32; 256]; 4] = tables();

/// The CRC-32C of `bytes`.
///
/// ```
/// assert_eq!(sessionkeeper_core::persist::crc32c(b"123456789"), 0xE306_9283);
/// ```
pub fn crc32c(bytes: &[u8]) -> u32 {
    let [t0, t1, t2, t3] = &TABLES;
    let mut crc = !0u32;
    let mut chunks = bytes.chunks_exact(4);
    for chunk in &mut chunks {
        let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ crc;
        crc = t3[(word & 0xFF) as usize]
            ^ t2[((word >> 8) & 0xFF) as usize]
            ^ t1[((word >> 16) & 0xFF) as usize]
            ^ t0[(word >> 24) as usize];
    }
    for &byte in chunks.remainder() {
        crc = t0[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}
