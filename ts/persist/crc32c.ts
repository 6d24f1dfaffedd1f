/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the session file's
 * header and records (docs/persistence-format.md). Slicing by 16 over sixteen 256-entry tables
 * (16 KiB), reading 32-bit words through a DataView. On record-sized pieces (~280 bytes, as a
 * load checks them) it took 40 ms per 64 MiB against 55 for slicing by 8, itself a quarter
 * faster than slicing by 4 over single bytes.
 */
const TABLES = makeTables()

function makeTables(): Int32Array {
  const tables = new Int32Array(256 * 16)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    tables[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]
    for (let t = 1; t < 16; t++) {
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
  for (; index + 16 <= end; index += 16) {
    const first = crc ^ view.getInt32(index, true)
    const second = view.getInt32(index + 4, true)
    const third = view.getInt32(index + 8, true)
    const fourth = view.getInt32(index + 12, true)
    crc = t[3840 + (first & 0xff)] ^ t[3584 + ((first >>> 8) & 0xff)] ^ t[3328 + ((first >>> 16) & 0xff)] ^ t[3072 + (first >>> 24)] ^
      t[2816 + (second & 0xff)] ^ t[2560 + ((second >>> 8) & 0xff)] ^ t[2304 + ((second >>> 16) & 0xff)] ^ t[2048 + (second >>> 24)] ^
      t[1792 + (third & 0xff)] ^ t[1536 + ((third >>> 8) & 0xff)] ^ t[1280 + ((third >>> 16) & 0xff)] ^ t[1024 + (third >>> 24)] ^
      t[768 + (fourth & 0xff)] ^ t[512 + ((fourth >>> 8) & 0xff)] ^ t[256 + ((fourth >>> 16) & 0xff)] ^ t[fourth >>> 24]
  }
  for (; index < end; index++) crc = t[(crc ^ bytes[index]) & 0xff] ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
