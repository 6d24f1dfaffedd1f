/**
 * The session file, version 1 (docs/persistence-format.md is the specification): a 32-byte
 * header, then framed records. Both engines write and read it through this module.
 */
import { Buffer } from 'node:buffer'
import { type RecordCipher, SEAL_OVERHEAD } from './cipher'
import { crc32c } from './crc32c'

/** Node's unchecked Buffer methods (the checked ones cost more than the copy for short strings). */
interface RawBuffer extends Buffer {
  utf8Write(text: string, offset: number): number
  utf8Slice(start: number, end: number): string
}

/** Strings up to this many units are copied in JavaScript when ASCII (see writeString). */
const ASCII_COPY_MAX = 32

/**
 * Writes `value` as its u32 little-endian UTF-8 byte length and its UTF-8 bytes at `at` (the
 * caller made room for 4 + 3 units per UTF-16 unit); returns the end. A short ASCII string is
 * copied unit by unit: a native utf8Write per string cost about twice as much for the ids, keys
 * and small values that make most of a record (about 25 against 50 ns a string), while longer
 * or non-ASCII ones still go through it.
 */
export function writeString(buffer: Buffer, value: string, at: number): number {
  const length = value.length
  const start = at + 4
  let written = -1
  if (length <= ASCII_COPY_MAX) {
    let index = 0
    while (index < length) {
      const code = value.charCodeAt(index)
      if (code >= 0x80) break
      buffer[start + index] = code
      index++
    }
    if (index === length) written = length
  }
  if (written < 0) written = (buffer as RawBuffer).utf8Write(value, start)
  buffer[at] = written
  buffer[at + 1] = written >>> 8
  buffer[at + 2] = written >>> 16
  buffer[at + 3] = written >>> 24
  return start + written
}

export const MAGIC = Buffer.from([0x89, 0x53, 0x4b, 0x44, 0x42, 0x0d, 0x0a, 0x1a]) // \x89SKDB\r\n\x1a
export const VERSION = 1
export const HEADER_BYTES = 32
/** len, ~len, crc32c(body). */
export const FRAME_BYTES = 12
/** The shortest body a Session record can have: kind, a 1-byte id, four times, no user, roles or data. */
const MIN_SESSION_BODY = 1 + 5 + 32 + 1 + 4 + 4
/** A body longer than this is a corrupt length, not a record. */
export const MAX_BODY_BYTES = 2 ** 30

export const enum Kind {
  Session = 1,
  Remove = 2,
  SetData = 3,
  DeleteData = 4,
  User = 5,
  Roles = 6,
  Rename = 7,
  Timeouts = 8,
  Renew = 9,
}

/** What the header pins: a file is only loaded by a manager configured the same way. */
export interface FileConfig {
  keys: 'random' | 'caller'
  idEncoding: 'base64url' | 'hex'
  idBytes: number
}

/** Header flag: a snapshot saved by close(), with exact last activities and no journal after it. */
export const FLAG_CLEAN = 1
/** Header flag: every record body is sealed (AES-256-GCM, ts/persist/cipher.ts). */
export const FLAG_ENCRYPTED = 2

/** Whether `bytes` (a file's first `length` bytes, at least its header's first 14) start as a sealed file's header does. */
export function isSealed(bytes: ArrayLike<number>, length = bytes.length): boolean {
  return length > 13 && bytes[0] === MAGIC[0] && (bytes[13] & FLAG_ENCRYPTED) !== 0
}

export function encodeHeader(config: FileConfig, writtenAt: number, flags: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  header.set(MAGIC, 0)
  header.writeUInt16LE(VERSION, 8)
  header[10] = config.keys === 'random' ? 0 : 1
  header[11] = config.idEncoding === 'base64url' ? 0 : 1
  header[12] = config.idBytes
  header[13] = flags
  header.writeDoubleLE(Number.isFinite(writtenAt) ? writtenAt : 0, 16)
  header.writeUInt32LE(crc32c(header, 0, 28), 28)
  return header
}

/** A session as a Session record (and the loader) holds it. */
export interface SavedSession {
  id: string
  createdAt: number
  lastActivity: number
  idleTimeout: number
  absoluteTimeout: number
  user: string | undefined
  roles: string[]
  /** key, value, key, value... in insertion order. */
  data: string[]
}

/**
 * The first record of every encrypted file a snapshot or a compaction writes: a Remove of the
 * empty id, which names no session (replay ignores it, in this release and the ones before), so
 * that a file with no session still tells a wrong key at load. Without it, an encrypted file
 * left empty by close() opened under any key, whose journal then sealed under that key what the
 * right key could not open.
 */
export function keyCheckRecord(cipher: RecordCipher): Uint8Array {
  const writer = new RecordWriter(128, cipher)
  writer.begin(Kind.Remove).str('').end()
  return new Uint8Array(writer.buffer.buffer, writer.buffer.byteOffset, writer.length)
}

/**
 * Appends framed records to a growable buffer. `begin(kind)` opens a record, the field writers
 * fill it, `end()` frames it.
 */
export class RecordWriter {
  buffer: Buffer
  length = 0
  #recordStart = -1
  /** A view of `buffer` for the checksum, made when the buffer changes rather than per record. */
  #view: DataView | undefined

  constructor(capacity = 64 * 1024, readonly cipher?: RecordCipher) {
    this.buffer = Buffer.allocUnsafe(capacity)
  }

  begin(kind: Kind): this {
    this.#recordStart = this.length
    this.#reserve(FRAME_BYTES + 1)
    this.length += FRAME_BYTES
    this.buffer[this.length++] = kind
    return this
  }

  end(): void {
    const start = this.#recordStart
    const bodyStart = start + FRAME_BYTES
    if (this.cipher !== undefined) {
      const sealed = this.cipher.seal(new Uint8Array(this.buffer.buffer, this.buffer.byteOffset + bodyStart, this.length - bodyStart))
      this.length = bodyStart
      this.#reserve(sealed.length)
      this.buffer.set(sealed, bodyStart)
      this.length = bodyStart + sealed.length
    }
    const bodyLength = this.length - bodyStart
    const buffer = this.buffer
    buffer.writeUInt32LE(bodyLength, start)
    buffer.writeUInt32LE(~bodyLength >>> 0, start + 4)
    buffer.writeUInt32LE(crc32c(buffer, bodyStart, this.length, this.#viewOf(buffer)), start + 8)
    this.#recordStart = -1
  }

  u8(value: number): this {
    this.#reserve(1)
    this.buffer[this.length++] = value
    return this
  }

  u32(value: number): this {
    this.#reserve(4)
    this.buffer.writeUInt32LE(value, this.length)
    this.length += 4
    return this
  }

  f64(value: number): this {
    this.#reserve(8)
    this.buffer.writeDoubleLE(value, this.length)
    this.length += 8
    return this
  }

  str(value: string): this {
    this.#reserve(4 + value.length * 3)
    this.length = writeString(this.buffer, value, this.length)
    return this
  }

  strings(values: readonly string[]): this {
    this.u32(values.length)
    for (const value of values) this.str(value)
    return this
  }

  /**
   * A Session record: the journal writes one per create, so its fields are written straight
   * into room made once for the whole record (at most 3 bytes per UTF-16 unit), not each
   * through a writer call that makes room for itself (a third less time per record).
   */
  session(s: SavedSession): void {
    const { id, user, roles, data } = s
    this.#recordStart = this.length
    this.#reserve(sessionRecordBound(s))
    const buffer = this.buffer
    const view = this.#viewOf(buffer)
    let at = this.length + FRAME_BYTES
    buffer[at++] = Kind.Session
    at = writeString(buffer, id, at)
    view.setFloat64(at, s.createdAt, true)
    view.setFloat64(at + 8, s.lastActivity, true)
    view.setFloat64(at + 16, s.idleTimeout, true)
    view.setFloat64(at + 24, s.absoluteTimeout, true)
    at += 32
    if (user === undefined) {
      buffer[at++] = 0
    } else {
      buffer[at++] = 1
      at = writeString(buffer, user, at)
    }
    view.setUint32(at, roles.length, true)
    at += 4
    for (let index = 0; index < roles.length; index++) at = writeString(buffer, roles[index], at)
    view.setUint32(at, data.length / 2, true)
    at += 4
    for (let index = 0; index < data.length; index++) at = writeString(buffer, data[index], at)
    this.length = at
    this.end()
  }

  /** A DataView of `buffer` (the writer's), made when the buffer changes rather than per record. */
  #viewOf(buffer: Buffer): DataView {
    let view = this.#view
    if (view === undefined || view.buffer !== buffer.buffer || view.byteOffset !== buffer.byteOffset || view.byteLength !== buffer.byteLength) {
      view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      this.#view = view
    }
    return view
  }

  /** Makes room for `bytes` more after those written (the buffer may be replaced). */
  ensure(bytes: number): void {
    this.#reserve(bytes)
  }

  /** Takes the bytes written so far, leaving the writer empty (and ready to reuse `spare`). */
  take(spare?: Buffer): Buffer {
    const taken = this.buffer.subarray(0, this.length)
    this.buffer = spare ?? Buffer.allocUnsafe(this.buffer.length)
    this.length = 0
    return taken
  }

  clear(): void {
    this.length = 0
  }

  #reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes))
    grown.set(this.buffer.subarray(0, this.length), 0)
    this.buffer = grown
  }
}

/**
 * At least the bytes of the Session record of `s`, frame included: 3 bytes per UTF-16 unit (a
 * lone surrogate's replacement), which a pair's 4 bytes for 2 units never exceed.
 */
export function sessionRecordBound(s: SavedSession): number {
  let bytes = FRAME_BYTES + 1 + 4 + 3 * s.id.length + 32 + 1 + 4 + 4
  if (s.user !== undefined) bytes += 4 + 3 * s.user.length
  for (let index = 0; index < s.roles.length; index++) bytes += 4 + 3 * s.roles[index].length
  for (let index = 0; index < s.data.length; index++) bytes += 4 + 3 * s.data[index].length
  return bytes
}

/** Why a file cannot be loaded as it is. */
export type Damage =
  | { kind: 'not-ours'; offset: number; why: string }
  | { kind: 'mismatch'; why: string }
  | { kind: 'corrupt'; offset: number; why: string }

/** What parsing a whole file gives. */
export interface Parsed {
  sessions: Map<string, SavedSession>
  /** Offset of a torn final record dropped (the file is good up to there), else undefined. */
  tornAt: number | undefined
  /** Bytes of intact records, header included. */
  goodBytes: number
  /** Intact records. */
  records: number
  /** The time the header says the file was written. */
  writtenAt: number
  /** Saved by close() and not appended to since: last activities are exact. */
  clean: boolean
  /** Record bodies are sealed (FLAG_ENCRYPTED). */
  encrypted: boolean
}

export class ParseError extends Error {
  constructor(readonly damage: Damage) {
    super(damage.why)
  }
}

/**
 * Parses a whole file and replays its records into the sessions they leave. Throws ParseError
 * for a file that is not ours, configured differently, or corrupt before its final record; a
 * final record that is incomplete, or complete with a bad checksum, is a torn tail: dropped.
 */
export function parseFile(bytes: Buffer, config: FileConfig, cipher?: RecordCipher): Parsed {
  const sessions = new Map<string, SavedSession>()
  const walked = walkRecords(bytes, config, cipher, (reader) => apply(sessions, reader))
  return { sessions, ...walked, clean: walked.clean && walked.tornAt === undefined }
}

/** What walking a whole file gives (`Parsed` without the sessions). */
export type Walked = Omit<Parsed, 'sessions'>

/**
 * Checks the header, then passes each intact record, opened when sealed, to `apply` in file
 * order with its offset. `clean` is the header's flag. Throws ParseError as parseFile does, and for whatever
 * `apply` throws (a DecodeError or RangeError: corrupt at the record's offset).
 */
export function walkRecords(bytes: Buffer, config: FileConfig, cipher: RecordCipher | undefined, apply: (reader: Reader, offset: number) => void): Walked {
  const encrypted = checkHeader(bytes, config, cipher !== undefined)
  let offset = HEADER_BYTES
  let records = 0
  const end = bytes.length
  const walked = (tornAt: number | undefined): Walked => ({
    tornAt, goodBytes: tornAt ?? offset, records, writtenAt: bytes.readDoubleLE(16), clean: (bytes[13] & FLAG_CLEAN) !== 0, encrypted,
  })
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const reader = new Reader(bytes, 0, 0, view)
  while (offset < end) {
    if (end - offset < FRAME_BYTES) return walked(offset)
    const length = view.getUint32(offset, true)
    const check = view.getUint32(offset + 4, true)
    if ((~length >>> 0) !== check || length === 0 || length > MAX_BODY_BYTES) {
      if (allZero(bytes, offset, end)) return walked(offset)
      throw new ParseError({ kind: 'corrupt', offset, why: 'bad record length' })
    }
    const bodyStart = offset + FRAME_BYTES
    const bodyEnd = bodyStart + length
    if (bodyEnd > end) return walked(offset)
    if (crc32c(bytes, bodyStart, bodyEnd, view) !== view.getUint32(offset + 8, true)) {
      if (bodyEnd === end || allZero(bytes, bodyStart, end)) return walked(offset)
      throw new ParseError({ kind: 'corrupt', offset, why: 'bad record checksum' })
    }
    let body = reader
    if (encrypted) {
      const sealed = new Uint8Array(bytes.buffer, bytes.byteOffset + bodyStart, length)
      const plain = cipher!.open(sealed)
      if (typeof plain === 'string') {
        // A record whose checksum holds was written as it is: a key id not among the keys is
        // no damage but a key missing from persist.key. Never moved aside for it (onCorrupt).
        const keyId = sealed.length >= SEAL_OVERHEAD ? view.getUint32(bodyStart, true) : undefined
        if (keyId !== undefined && !cipher!.hasKey(keyId)) throw new ParseError({ kind: 'mismatch', why: `the record at offset ${offset} is ${plain}` })
        throw new ParseError({ kind: 'corrupt', offset, why: plain })
      }
      const opened = Buffer.from(plain.buffer, plain.byteOffset, plain.length)
      body = new Reader(opened, 0, opened.length)
    } else {
      reader.offset = bodyStart
      reader.end = bodyEnd
    }
    try {
      apply(body, offset)
    } catch (error) {
      const why = error instanceof RangeError || error instanceof DecodeError ? error.message : String(error)
      throw new ParseError({ kind: 'corrupt', offset, why: `bad record: ${why}` })
    }
    offset = bodyEnd
    records++
  }
  return walked(undefined)
}

/**
 * Records in the file, counted from the frames alone (no checksum), Session records only when
 * the kinds are in the clear: an upper bound of the sessions a load restores, to size the
 * tables once. Stops at the first bad frame.
 */
export function countSessions(bytes: Buffer): number {
  const sealed = bytes.length >= HEADER_BYTES && (bytes[13] & FLAG_ENCRYPTED) !== 0
  let count = 0
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let offset = HEADER_BYTES; offset + FRAME_BYTES < bytes.length;) {
    const length = view.getUint32(offset, true)
    if ((~length >>> 0) !== view.getUint32(offset + 4, true) || length === 0) break
    // No shorter body holds a session (crates/core persist MIN_SESSION_BODY): a damaged or
    // crafted file cannot make the load reserve much more than its own size.
    if (length >= MIN_SESSION_BODY && (sealed || bytes[offset + FRAME_BYTES] === Kind.Session)) count++
    offset += FRAME_BYTES + length
  }
  return count
}

/** Checks the header; returns whether the file is encrypted. */
function checkHeader(bytes: Buffer, config: FileConfig, haveKey: boolean): boolean {
  let magicMatches = true
  for (let index = 0; index < Math.min(bytes.length, MAGIC.length); index++) if (bytes[index] !== MAGIC[index]) magicMatches = false
  if (bytes.length < HEADER_BYTES || !magicMatches) {
    const why = magicMatches
      ? `truncated header (${bytes.length} of ${HEADER_BYTES} bytes)`
      : 'not a sessionkeeper session file (wrong magic)'
    throw new ParseError({ kind: 'not-ours', offset: 0, why })
  }
  const version = bytes.readUInt16LE(8)
  if (crc32c(bytes, 0, 28) !== bytes.readUInt32LE(28)) {
    throw new ParseError({ kind: 'corrupt', offset: 0, why: 'bad header checksum' })
  }
  if (version !== VERSION) {
    throw new ParseError({ kind: 'not-ours', offset: 8, why: `unknown format version ${version} (this release reads ${VERSION})` })
  }
  if ((bytes[13] & ~(FLAG_CLEAN | FLAG_ENCRYPTED)) !== 0) throw new ParseError({ kind: 'not-ours', offset: 13, why: `unknown header flags ${bytes[13]}` })
  const encrypted = (bytes[13] & FLAG_ENCRYPTED) !== 0
  if (encrypted && !haveKey) throw new ParseError({ kind: 'mismatch', why: 'the file is encrypted: pass its key in persist.key' })
  const keys = bytes[10] === 0 ? 'random' : bytes[10] === 1 ? 'caller' : undefined
  const idEncoding = bytes[11] === 0 ? 'base64url' : bytes[11] === 1 ? 'hex' : undefined
  const idBytes = bytes[12]
  if (keys === undefined || idEncoding === undefined) {
    throw new ParseError({ kind: 'corrupt', offset: 10, why: 'bad keys or idEncoding in the header' })
  }
  const differences: string[] = []
  if (keys !== config.keys) differences.push(`keys: '${keys}' (the manager has '${config.keys}')`)
  if (keys === 'random' && config.keys === 'random') {
    if (idEncoding !== config.idEncoding) differences.push(`idEncoding: '${idEncoding}' (the manager has '${config.idEncoding}')`)
    if (idBytes !== config.idBytes) differences.push(`idBytes: ${idBytes} (the manager has ${config.idBytes})`)
  }
  if (differences.length > 0) {
    throw new ParseError({ kind: 'mismatch', why: `the file was written with ${differences.join(', ')}` })
  }
  return encrypted
}

function allZero(bytes: Buffer, start: number, end: number): boolean {
  for (let index = start; index < end; index++) if (bytes[index] !== 0) return false
  return true
}

/** A record that does not decode: corruption at its offset. */
export class DecodeError extends Error {}

/** Reads one record body's fields; each read checks the bounds (a short body is corruption). */
export class Reader {
  /**
   * The same bytes. A DataView's getters compile to one load each, where Buffer's readDoubleLE
   * and readUInt32LE read byte by byte: a load reads about ten numbers per session.
   */
  readonly view: DataView

  constructor(readonly bytes: Buffer, public offset: number, public end: number, view?: DataView) {
    this.view = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  u8(): number {
    if (this.offset + 1 > this.end) throw new DecodeError('record too short')
    return this.bytes[this.offset++]
  }

  u32(): number {
    if (this.offset + 4 > this.end) throw new DecodeError('record too short')
    const value = this.view.getUint32(this.offset, true)
    this.offset += 4
    return value
  }

  f64(): number {
    if (this.offset + 8 > this.end) throw new DecodeError('record too short')
    const value = this.view.getFloat64(this.offset, true)
    this.offset += 8
    return value
  }

  str(): string {
    const length = this.u32()
    if (this.offset + length > this.end) throw new DecodeError('record too short')
    const value = (this.bytes as RawBuffer).utf8Slice(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  /**
   * Steps over `count` strings, checking their bounds only, as `count` str() calls would: a
   * load steps over every string of each Session record (~10), so the lengths are read here
   * from the bytes rather than through a call each.
   */
  skipStrings(count: number): void {
    const bytes = this.bytes
    const end = this.end
    let at = this.offset
    for (let index = 0; index < count; index++) {
      if (at + 4 > end) throw new DecodeError('record too short')
      const length = (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0
      at += 4
      if (at + length > end) throw new DecodeError('record too short')
      at += length
    }
    this.offset = at
  }

  /** A count of items that follow, each at least a byte. */
  count(): number {
    const count = this.u32()
    if (count > this.end - this.offset) throw new DecodeError('bad count')
    return count
  }

  /** A user flag (0 or 1) and, with 1, the user. */
  user(): string | undefined {
    const hasUser = this.u8()
    if (hasUser > 1) throw new DecodeError('bad user flag')
    return hasUser === 1 ? this.str() : undefined
  }

  strings(): string[] {
    const count = this.u32()
    if (count > this.end - this.offset) throw new DecodeError('bad count')
    const values = new Array<string>(count)
    for (let index = 0; index < count; index++) values[index] = this.str()
    return values
  }

  timeout(): number {
    const value = this.f64()
    if (!(Number.isSafeInteger(value) && value >= 0)) throw new DecodeError(`bad timeout ${value}`)
    return value
  }

  time(): number {
    const value = this.f64()
    if (!Number.isFinite(value)) throw new DecodeError(`bad time ${value}`)
    return value
  }

  done(): void {
    if (this.offset !== this.end) throw new DecodeError('trailing bytes in a record')
  }
}

function apply(sessions: Map<string, SavedSession>, r: Reader): void {
  const kind = r.u8()
  switch (kind) {
    case Kind.Session: {
      const id = r.str()
      const createdAt = r.time()
      const lastActivity = r.time()
      const idleTimeout = r.timeout()
      const absoluteTimeout = r.timeout()
      const hasUser = r.u8()
      if (hasUser > 1) throw new DecodeError('bad user flag')
      const user = hasUser === 1 ? r.str() : undefined
      const roles = r.strings()
      const pairs = r.u32()
      if (pairs > r.end - r.offset) throw new DecodeError('bad count')
      const data = new Array<string>(pairs * 2)
      for (let index = 0; index < pairs * 2; index++) data[index] = r.str()
      r.done()
      sessions.delete(id) // a re-created key goes to the end, as a new session would
      sessions.set(id, { id, createdAt, lastActivity, idleTimeout, absoluteTimeout, user, roles, data })
      return
    }
    case Kind.Remove: {
      const id = r.str()
      r.done()
      sessions.delete(id)
      return
    }
    case Kind.SetData: {
      const id = r.str()
      const pairs = r.u32()
      if (pairs > r.end - r.offset) throw new DecodeError('bad count')
      const entries: string[] = []
      for (let index = 0; index < pairs * 2; index++) entries.push(r.str())
      r.done()
      const s = sessions.get(id)
      if (s !== undefined) for (let index = 0; index < entries.length; index += 2) setData(s.data, entries[index], entries[index + 1])
      return
    }
    case Kind.DeleteData: {
      const id = r.str()
      const key = r.str()
      r.done()
      const s = sessions.get(id)
      if (s === undefined) return
      const at = keyIndex(s.data, key)
      if (at >= 0) s.data.splice(at, 2)
      return
    }
    case Kind.User: {
      const id = r.str()
      const hasUser = r.u8()
      if (hasUser > 1) throw new DecodeError('bad user flag')
      const user = hasUser === 1 ? r.str() : undefined
      r.done()
      const s = sessions.get(id)
      if (s !== undefined) s.user = user
      return
    }
    case Kind.Roles: {
      const id = r.str()
      const roles = r.strings()
      r.done()
      const s = sessions.get(id)
      if (s !== undefined) s.roles = roles
      return
    }
    case Kind.Rename: {
      const oldId = r.str()
      const newId = r.str()
      const lastActivity = r.time()
      r.done()
      const s = sessions.get(oldId)
      if (s === undefined) return
      sessions.delete(oldId)
      sessions.delete(newId)
      s.id = newId
      s.lastActivity = lastActivity
      sessions.set(newId, s)
      return
    }
    case Kind.Timeouts: {
      const id = r.str()
      const idleTimeout = r.timeout()
      const absoluteTimeout = r.timeout()
      r.done()
      const s = sessions.get(id)
      if (s === undefined) return
      s.idleTimeout = idleTimeout
      s.absoluteTimeout = absoluteTimeout
      return
    }
    case Kind.Renew: {
      const id = r.str()
      const lastActivity = r.time()
      r.done()
      const s = sessions.get(id)
      if (s !== undefined && lastActivity > s.lastActivity) s.lastActivity = lastActivity
      return
    }
    default:
      throw new DecodeError(`unknown record kind ${kind}`)
  }
}

function keyIndex(data: string[], key: string): number {
  for (let index = 0; index < data.length; index += 2) if (data[index] === key) return index
  return -1
}

/** Replacing a key keeps its place; a new key goes to the end (the engines' insertion order). */
function setData(data: string[], key: string, value: string): void {
  const at = keyIndex(data, key)
  if (at >= 0) data[at + 1] = value
  else data.push(key, value)
}
