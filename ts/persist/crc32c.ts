/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the session file's
 * header and records (docs/persistence-format.md). Slicing by 8 over eight 256-entry tables,
 * reading 32-bit words through a DataView: a quarter faster than slicing by 4 over single
 * bytes on the 278 MB file of 10^6 sessions (~190 against ~250 ms).
 */
const TABLES = makeTables()

function makeTables(): Int32Array {
  const tables = new Int32Array(256 * 8)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]
    for (let t = 1; t < 8; t++) {
      c = tables[c & 0xff] ^ (c >>> 8)
      tables[t * 256 + n] = c
    }
  }
  return tables
}

/** A Buffer or Uint8Array (their typings do not meet in this @types/node). */
interface Bytes extends ArrayLike<number> {
  readonly buffer: ArrayBufferLike
  readonly byteOffset: number
  readonly byteLength: number
}

/**
 * The CRC-32C of `bytes[start, end)`, as an unsigned 32-bit number. `view`, a DataView of the
 * same bytes, saves making one per call in a loop over many records.
 */
export function crc32c(
  bytes: Bytes, start = 0, end = bytes.length, view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
): number {
  const t = TABLES
  let crc = -1
  let index = start
  for (; index + 8 <= end; index += 8) {
    const low = crc ^ view.getInt32(index, true)
    const high = view.getInt32(index + 4, true)
    crc = t[1792 + (low & 0xff)] ^ t[1536 + ((low >>> 8) & 0xff)] ^ t[1280 + ((low >>> 16) & 0xff)] ^ t[1024 + (low >>> 24)] ^
      t[768 + (high & 0xff)] ^ t[512 + ((high >>> 8) & 0xff)] ^ t[256 + ((high >>> 16) & 0xff)] ^ t[high >>> 24]
  }
  for (; index < end; index++) crc = t[(crc ^ bytes[index]) & 0xff] ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
