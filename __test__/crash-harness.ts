/**
 * Crash rounds for persistence: a child process changes sessions (crash-writer.cjs) and is
 * killed with SIGKILL at a random moment; then the file is loaded here and compared with what
 * the child acknowledged. The spec runs a few rounds; `npm run soak:persist` runs many.
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { SessionManager } from '../ts/index'

type Table = Map<string, string>
type Change =
  | { kind: 'C'; value: string; id?: string }
  | { kind: 'S'; id: string; value: string }
  | { kind: 'R'; id: string; fresh?: string }
  | { kind: 'D'; id: string }

export interface RoundReport {
  acknowledged: number
  lost: number
  inFlightApplied: boolean
  /** A compaction's new file was there when the writer was killed. */
  killedCompacting: boolean
}

/** Files a manager writes beside `path` and renames over it: a compaction's, a snapshot's. */
export function temporaryFiles(path: string): string[] {
  const base = basename(path)
  return readdirSync(dirname(path)).filter((name) => name.startsWith(`${base}.compact-`) || name.startsWith(`${base}.tmp-`))
}

const writer = join(__dirname, 'fixtures', 'crash-writer.cjs')

function load(engine: 'native' | 'js', path: string): Table {
  const manager = new SessionManager({ engine, idleTimeout: 0, persist: { path, fsync: 'never' } })
  const table: Table = new Map()
  for (const session of manager) table.set(session.id, session.get('v') as string)
  manager.close()
  return table
}

function apply(table: Table, change: Change): void {
  switch (change.kind) {
    case 'C': table.set(change.id as string, change.value); break
    case 'S': table.set(change.id, change.value); break
    case 'R': {
      const value = table.get(change.id) as string
      table.delete(change.id)
      table.set(change.fresh as string, value)
      break
    }
    case 'D': table.delete(change.id); break
  }
}

function same(a: Table, b: Table): boolean {
  if (a.size !== b.size) return false
  for (const [id, value] of a) if (b.get(id) !== value) return false
  return true
}

/** The in-flight change applied to `table`, its unknown new id taken from `found`. */
function withInFlight(table: Table, change: Change, found: Table): Table | undefined {
  const next = new Map(table)
  if (change.kind === 'C' || change.kind === 'R') {
    const fresh = [...found.keys()].filter((id) => !table.has(id))
    if (fresh.length !== 1) return undefined
    if (change.kind === 'C') next.set(fresh[0], change.value)
    else apply(next, { ...change, fresh: fresh[0] })
    return next
  }
  apply(next, change)
  return next
}

function parseLog(text: string): { done: Change[]; inFlight: Change | undefined; ready: boolean } {
  const done: Change[] = []
  let inFlight: Change | undefined
  let ready = false
  for (const line of text.split('\n')) {
    const [tag, kind, a, b] = line.split(' ')
    if (tag === 'READY') ready = true
    if (tag === 'I') {
      inFlight = kind === 'C' ? { kind: 'C', value: a } : kind === 'S' ? { kind: 'S', id: a, value: b } : kind === 'R' ? { kind: 'R', id: a } : { kind: 'D', id: a }
    }
    if (tag === 'A') {
      const change = inFlight as Change
      if (change.kind === 'C') change.id = b
      if (change.kind === 'R') change.fresh = b
      done.push(change)
      inFlight = undefined
    }
  }
  return { done, inFlight, ready }
}

/**
 * One round: start the writer on `path` (it loads what is there), kill it after `killAfterMs`,
 * load the file, check it against the acknowledged changes. Throws with a description when the
 * file breaks the policy's promise. Returns the table found (the next round's start).
 */
export async function crashRound(options: {
  engine: 'native' | 'js'
  loader: 'native' | 'js'
  path: string
  fsync: 'always' | 'everysec'
  killAfterMs: number
  seed: number
  start: Table
  /** Bytes of padding per write (crash-writer.cjs), so that compactions come often. */
  pad?: number
  /** Kill within `killAfterMs` of a compaction's new file appearing, not of the start. */
  duringCompaction?: boolean
}): Promise<{ table: Table; report: RoundReport }> {
  const logPath = `${options.path}.log`
  rmSync(logPath, { force: true })
  const child = spawn(process.execPath, [writer, options.engine, options.path, options.fsync, logPath, String(options.seed), String(options.pad ?? 0)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
  // Kill only once the writer has loaded and started: a kill during its start is not this test.
  const started = Date.now()
  while (!readLogSafe(logPath).includes('READY')) {
    if (child.exitCode !== null) throw new Error(`the writer failed to start: ${stderr}`)
    if (Date.now() - started > 60_000) throw new Error('the writer did not start within 60 s')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  if (options.duringCompaction === true) {
    const waited = Date.now()
    while (!temporaryFiles(options.path).some((name) => name.includes('.compact-'))) {
      if (child.exitCode !== null) throw new Error(`the writer ended by itself: ${stderr}`)
      if (Date.now() - waited > 60_000) throw new Error('no compaction started within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
  }
  await new Promise((resolve) => setTimeout(resolve, options.killAfterMs))
  child.kill('SIGKILL')
  const signal = await exited
  if (signal !== 'SIGKILL') throw new Error(`the writer ended by itself (${signal}): ${stderr}`)
  const killedCompacting = temporaryFiles(options.path).some((name) => name.includes('.compact-'))

  const { done, inFlight } = parseLog(readFileSync(logPath, 'utf8'))
  const found = load(options.loader, options.path)
  // The next manager to open the file removes what a killed one left beside it.
  const left = temporaryFiles(options.path)
  if (left.length > 0) throw new Error(`a load left ${left.join(', ')} beside the file`)
  const report: RoundReport = { acknowledged: done.length, lost: 0, inFlightApplied: false, killedCompacting }
  const expected = new Map(options.start)
  for (const change of done) apply(expected, change)
  if (same(found, expected)) return { table: found, report }
  if (inFlight !== undefined) {
    const withIt = withInFlight(expected, inFlight, found)
    if (withIt !== undefined && same(found, withIt)) return { table: found, report: { ...report, inFlightApplied: true } }
  }
  if (options.fsync === 'always') {
    throw new Error(`fsync 'always': the file does not hold exactly the ${done.length} acknowledged changes (found ${found.size} sessions, expected ${expected.size})`)
  }
  // everysec: the file must be the state after some prefix of the acknowledged changes.
  const prefix = new Map(options.start)
  if (same(found, prefix)) return { table: found, report: { ...report, lost: done.length } }
  for (let index = 0; index < done.length; index++) {
    apply(prefix, done[index])
    if (same(found, prefix)) return { table: found, report: { ...report, lost: done.length - index - 1 } }
  }
  throw new Error(`fsync 'everysec': the file is not the state after any prefix of the ${done.length} acknowledged changes (a hole, a revived destroy or an old id alive again)`)
}

function readLogSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** `kills` rounds on one file, alternating the engines that write and load it. */
export async function crashRounds(options: {
  path: string
  fsync: 'always' | 'everysec'
  kills: number
  seed: number
  onRound?: (round: number, report: RoundReport) => void
  /** As crashRound's: every other round is then killed during a compaction. */
  pad?: number
}): Promise<RoundReport[]> {
  let table: Table = new Map()
  const reports: RoundReport[] = []
  let seed = options.seed
  for (let round = 0; round < options.kills; round++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    const engines = ['native', 'js'] as const
    const result = await crashRound({
      engine: engines[round % 2], loader: engines[(round >> 1) % 2], path: options.path, fsync: options.fsync,
      seed: round + 1 + options.seed * 100, start: table, pad: options.pad,
      ...(options.pad !== undefined && round % 2 === 1 ? { duringCompaction: true, killAfterMs: seed % 30 } : { killAfterMs: 20 + (seed % 280) }),
    })
    table = result.table
    reports.push(result.report)
    options.onRound?.(round, result.report)
  }
  return reports
}
