/**
 * Persistence of one manager: the lock, loading on construction, the journal while it runs,
 * and the snapshot that `close()` saves. docs/persistence-format.md describes the file.
 */
import { Buffer } from 'node:buffer'
import {
  closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, linkSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync,
  renameSync, type Stats, statSync, unlinkSync, writeSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { threadId } from 'node:worker_threads'
import { type Engine, type LoadSessionFileOutcome, slotOf } from '../engine'
import { JsEngine } from '../js-engine/engine'
import { SessionFileError } from '../errors'
import {
  type Damage, encodeHeader, type FileConfig, FLAG_CLEAN, FLAG_ENCRYPTED, FRAME_BYTES, HEADER_BYTES, isSealed, keyCheckRecord, ParseError, RecordWriter,
  type SavedSession,
  walkRecords, type Walked,
} from './format'
import { crc32c } from './crc32c'
import { canReplay, replayFile } from './replay'
import { RecordCipher } from './cipher'
import { Compactor } from './compaction'
import { type FsyncPolicy, Journal, view } from './journal'
import { JournaledEngine } from './journaled-engine'
import { jsSessionRecordsInto } from './js-records'
import { FileLock } from './lock'

/** `persist` as the manager resolved it. */
export interface PersistOptions {
  path: string
  fsync: FsyncPolicy
  onCorrupt: 'fail' | 'rename'
  /** AES-256-GCM keys, 32 bytes each: the first encrypts, all decrypt. */
  encryptionKeys: Uint8Array[] | undefined
}

/** `stats().persistence`. */
export interface PersistenceStats {
  /** Sessions loaded from the file at construction. */
  restored: number
  /** Bytes of the session file, as written so far. */
  fileBytes: number
  /** Background compactions completed. */
  compactions: number
  /** The longest a background compaction held the event loop at once (ms; 0 before the first). */
  compactionLongestStepMs: number
  /** Lag from a change to the fdatasync that made it durable, latest and longest (ms). */
  fsyncLagLastMs: number
  fsyncLagMaxMs: number
}

/** What the loader found, for the manager's statistics and the tests. */
export interface LoadReport {
  restored: number
  tornAt: number | undefined
  renamedTo: string | undefined
  /** Records that gave a restored session a user: 0 when no restored session has one. */
  users: number
  /** The latest last activity of a restored session (-Infinity when none), a clock reading. */
  latestActivity: number
}

/** Writes above this many bytes go to the file as they fill, not all at the end. */
const CHUNK = 1 << 20

/**
 * What loading adds to each last activity read from a file that was not closed cleanly: none.
 * It once added `resolution`, so that a session used just after its last written renewal was
 * not dropped; but the file then held the moved time after its next compaction, and each crash
 * moved it on again (four crashes kept a never-used session alive 4 s past its idle timeout,
 * and a crash loop could keep it alive for good). The renewal slack already lets a crash bring a
 * session back up to the slack older than its last use: it may expire early, never late.
 */
const LOAD_SHIFT = 0

export class Persistence {
  readonly engine: JournaledEngine
  readonly path: string
  readonly report: LoadReport
  #lock: FileLock | undefined
  readonly #config: FileConfig
  readonly #cipher: RecordCipher | undefined
  /** Rewrites the file in the background when it holds more than about twice the live data. */
  readonly compactor: Compactor

  private constructor(
    path: string, lock: FileLock, config: FileConfig, engine: JournaledEngine, report: LoadReport,
    onError: (error: unknown) => void, cipher: RecordCipher | undefined,
  ) {
    this.path = path
    this.#cipher = cipher
    this.#lock = lock
    this.#config = config
    this.engine = engine
    this.report = report
    this.compactor = new Compactor({
      path,
      config,
      flags: cipher === undefined ? 0 : FLAG_ENCRYPTED,
      cipher,
      engine: engine.inner,
      journal: engine.journal,
      encode: (inner, handles, count, writer) => encodeRecords(inner, handles, count, writer, cipher),
      encodeInto: (inner, handles, count, writer, out, at) => encodeRecordsInto(inner, handles, count, writer, cipher, out, at),
      onError,
    }, statSync(path).size)
  }

  /**
   * Locks the file, loads it into `inner` (an empty engine), rewrites it compacted and opens
   * the journal. `now` is the manager's time.
   * Throws SessionFileLockedError or SessionFileError, leaving the file untouched.
   */
  static open(
    options: PersistOptions, config: FileConfig, engine: JournaledEngine, now: number,
    warn: (message: string, code: string) => void, onJournalError: (error: unknown) => void,
    fresh: () => Engine,
  ): Persistence {
    const cipher = options.encryptionKeys === undefined ? undefined : new RecordCipher(options.encryptionKeys)
    const encrypted = cipher === undefined ? 0 : FLAG_ENCRYPTED
    const path = filePath(options.path)
    checkPlace(options.path, path)
    const lock = FileLock.acquire(path)
    try {
      removeLeftovers(path)
      const report: LoadReport = { restored: 0, tornAt: undefined, renamedTo: undefined, users: 0, latestActivity: -Infinity }
      // Last activities load as the file holds them: exact after close(), after a crash up to
      // the renewal slack older than the last use (LOAD_SHIFT).
      const loaded = load(path, options, config, engine, fresh, now, report, warn, cipher)
      const inner = engine.inner
      report.restored = inner.size
      report.users = loaded.users
      if (loaded.state === 'none' || loaded.records > 2 * inner.size + 1024 || loaded.encrypted !== (cipher !== undefined) || loaded.cut) {
        // New, renamed aside, mostly dead records, to be encrypted, or holding data the cap cut
        // (records appended to it would be replayed over the uncut data after a crash): start
        // from a new file.
        writeSnapshotFile(path, config, encrypted, inner, cipher)
      } else {
        // Appending to the file as it is: drop a torn tail, and clear the clean flag (records
        // written from now on are a journal again), durably before the first append.
        const fd = openSync(path, 'r+')
        try {
          if (loaded.tornAt !== undefined) ftruncateSync(fd, loaded.tornAt)
          if (loaded.clean) writeSync(fd, view(encodeHeader(config, Date.now(), encrypted)), 0, HEADER_BYTES, 0)
          if (loaded.clean || loaded.tornAt !== undefined) fdatasyncSync(fd)
        } finally {
          closeSync(fd)
        }
      }
      const fd = openSync(path, 'a')
      let persistence: Persistence | undefined
      engine.journal = new Journal(fd, options.fsync, onJournalError, () => persistence?.compactor.check(), cipher)
      // The journal holds each last activity as the file had it, which is the one loaded.
      let activity = inner.attachedActivity?.()
      if (activity === undefined) {
        const pairs: number[] = []
        forEachAttached(inner, (handle) => pairs.push(handle, inner.lastActivity(handle)))
        activity = Float64Array.from(pairs)
      }
      engine.adoptAll(activity)
      for (let at = 1; at < activity.length; at += 2) if (activity[at] > report.latestActivity) report.latestActivity = activity[at]
      persistence = new Persistence(path, lock, config, engine, report, onJournalError, cipher)
      return persistence
    } catch (error) {
      lock.release()
      throw error
    }
  }

  flush(): Promise<void> {
    return this.engine.journal.flush()
  }

  stats(): PersistenceStats {
    const { lag } = this.engine.journal
    return {
      restored: this.report.restored,
      fileBytes: this.compactor.fileBytes,
      compactions: this.compactor.completed,
      compactionLongestStepMs: this.compactor.longestStepMs,
      fsyncLagLastMs: lag.last,
      fsyncLagMaxMs: lag.max,
    }
  }

  /** Ends the create the facade just made (its record goes to the journal). */
  commitCreate(): void {
    this.engine.commitCreate()
  }

  /**
   * Saves every attached session as a fresh, compacted file (written aside, fsync'd, renamed
   * over the journal) and stops the journal. Afterwards releasing sessions records nothing.
   */
  save(): void {
    const inner = this.engine.inner
    this.engine.suspended = true
    this.compactor.abort()
    this.engine.journal.close()
    writeSnapshotFile(this.path, this.#config, FLAG_CLEAN | (this.#cipher === undefined ? 0 : FLAG_ENCRYPTED), inner, this.#cipher)
  }

  /** Lets another manager open the file. */
  unlock(): void {
    this.#lock?.release()
    this.#lock = undefined
  }
}

/** Every attached session's handle, alive or not, in slot order. */
export function forEachAttached(engine: Engine, visit: (handle: number) => void): void {
  const buffer = new Float64Array(256)
  let from = 0
  for (;;) {
    const count = engine.scan(from, -Infinity, buffer)
    for (let index = 0; index < count; index++) visit(buffer[index])
    if (count < buffer.length) return
    from = slotOf(buffer[count - 1]) + 1
  }
}

/** Session records for the first `count` handles (in Rust for the native engine). */
function encodeRecords(engine: Engine, handles: Float64Array, count: number, writer: RecordWriter, cipher: RecordCipher | undefined): Uint8Array {
  if (engine.sessionRecords !== undefined && cipher === undefined) return engine.sessionRecords(handles, count)
  if (writer.cipher !== cipher) throw new Error('the compaction writer must seal as the journal does')
  writer.clear()
  for (let index = 0; index < count; index++) writer.session(exportSession(engine, handles[index]))
  return view(writer.buffer.subarray(0, writer.length)).slice()
}

/** encodeRecords into `out` from `at`: the end, or -1 (nothing written) when they do not fit. */
function encodeRecordsInto(
  engine: Engine, handles: Float64Array, count: number, writer: RecordWriter, cipher: RecordCipher | undefined, out: Uint8Array, at: number,
): number {
  if (engine.sessionRecordsInto !== undefined && cipher === undefined) return engine.sessionRecordsInto(handles, count, out, at)
  if (engine instanceof JsEngine && cipher === undefined) return jsSessionRecordsInto(engine, handles, count, out, at)
  if (writer.cipher !== cipher) throw new Error('the compaction writer must seal as the journal does')
  writer.clear()
  for (let index = 0; index < count; index++) writer.session(exportSession(engine, handles[index]))
  if (at + writer.length > out.length) return -1
  out.set(view(writer.buffer.subarray(0, writer.length)), at)
  return at + writer.length
}

/** A session as the record writer takes it, read through the Engine interface (any engine). */
export function exportSession(engine: Engine, handle: number): SavedSession {
  const keys = engine.dataKeys(handle)
  const data = new Array<string>(keys.length * 2)
  for (let index = 0; index < keys.length; index++) {
    data[index * 2] = keys[index]
    data[index * 2 + 1] = engine.getData(handle, keys[index]) as string
  }
  return {
    id: engine.id(handle) as string,
    createdAt: engine.createdAt(handle),
    lastActivity: engine.lastActivity(handle),
    idleTimeout: engine.idleTimeout(handle),
    absoluteTimeout: engine.absoluteTimeout(handle),
    user: engine.user(handle),
    roles: engine.roles(handle),
    data,
  }
}

interface Loaded {
  /** 'none': no file, an empty one, or one renamed aside. */
  state: 'none' | 'loaded'
  /** The header's CLEAN flag: last activities are exact. */
  clean: boolean
  records: number
  tornAt: number | undefined
  /** The file's records are sealed. */
  encrypted: boolean
  /** Records that gave a restored session a user. */
  users: number
  /** Some session's data was cut to maxDataBytes: the engine holds less than the file. */
  cut: boolean
}

/**
 * Reads the file and replays it into the engine: in Rust for the native engine (one call,
 * sessionkeeper_core::persist::load; a sealed file is opened here first), in replay.ts for the
 * JsEngine. The same rules either way. On damage the engine is left empty (the JsEngine is
 * replaced by a fresh one: the cheap way to empty it).
 */
function load(
  path: string, options: PersistOptions, config: FileConfig, engine: JournaledEngine, fresh: () => Engine, now: number,
  report: LoadReport, warn: (message: string, code: string) => void, cipher: RecordCipher | undefined,
): Loaded {
  const none: Loaded = { state: 'none', clean: true, records: 0, tornAt: undefined, encrypted: cipher !== undefined, users: 0, cut: false }
  const inner = engine.inner
  // A plain file the native engine reads itself, in pieces: no buffer of the file's size.
  const atPath = cipher === undefined && inner.loadSessionFileAt !== undefined
  let bytes: Buffer | undefined
  let fileBytes: number
  try {
    if (atPath) {
      // Opened and its header read here first: an unreadable path fails as readFileSync would
      // (ENOENT, EACCES, EISDIR with their codes), and a sealed file, which has no key here,
      // takes the whole-file path, whose error names the key it needs.
      const fd = openSync(path, 'r')
      try {
        const header = Buffer.alloc(HEADER_BYTES)
        const read = readSync(fd, view(header), 0, HEADER_BYTES, 0)
        fileBytes = fstatSync(fd).size
        if (isSealed(header, read)) {
          bytes = readFileSync(path)
          fileBytes = bytes.length
        }
      } finally {
        closeSync(fd)
      }
    } else {
      bytes = readFileSync(path)
      fileBytes = bytes.length
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return none
    throw error
  }
  if (fileBytes === 0) return none
  let walked: LoadWalk
  try {
    if (bytes === undefined) {
      walked = walkedFrom(inner.loadSessionFileAt!(path, LOAD_SHIFT, now))
    } else if (inner.loadSessionFile !== undefined) {
      walked = loadNative(inner, bytes, config, cipher, LOAD_SHIFT, now)
    } else if (canReplay(inner)) {
      walked = replayFile(bytes, config, cipher, inner, LOAD_SHIFT, now)
    } else {
      throw new Error(`the ${inner.kind} engine cannot load a session file`)
    }
  } catch (error) {
    if (!(error instanceof ParseError)) throw error
    if (inner.loadSessionFile === undefined) engine.inner = fresh()
    const { damage } = error
    return damaged(damage.kind, damage.kind === 'mismatch' ? 0 : damage.offset, damage.why)
  }
  const loaded: Loaded = {
    state: 'loaded', clean: walked.clean, records: walked.records, tornAt: walked.tornAt, encrypted: walked.encrypted, users: walked.users,
    cut: walked.cut,
  }
  if (loaded.tornAt !== undefined) {
    report.tornAt = loaded.tornAt
    warn(
      `the session file ${path} ends in a torn record at offset ${loaded.tornAt} (a crash while writing it): ` +
      `loaded the ${engine.inner.size} sessions before it and dropped the last ${fileBytes - loaded.tornAt} bytes`,
      'SESSIONKEEPER_SESSION_FILE_TORN',
    )
  }
  return loaded

  function damaged(kind: Damage['kind'], offset: number, why: string): Loaded {
    if (kind === 'mismatch') throw new SessionFileError('ERR_SESSION_FILE_MISMATCH', path, undefined, why)
    if (options.onCorrupt !== 'rename') throw new SessionFileError('ERR_SESSION_FILE_CORRUPT', path, offset, why)
    const aside = moveAside(path)
    report.renamedTo = aside
    warn(
      `the session file ${path} could not be loaded (offset ${offset}: ${why}); ` +
      `it was moved to ${aside} and the manager starts with no sessions`,
      'SESSIONKEEPER_SESSION_FILE_RENAMED',
    )
    return none
  }
}

/**
 * The native engine's load. A sealed file is opened here (the cipher is node:crypto's) into a
 * plain one, the same records framed again, which Rust then replays (its offsets are mapped
 * back to the sealed file's). Throws ParseError on damage.
 */
function loadNative(
  engine: Engine, bytes: Buffer, config: FileConfig, cipher: RecordCipher | undefined, window: number, now: number,
): LoadWalk {
  let plain = bytes
  let walked: Walked | undefined
  const plainStarts: number[] = []
  const sealedStarts: number[] = []
  if (isSealed(bytes)) {
    const bodies: Uint8Array[] = []
    let length = HEADER_BYTES
    walked = walkRecords(bytes, config, cipher, (reader, offset) => {
      plainStarts.push(length)
      sealedStarts.push(offset)
      const body = view(reader.bytes.subarray(reader.offset, reader.end))
      bodies.push(body)
      length += FRAME_BYTES + body.length
    })
    plain = Buffer.allocUnsafe(length)
    plain.set(view(encodeHeader(config, bytes.readDoubleLE(16), bytes[13] & FLAG_CLEAN)), 0)
    let at = HEADER_BYTES
    for (const body of bodies) {
      plain.writeUInt32LE(body.length, at)
      plain.writeUInt32LE(~body.length >>> 0, at + 4)
      plain.writeUInt32LE(crc32c(body), at + 8)
      plain.set(body, at + FRAME_BYTES)
      at += FRAME_BYTES + body.length
    }
  }
  const outcome = engine.loadSessionFile!(view(plain), window, now)
  if (outcome.damage !== undefined && walked !== undefined) {
    let offset = outcome.offset ?? 0
    // A record of the plain copy: the sealed record it came from.
    if (offset >= HEADER_BYTES) offset = sealedStarts[Math.max(0, plainStarts.findLastIndex((start) => start <= offset))]
    return walkedFrom({ ...outcome, offset })
  }
  return walked === undefined ? walkedFrom(outcome) : { ...walked, users: outcome.users, cut: outcome.cut }
}

/** A native load's outcome as a walk's; throws ParseError on damage. */
function walkedFrom(outcome: LoadSessionFileOutcome): LoadWalk {
  if (outcome.damage !== undefined) {
    const offset = outcome.offset ?? 0
    const why = outcome.why ?? ''
    throw new ParseError(outcome.damage === 'mismatch' ? { kind: 'mismatch', why } : { kind: outcome.damage === 'not-ours' ? 'not-ours' : 'corrupt', offset, why })
  }
  return { tornAt: outcome.tornAt, records: outcome.records, clean: outcome.clean, encrypted: false, users: outcome.users, cut: outcome.cut }
}

/**
 * What a load reports of its walk over the file, how many records gave a session a user, and
 * whether data was cut to the cap.
 */
type LoadWalk = Pick<Walked, 'tornAt' | 'records' | 'clean' | 'encrypted'> & { users: number; cut: boolean }

/**
 * The file `path` names, as one spelling: symbolic links followed, in the path and in the file
 * itself, to the file they lead to, even one not made yet. The lock is `<that>.lock`, so the same
 * file reached through a linked directory (/var/run to /run) cannot get a second writer; and
 * snapshots, written beside it and renamed over it, replace the file, not a link to it (which
 * left the sessions beside a volume's link, in the container's own layer).
 */
export function filePath(path: string): string {
  let current = resolve(path)
  // A bound on links that lead to links, as the kernel's (ELOOP) for the ones it follows.
  for (let hops = 0; hops < 40; hops++) {
    try {
      return realpathSync(current)
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException
      // ENOTDIR: a file where a directory should be, which checkPlace reports.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error
    }
    // Not there (yet): a link to a file not made yet leads on to it, from the directory the link
    // really is in (a `..` in its target climbs from there, as the kernel's does); anything else
    // is made in its directory as that directory really is.
    let directory: string
    try {
      directory = realpathSync(dirname(current))
    } catch {
      return current // No such directory: opening the file reports it.
    }
    let target: string
    try {
      target = readlinkSync(current)
    } catch {
      return join(directory, basename(current))
    }
    current = resolve(directory, target)
  }
  return current
}

/**
 * Fails before anything is made when `path` (as `given`) cannot be a session file: its directory
 * missing or not one (the manager makes the file, not its directory, as SQLite does), a
 * directory itself (whose lock would be made beside it), or anything else but a regular file. Node's error, with its code and path,
 * and a message that names the option.
 */
function checkPlace(given: string, path: string): void {
  const fail = (code: string, why: string, at: string): never => {
    throw Object.assign(new Error(`options.persist.path ${JSON.stringify(given)}: ${why}`), { code, path: at })
  }
  const directory = dirname(path)
  let kind: Stats | undefined
  try {
    kind = statSync(directory)
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    if (code === 'ENOENT') fail(code, `the directory ${directory} does not exist (create it first: the manager makes the file, not its directory)`, directory)
    if (code === 'ENOTDIR') fail(code, `a part of the path ${directory} is a file, not a directory`, directory)
    throw error
  }
  if (!kind.isDirectory()) fail('ENOTDIR', `${directory} is not a directory`, directory)
  const file = statSync(path, { throwIfNoEntry: false })
  if (file !== undefined && file.isDirectory()) fail('EISDIR', `${path} is a directory, not a file`, path)
  // A device would be replaced by the first snapshot (renamed over it), a FIFO would block the
  // load for good.
  if (file !== undefined && !file.isFile()) fail('EINVAL', `${path} is not a regular file (a device, a FIFO or a socket)`, path)
}

/**
 * Removes the new files a killed manager left beside `path` (a compaction's, a snapshot's: each
 * named after its process and thread, so every crash would leave one more). Holding the lock, no
 * other manager writes them; whatever they held is in the file or was never acknowledged.
 */
function removeLeftovers(path: string): void {
  const prefix = `${basename(path)}.`
  const ours = /^(compact|tmp)-\d+-\d+(-\d+)?$/
  // The lock's own (lock.ts), left by a kill between two of its steps. Another manager may be
  // making one now, to find the lock taken: only those older than a minute go.
  const lockSteps = /^lock\.(new|stale)-\d+-\d+$/
  const minuteAgo = Date.now() - 60_000
  let names: string[]
  try {
    names = readdirSync(dirname(path))
  } catch {
    return // An unreadable directory: the load that follows reports what is wrong with it.
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const rest = name.slice(prefix.length)
    if (!ours.test(rest) && !(lockSteps.test(rest) && (statSync(join(dirname(path), name), { throwIfNoEntry: false })?.mtimeMs ?? Infinity) < minuteAgo)) continue
    try {
      unlinkSync(join(dirname(path), name))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
}

/** Moves the file to a name that did not exist (link never replaces), keeping every byte. */
function moveAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  for (let attempt = 0; ; attempt++) {
    const aside = `${path}.corrupt-${stamp}${attempt === 0 ? '' : `-${attempt}`}`
    try {
      linkSync(path, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue
      throw error
    }
    unlinkSync(path)
    return aside
  }
}

/**
 * Writes every attached session of `engine` as a complete file beside `path`, fsyncs it,
 * renames it over `path` and fsyncs the directory: a crash leaves either the old file or the
 * new one, never a mix. The native engine encodes its records in Rust in one call.
 */
export function writeSnapshotFile(path: string, config: FileConfig, flags: number, engine: Engine, cipher?: RecordCipher): void {
  const temporary = `${path}.tmp-${process.pid}-${threadId}`
  const fd = openSync(temporary, 'w', 0o600)
  try {
    const out = (bytes: Uint8Array): void => {
      let offset = 0
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
    }
    out(view(encodeHeader(config, Date.now(), flags)))
    if (cipher !== undefined) out(keyCheckRecord(cipher))
    if (engine.snapshotRecords !== undefined && cipher === undefined) {
      out(engine.snapshotRecords())
    } else if (engine instanceof JsEngine && cipher === undefined) {
      // Batches of records straight from the engine (js-records.ts), a chunk written as it fills.
      const chunk = new Uint8Array(CHUNK * 2)
      const handles = new Float64Array(256)
      const writer = new RecordWriter(CHUNK)
      let used = 0
      for (let from = 0; ;) {
        const count = engine.scan(from, -Infinity, handles)
        let end = jsSessionRecordsInto(engine, handles, count, chunk, used)
        if (end < 0 && used > 0) {
          out(chunk.subarray(0, used))
          used = 0
          end = jsSessionRecordsInto(engine, handles, count, chunk, 0)
        }
        if (end >= 0) used = end
        else out(encodeRecords(engine, handles, count, writer, undefined)) // A batch over the chunk.
        if (used >= CHUNK) {
          out(chunk.subarray(0, used))
          used = 0
        }
        if (count < handles.length) break
        from = slotOf(handles[count - 1]) + 1
      }
      out(chunk.subarray(0, used))
    } else {
      const writer = new RecordWriter(CHUNK * 2, cipher)
      forEachAttached(engine, (handle) => {
        writer.session(exportSession(engine, handle))
        if (writer.length < CHUNK) return
        out(view(writer.buffer.subarray(0, writer.length)))
        writer.clear()
      })
      out(view(writer.buffer.subarray(0, writer.length)))
    }
    fdatasyncSync(fd)
  } catch (error) {
    closeSync(fd)
    unlinkSync(temporary)
    throw error
  }
  closeSync(fd)
  renameSync(temporary, path)
  syncDirectory(dirname(path))
}

function syncDirectory(directory: string): void {
  let fd: number
  try {
    fd = openSync(directory, 'r')
  } catch {
    return // Windows cannot open a directory; its renames are durable by themselves.
  }
  try {
    fsyncSync(fd)
  } catch {
    // Some file systems refuse fsync on a directory; nothing more can be done there.
  } finally {
    closeSync(fd)
  }
}
