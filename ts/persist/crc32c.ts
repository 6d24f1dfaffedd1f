/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the session file's
 * header and records (docs/persistence-format.md). Slicing by 4 over eight 256-entry tables.
 */
const TABLES = makeTables()

function makeTables(): Int32Array {
  const tables = new Int32Array(256 * 4)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]
    for (let t = 1; t < 4; t++) {
      c = tables[c & 0xff] ^ (c >>> 8)
      tables[t * 256 + n] = c
    }
  }
  return tables
}

/** The CRC-32C of `bytes[start, end)`, as an unsigned 32-bit number. */
export function crc32c(bytes: ArrayLike<number>, start = 0, end = bytes.length): number {
  const t = TABLES
  let crc = -1
  let index = start
  for (; index + 4 <= end; index += 4) {
    crc ^= bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24)
    crc = t[768 + (crc & 0xff)] ^ t[512 + ((crc >>> 8) & 0xff)] ^ t[256 + ((crc >>> 16) & 0xff)] ^ t[crc >>> 24]
  }
  for (; index < end; index++) crc = t[(crc ^ bytes[index]) & 0xff] ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
