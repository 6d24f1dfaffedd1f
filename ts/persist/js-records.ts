/**
 * Session records of the JsEngine's sessions written straight from its storage into a buffer,
 * as RecordWriter.session(exportSession(...)) writes them, byte for byte (a spec checks it), but
 * without the five objects that path makes per session (its key list, data list, roles copy, id
 * string and record). A compaction of 10^6 sessions made about 30 young-generation collections
 * of the JsEngine's large heap that way, each blocking the event loop for 3-7 ms; the native
 * engine encodes in Rust (sessionRecordsInto). Unsealed records only: a cipher seals each body
 * through RecordWriter.
 */
import { Buffer } from 'node:buffer'
import type { JsEngine } from '../js-engine/engine'
import type { SessionData } from '../js-engine/session-data'
import { crc32c } from './crc32c'
import { FRAME_BYTES, Kind, writeString } from './format'

/**
 * Appends a Session record for each of the first `count` handles (attached sessions) to `out`
 * from byte `at`: returns the end, or -1 when they do not all fit (what was written past `at`
 * then counts for nothing). Room is reckoned at 3 bytes per UTF-16 unit of each string, so a
 * batch that would just fit may be refused: the caller then encodes it on its own.
 */
export function jsSessionRecordsInto(engine: JsEngine, handles: Float64Array, count: number, out: Uint8Array, at: number): number {
  // A view per batch, not cached: a cache would keep the last compaction's 4 MiB alive.
  const buffer = Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  const end = out.length
  const writer = new EntryWriter(buffer, end)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  for (let index = 0; index < count; index++) {
    const handle = handles[index]
    const start = at
    const body = start + FRAME_BYTES
    if (body + 1 + 4 > end) return -1
    buffer[body] = Kind.Session
    let position = engine.writeId(handle, buffer, body + 5, end)
    if (position < 0) return -1
    buffer.writeUInt32LE(position - body - 5, body + 1)
    if (position + 33 > end) return -1
    buffer.writeDoubleLE(engine.createdAt(handle), position)
    buffer.writeDoubleLE(engine.lastActivity(handle), position + 8)
    buffer.writeDoubleLE(engine.idleTimeout(handle), position + 16)
    buffer.writeDoubleLE(engine.absoluteTimeout(handle), position + 24)
    position += 32
    // A restored session whose side record is still as the file held it: those bytes again.
    const packedEnd = engine.writePackedSide(handle, buffer, position, end)
    if (packedEnd === -1) return -1
    writer.at = packedEnd
    if (packedEnd === -2) {
      writer.at = position
      if (!writer.side(engine.sideRecord(handle))) return -1
    }
    at = writer.at
    const length = at - body
    buffer.writeUInt32LE(length, start)
    buffer.writeUInt32LE(~length >>> 0, start + 4)
    buffer.writeUInt32LE(crc32c(buffer, body, at, view), start + 8)
  }
  return at
}

/** Length-prefixed strings into the buffer; `entry` is Map.forEach's callback, made once. */
class EntryWriter {
  at = 0
  full = false

  constructor(private readonly buffer: Buffer, private readonly end: number) {}

  u32(value: number): boolean {
    if (this.at + 4 > this.end) return false
    this.buffer.writeUInt32LE(value, this.at)
    this.at += 4
    return true
  }

  str(value: string): boolean {
    if (this.at + 4 + value.length * 3 > this.end) return false
    this.at = writeString(this.buffer, value, this.at)
    return true
  }

  /**
   * User, roles and data of a session's side record (none for undefined; a bare array is data
   * alone, key, value, key...); false when they do not fit.
   */
  side(side: SessionData | string[] | undefined): boolean {
    if (Array.isArray(side)) {
      if (!this.u8(0) || !this.u32(0) || !this.u32(side.length >> 1)) return false
      for (let at = 0; at < side.length; at++) if (!this.str(side[at])) return false
      return true
    }
    if (side === undefined || side.user === undefined) {
      if (!this.u8(0)) return false
    } else if (!this.u8(1) || !this.str(side.user)) {
      return false
    }
    const roles = side === undefined ? undefined : side.roles
    if (!this.u32(roles === undefined ? 0 : roles.length)) return false
    if (roles !== undefined) {
      for (let role = 0; role < roles.length; role++) if (!this.str(roles[role])) return false
    }
    if (!this.u32(side === undefined ? 0 : side.size)) return false
    if (side !== undefined && side.size > 0) {
      side.forEach(this.entry)
      if (this.full) return false
    }
    return true
  }

  u8(value: number): boolean {
    if (this.at + 1 > this.end) return false
    this.buffer[this.at++] = value
    return true
  }

  readonly entry = (value: string, key: string): void => {
    if (this.full) return
    if (!this.str(key) || !this.str(value)) this.full = true
  }
}
