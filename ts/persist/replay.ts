/**
 * Loading a session file straight into a JsEngine: each record is replayed on the engine as it
 * is read, with no table of parsed sessions in between (crates/core/src/persist/loader.rs does
 * the same for the native engine, step for step). format.ts `parseFile` keeps the other way,
 * the sessions a file leaves in a Map of their own: the tests hold one against the other.
 */
import type { Buffer } from 'node:buffer'
import { CREATE_KEY_EXISTS, type Engine, RESTORE_INVALID_ID } from '../engine'
import type { RecordCipher } from './cipher'
import { countSessions, DecodeError, FLAG_CLEAN, FLAG_ENCRYPTED, type FileConfig, FRAME_BYTES, Kind, type Reader, walkRecords, type Walked } from './format'

/** What an engine offers the loader besides the Engine interface (the JsEngine has it). */
export interface ReplayEngine extends Engine {
  /** Reads where the ids spelt from `starts[0..count)` of `text` would be indexed, so that their restores soon after are faster. */
  warmIds(text: Buffer, starts: Int32Array, count: number): void
  /** `restore` of the id spelt by `length` UTF-8 bytes at `start` of `text`. */
  restoreText(
    text: Buffer, start: number, length: number, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number,
  ): number
  loadSide(handle: number, user: string | undefined, roles: string[], data: string[], dataBytes: number): boolean
  loadRecord(handle: number, source: Buffer, start: number, end: number, dataBytes: number, shared: boolean): boolean
  endLoad(): void
  loadData(handle: number, entries: string[]): boolean
  capLoadedData(): void
  loadRename(handle: number, newId: string, lastActivity: number): boolean
  loadRenew(handle: number, lastActivity: number): void
}

export function canReplay(engine: Engine): engine is ReplayEngine {
  return typeof (engine as Partial<ReplayEngine>).loadSide === 'function'
}

/**
 * Replays the file into `engine` (empty), in file order, as the live engine made the changes:
 * a Session record restores the session (one holding the id is released first, so it comes
 * back in the slot it frees), Remove releases it, Rename moves it to the new id in its slot,
 * the other kinds change it in place; a record naming no attached session is ignored. Unless
 * the header is CLEAN, each last activity read moves on by `window` ms (not past `now`). Data
 * goes in whatever the cap says; the sessions over it are cut once at the end. Throws
 * ParseError as parseFile does, and corrupt at a record whose id is not an id of the engine;
 * the engine then holds part of the file: discard it.
 */
export function replayFile(
  bytes: Buffer, config: FileConfig, cipher: RecordCipher | undefined, engine: ReplayEngine, window: number, now: number,
): Walked & { users: number; cut: boolean } {
  const clean = bytes.length > 13 && (bytes[13] & FLAG_CLEAN) !== 0
  // A clean file is a snapshot, all live sessions: its bytes can be kept for the packed sessions
  // as they are (a journal's would keep its dead records alive with them). `bytes` is the
  // loader's own, never written to.
  const shared = clean && (bytes[13] & FLAG_ENCRYPTED) === 0
  const shift = clean ? 0 : window
  const shifted = (last: number): number => Math.max(last, Math.min(last + shift, now))
  let overCap = false
  // Records that gave a session a user: none lets the manager skip filing each session by user.
  let users = 0
  engine.reserve?.(countSessions(bytes))
  const find = (id: string): number => engine.lookup(id, -Infinity, false)
  // Sealed records are opened one at a time: no id ahead can be read.
  let warmedTo = (bytes[13] & FLAG_ENCRYPTED) === 0 ? 0 : Infinity
  const fileView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const walked = walkRecords(bytes, config, cipher, (r: Reader) => {
    if (r.end >= warmedTo) warmedTo = warmSessionIds(bytes, fileView, r.end, engine)
    const kind = r.u8()
    switch (kind) {
      case Kind.Session: {
        // The id stays bytes (made a string only to report or replace it): a load reads 10^6.
        const idLength = r.u32()
        const idAt = r.offset
        if (idAt + idLength > r.end) throw new DecodeError('record too short')
        r.offset += idLength
        const createdAt = r.time()
        const lastActivity = shifted(r.time())
        const idleTimeout = r.timeout()
        const absoluteTimeout = r.timeout()
        // The tail (user, roles, data) is checked here and decoded only when its keys repeat.
        const sideAt = r.offset
        const hasUser = r.u8()
        if (hasUser > 1) throw new DecodeError('bad user flag')
        r.skipStrings(hasUser)
        const roleCount = r.count()
        r.skipStrings(roleCount)
        const pairs = r.count()
        const before = r.offset
        r.skipStrings(pairs * 2)
        // Each string is its u32 length and its UTF-8 bytes: the data's bytes, known already.
        const dataBytes = r.offset - before - pairs * 8
        r.done()
        let handle = engine.restoreText(r.bytes, idAt, idLength, createdAt, lastActivity, idleTimeout, absoluteTimeout)
        if (handle === CREATE_KEY_EXISTS) {
          // The same session again (a compaction's snapshot and the records written meanwhile
          // overlap): it is replaced, in the slot it frees.
          engine.release(find(r.bytes.toString('utf8', idAt, idAt + idLength)))
          handle = engine.restoreText(r.bytes, idAt, idLength, createdAt, lastActivity, idleTimeout, absoluteTimeout)
        }
        if (handle === RESTORE_INVALID_ID) throw notAnId(r.bytes.toString('utf8', idAt, idAt + idLength))
        if (handle < 0) throw new DecodeError('the session table is full')
        users += hasUser
        if (hasUser === 1 || roleCount > 0 || pairs > 0) {
          if (distinctKeys(r.bytes, r.view, before, pairs)) {
            if (engine.loadRecord(handle, r.bytes, sideAt, r.end, dataBytes, shared)) overCap = true
          } else {
            r.offset = sideAt
            const user = r.user()
            const roles = r.strings()
            const data = new Array<string>(r.count() * 2)
            for (let index = 0; index < data.length; index++) data[index] = r.str()
            if (engine.loadSide(handle, user, roles, data, dataBytes)) overCap = true
          }
        }
        return
      }
      case Kind.Remove: {
        const id = r.str()
        r.done()
        const handle = find(id)
        if (handle >= 0) engine.release(handle)
        return
      }
      case Kind.SetData: {
        const id = r.str()
        const pairs = r.count()
        const entries = new Array<string>(pairs * 2)
        for (let index = 0; index < pairs * 2; index++) entries[index] = r.str()
        r.done()
        const handle = find(id)
        if (handle >= 0 && engine.loadData(handle, entries)) overCap = true
        return
      }
      case Kind.DeleteData: {
        const id = r.str()
        const key = r.str()
        r.done()
        const handle = find(id)
        if (handle >= 0) engine.deleteData(handle, key)
        return
      }
      case Kind.User: {
        const id = r.str()
        const user = r.user()
        r.done()
        const handle = find(id)
        if (handle >= 0) engine.setUser(handle, user)
        if (handle >= 0 && user !== undefined) users++
        return
      }
      case Kind.Roles: {
        const id = r.str()
        const roles = r.strings()
        r.done()
        const handle = find(id)
        if (handle >= 0) engine.setRoles(handle, roles)
        return
      }
      case Kind.Rename: {
        const oldId = r.str()
        const newId = r.str()
        const lastActivity = shifted(r.time())
        r.done()
        const handle = find(oldId)
        if (handle >= 0 && !engine.loadRename(handle, newId, lastActivity)) throw notAnId(newId)
        return
      }
      case Kind.Timeouts: {
        const id = r.str()
        const idleTimeout = r.timeout()
        const absoluteTimeout = r.timeout()
        r.done()
        const handle = find(id)
        if (handle >= 0) {
          engine.setIdleTimeout(handle, idleTimeout)
          engine.setAbsoluteTimeout(handle, absoluteTimeout)
        }
        return
      }
      case Kind.Renew: {
        const id = r.str()
        const lastActivity = shifted(r.time())
        r.done()
        const handle = find(id)
        if (handle >= 0) engine.loadRenew(handle, lastActivity)
        return
      }
      default:
        throw new DecodeError(`unknown record kind ${kind}`)
    }
  })
  engine.endLoad()
  if (overCap) engine.capLoadedData()
  return { ...walked, users, cut: overCap }
}

/** Most keys a Session record's tail is kept packed with (compared pairwise; more are decoded). */
const MAX_PACKED_KEYS = 32
const keyStarts = new Int32Array(MAX_PACKED_KEYS)
const keyLengths = new Int32Array(MAX_PACKED_KEYS)

/** Whether the `pairs` data keys from `at` (length-prefixed, each followed by its value) differ as bytes. */
function distinctKeys(bytes: Buffer, view: DataView, at: number, pairs: number): boolean {
  if (pairs > MAX_PACKED_KEYS) return false
  for (let index = 0; index < pairs; index++) {
    const length = view.getUint32(at, true)
    const start = at + 4
    for (let other = 0; other < index; other++) {
      if (keyLengths[other] !== length) continue
      const from = keyStarts[other]
      let same = 0
      while (same < length && bytes[start + same] === bytes[from + same]) same++
      if (same === length) return false
    }
    keyStarts[index] = start
    keyLengths[index] = length
    at = start + length
    at += 4 + view.getUint32(at, true)
  }
  return true
}

function notAnId(id: string): DecodeError {
  return new DecodeError(`the saved id ${JSON.stringify(id)} is not an id of this manager`)
}

/** Frames a load looks ahead of its walk at once, and the Session ids among them it warms. */
const WARM_AT_ONCE = 32
const WARM_STARTS = new Int32Array(WARM_AT_ONCE)

/**
 * Warms the ids of the Session records among the next WARM_AT_ONCE frames from `from`
 * (ReplayEngine.warmIds), going by their frames alone: a bad frame only ends the warming early,
 * as the walk will find it. Returns where the warming stopped; the walk warms again from there.
 * A load restores 10^6 sessions, each at first a cache miss in the id index (about 300 ms of a
 * 1.3 s load); warmed together, the misses overlap.
 */
function warmSessionIds(bytes: Buffer, view: DataView, from: number, engine: ReplayEngine): number {
  let offset = from
  let count = 0
  let stop = Infinity
  for (let frame = 0; frame < WARM_AT_ONCE; frame++) {
    if (offset + FRAME_BYTES + 5 > bytes.length) break
    const length = view.getUint32(offset, true)
    if ((~length >>> 0) !== view.getUint32(offset + 4, true) || length === 0) break
    const body = offset + FRAME_BYTES
    if (bytes[body] === Kind.Session && body + length <= bytes.length) WARM_STARTS[count++] = body + 5
    offset = body + length
    if (frame === WARM_AT_ONCE - 1) stop = offset
  }
  if (count > 0) engine.warmIds(bytes, WARM_STARTS, count)
  return stop
}
