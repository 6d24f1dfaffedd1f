/**
 * `npm run bench:persist [sessions]`: what persistence costs, per engine, at 10^6 sessions of
 * ~200 bytes of data by default. Each figure in its own process (a fresh heap and page cache
 * state), on a file in the system's temporary directory:
 *
 * - create/s and get-and-renew/s with `persist` (fsync 'everysec') against without;
 * - the cost of one create with fsync 'always' (it waits for fdatasync);
 * - close() (the snapshot), the file's bytes per session after it against the data's bytes;
 * - load time of the whole file at construction (wall and CPU), in a fresh process as after a restart;
 * - the longest event-loop block while the journal is written, and the lag from a change to
 *   the fdatasync that made it durable under 'everysec';
 * - the longest event-loop block during a background compaction, against the same workload
 *   (destroying 60% of the sessions) without persistence, so that the machine's own noise shows;
 *   and the same for a later compaction in the same process (60% of the rest destroyed).
 *
 * `npm run bench` runs it as `persist.ts <native|js> <profile>` (one engine, the profile's size),
 * which prints `{ "persist": PersistFigures }` for the report.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { SessionManager } from '../ts/index'
import { PROFILES, type ProfileName } from './profiles'
import type { PersistFigures } from './results-schema'
import { IdTable, sessionData } from './workload'

type Engine = 'native' | 'js'

function dataBytes(index: number): number {
  let bytes = 0
  for (const [key, value] of Object.entries(sessionData(index))) bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
  return bytes
}

async function measure(engine: Engine, count: number, persist: boolean): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'sk-bench-persist-'))
  const path = join(dir, 'sessions.skdb')
  try {
    const options = { engine, idleTimeout: 3_600_000, ...(persist ? { persist: { path } } : {}) }
    let manager = new SessionManager(options)
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    // Off the JS heap: 10^6 id strings (and as many fresh copies) were most of the heap whose
    // mark-compacts the compaction's block then measured (65-72 ms pauses in a 64-85 MB heap).
    const ids = new IdTable(count)
    let start = performance.now()
    for (let i = 0; i < count; i++) {
      ids.set(i, manager.create({ data: sessionData(i) }).id)
      // Let the journal's writes run, as a server's event loop would between requests.
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve))
    }
    const createMs = performance.now() - start
    // The creates' records (~280 MB at 10^6) are still being written by the thread pool: let
    // them reach the file first, or the gets are timed against that backlog's CPU (two cores).
    await manager.flush()
    start = performance.now()
    for (let i = 0; i < count; i++) {
      manager.get(ids.get((i * 7919) % count))
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve))
    }
    const getMs = performance.now() - start
    await manager.flush()
    delay.disable()
    const result: Record<string, number> = {
      createPerSec: count / (createMs / 1000),
      getPerSec: count / (getMs / 1000),
      maxBlockMs: delay.max / 1e6,
    }
    if (persist) {
      result.journalBytes = statSync(path).size
      result.fsyncLagMaxMs = manager.stats().persistence!.fsyncLagMaxMs
      // close() saves a compacted snapshot of all `count` sessions; loading it is the load time.
      start = performance.now()
      manager.close()
      result.closeMs = performance.now() - start
      result.fileBytesPerSession = statSync(path).size / count
      let data = 0
      for (let i = 0; i < count; i += 97) data += dataBytes(i)
      result.dataBytesPerSession = data / Math.ceil(count / 97)
      // The load a restart makes: in a process of its own, as a restarted server's is. Timed
      // here, after this process's 10^6 creates and the close of their manager, it also paid
      // for collecting that garbage.
      // This process's collector first, or its threads, sweeping the closed manager's heap on
      // the machine's other core, slow the load (2.6 s against 1.25 s for the same file).
      ;(globalThis as { gc?: () => void }).gc?.()
      Object.assign(result, loadInFreshProcess(engine, path))
      manager = new SessionManager(options)
    }
    // Destroy 60% in small chunks, which makes the file mostly dead records: with persistence,
    // the longest event-loop block until the background compaction ends; without, the same
    // workload's, for a second more (the machine's noise). Then 60% of the rest the same way,
    // for a later compaction in the same process: the first one's block includes V8 compiling
    // the compaction's code on its worker threads, which a long-running server pays once.
    // A second idle before each, in both runs: with persistence the manager has just loaded 10^6
    // sessions in this process, and the compilations that load queued (16 ms of the loader's
    // decode among them, V8's --trace-opt) ran on the collector's and compiler's threads on both
    // cores in the first milliseconds of the destroys, the main thread waiting for a core (7.8
    // ms, before any compaction had started). A server loads at its start, long before its
    // sessions fill a file twice over.
    const first = await destroyAndCompact(manager, ids, 0, Math.floor(count * 0.6), persist)
    result.compactionMs = first.ms
    result.compactionMaxBlockMs = first.maxBlockMs
    // The compaction's own part of that block, whatever the workload and the machine add.
    if (persist) result.compactionLongestStepMs = manager.stats().persistence!.compactionLongestStepMs
    const later = await destroyAndCompact(manager, ids, Math.floor(count * 0.6), Math.floor(count * 0.84), persist)
    result.laterCompactionMs = later.ms
    result.laterCompactionMaxBlockMs = later.maxBlockMs
    if (persist) {
      await manager.flush()
      // With the records of the destroys made during the compaction after the snapshot.
      result.compactedBytesPerSession = statSync(path).size / manager.size
      manager.close()
      const always = new SessionManager({ engine, persist: { path: join(dir, 'always.skdb'), fsync: 'always' } })
      const creates = 200
      start = performance.now()
      for (let i = 0; i < creates; i++) always.create({ data: sessionData(i) })
      result.alwaysCreateMs = (performance.now() - start) / creates
      always.close()
    } else {
      manager.close()
    }
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Destroys the sessions of `ids` from `from` to `to` in chunks (yielding every 0.5 ms, so that
 * the workload's own turns stay short on a loaded machine), after a second idle, then waits for
 * the compaction they set off (with persistence) or a second (without): how long that took
 * (null when no compaction happened: a file under 1 MiB is never compacted, a smoke run's; JSON
 * has no NaN) and the longest event-loop block meanwhile.
 */
async function destroyAndCompact(manager: SessionManager, ids: IdTable, from: number, to: number, persist: boolean): Promise<{ ms: number; maxBlockMs: number }> {
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const compactions = persist ? manager.stats().persistence!.compactions : 0
  const during = monitorEventLoopDelay({ resolution: 1 })
  during.enable()
  const start = performance.now()
  let turn = performance.now()
  for (let i = from; i < to; i++) {
    manager.destroy(ids.get(i))
    if (i % 8 === 7 && performance.now() - turn > 0.5) {
      await new Promise((resolve) => setImmediate(resolve))
      turn = performance.now()
    }
  }
  let compacting = persist && manager.stats().persistence!.fileBytes >= 1 << 20
  if (compacting) {
    // A file just over 1 MiB may hold too few dead records to be compacted (the compactor also
    // wants 2x the live data plus half a MiB): then none happened, after a minute.
    while (manager.stats().persistence!.compactions === compactions && performance.now() - start < 60_000) await new Promise((resolve) => setTimeout(resolve, 1))
    compacting = manager.stats().persistence!.compactions !== compactions
  } else {
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  const ms = compacting || !persist ? performance.now() - start : null as unknown as number
  during.disable()
  return { ms, maxBlockMs: during.max / 1e6 }
}

/** Constructs a manager over the file at `path` (the load), in this process: its figures. */
function loadHere(engine: Engine, path: string): Record<string, number> {
  const start = performance.now()
  const cpu = process.cpuUsage()
  const manager = new SessionManager({ engine, idleTimeout: 3_600_000, persist: { path } })
  const loadMs = performance.now() - start
  const used = process.cpuUsage(cpu)
  const loaded = manager.size
  manager.close()
  return { loadMs, loadCpuMs: (used.user + used.system) / 1000, loaded }
}

function loadInFreshProcess(engine: Engine, path: string): Record<string, number> {
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', __filename, engine, path, 'load'], {
    encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'],
  })) as Record<string, number>
}

/** Each in a process of its own: a fresh heap, and a load that finds no warm table. */
function run(engine: Engine, count: number, mode: 'plain' | 'persist'): Record<string, number> {
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', __filename, engine, String(count), mode], {
    encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'],
  })) as Record<string, number>
}

function figures(engine: Engine, count: number): PersistFigures {
  const plain = run(engine, count, 'plain')
  const persisted = run(engine, count, 'persist')
  return {
    store: engine,
    sessions: count,
    dataBytesPerSession: persisted.dataBytesPerSession,
    createPerSecPlain: plain.createPerSec,
    createPerSecPersist: persisted.createPerSec,
    getPerSecPlain: plain.getPerSec,
    getPerSecPersist: persisted.getPerSec,
    alwaysCreateMs: persisted.alwaysCreateMs,
    fileBytesPerSession: persisted.fileBytesPerSession,
    compactedBytesPerSession: persisted.compactedBytesPerSession,
    loadMs: persisted.loadMs,
    loadCpuMs: persisted.loadCpuMs,
    loaded: persisted.loaded,
    compactionMs: persisted.compactionMs ?? null,
    compactionMaxBlockMs: persisted.compactionMaxBlockMs,
    compactionLongestStepMs: persisted.compactionLongestStepMs,
    baselineMaxBlockMs: plain.compactionMaxBlockMs,
    laterCompactionMs: persisted.laterCompactionMs ?? null,
    laterCompactionMaxBlockMs: persisted.laterCompactionMaxBlockMs,
    laterBaselineMaxBlockMs: plain.laterCompactionMaxBlockMs,
    fsyncLagMaxMs: persisted.fsyncLagMaxMs,
  }
}

async function main(): Promise<void> {
  const [engine, second, mode] = process.argv.slice(2)
  if (mode === 'load') {
    process.stdout.write(JSON.stringify(loadHere(engine as Engine, second)))
    return
  }
  if (mode !== undefined) {
    process.stdout.write(JSON.stringify(await measure(engine as Engine, Number(second), mode === 'persist')))
    return
  }
  if (second !== undefined) {
    // From npm run bench: one engine at the profile's size.
    const { sessions } = PROFILES[second as ProfileName].persist
    process.stdout.write(`${JSON.stringify({ persist: figures(engine as Engine, sessions) })}\n`)
    return
  }
  const count = Number(process.argv[2] ?? 1_000_000)
  for (const name of ['native', 'js'] as const) {
    const plain = run(name, count, 'plain')
    const persisted = run(name, count, 'persist')
    const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits })
    console.log(`\n${name}, ${f(count)} sessions of ~${f(persisted.dataBytesPerSession)} B data`)
    console.log(`  create/s: ${f(plain.createPerSec)} without, ${f(persisted.createPerSec)} with persist (everysec): ${f(100 * persisted.createPerSec / plain.createPerSec)}%`)
    console.log(`  get-and-renew/s: ${f(plain.getPerSec)} without, ${f(persisted.getPerSec)} with: ${f(100 * persisted.getPerSec / plain.getPerSec)}%`)
    console.log(`  fsync 'always': ${f(persisted.alwaysCreateMs, 2)} ms per create (it waits for fdatasync)`)
    console.log(`  journal after the run: ${f(persisted.journalBytes / count)} B/session; close() (snapshot) ${f(persisted.closeMs)} ms`)
    console.log(`  file after close (every session): ${f(persisted.fileBytesPerSession, 1)} B/session (goal <= 1.5 x ${f(persisted.dataBytesPerSession)} + 64 = ${f(1.5 * persisted.dataBytesPerSession + 64)})`)
    console.log(`  load at construction: ${f(persisted.loadMs)} ms (${f(persisted.loadCpuMs)} ms CPU) for ${f(persisted.loaded)} sessions (goal <= 1000)`)
    console.log(`  longest event-loop block while creating and renewing: ${f(plain.maxBlockMs, 1)} ms without, ${f(persisted.maxBlockMs, 1)} ms with`)
    console.log(`  change -> fdatasync lag under everysec: longest ${f(persisted.fsyncLagMaxMs)} ms`)
    console.log(`  background compaction after destroying 60%: ${f(persisted.compactionMs)} ms, longest event-loop block meanwhile ${f(persisted.compactionMaxBlockMs, 1)} ms (goal <= 5; the same destroys without persistence: ${f(plain.compactionMaxBlockMs, 1)} ms; the compaction's longest step: ${f(persisted.compactionLongestStepMs, 1)} ms); file right after it ${f(persisted.compactedBytesPerSession, 1)} B/session`)
    console.log(`  a later compaction in the same process (destroying 60% of the rest): ${f(persisted.laterCompactionMs)} ms, longest event-loop block meanwhile ${f(persisted.laterCompactionMaxBlockMs, 1)} ms (the same destroys without persistence: ${f(plain.laterCompactionMaxBlockMs, 1)} ms)`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
