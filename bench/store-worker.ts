/**
 * One store at one size, in its own process so heaps never mix. Prints one JSON line,
 * `{ "store": StoreFigures }`, or `{ "floor": FloorFigures }` for the kind `floor` (a bare
 * binding call copying a fresh id: what no native lookup can beat), or `{ "wheel": WheelFigures }`
 * for the kinds `wheel-native` and `wheel-js` (bench/wheel.ts). Progress goes to stderr.
 * Usage: node --expose-gc --import tsx bench/store-worker.ts <store kind|floor|wheel-*> <sessions> <profile>
 */
// First: every store must read the jumpable clock, and some capture `performance` on load.
import { jumpClock } from './stores/clock'
import { randomBytes } from 'node:crypto'
import { PROFILES, profileNamed } from './profiles'
import { type FloorFigures, type MassExpiry, STORE_KINDS, type Serving, type StoreFigures, type StoreKind } from './results-schema'
import { openStore } from './stores/index'
import { SESSION_TTL_MS, type SessionStore } from './stores/store'
import { wheelFigures } from './wheel'
import { FreshIds, IdTable, type Operation, fullGc, median, runOperations, serve, shuffledOrder, timedOpsPerSec, watchUntilEmpty } from './workload'

const RUNS = 5
const MAX_LOOKUPS = 1_000_000
const MAX_DESTROYS = 20_000
/** A mechanism that has not emptied the store by then is reported as never emptying it. */
const EXPIRY_TIMEOUT_MS = 60_000

const [kindArgument, sizeArgument, profileArgument] = process.argv.slice(2)
const size = Number(sizeArgument)
const profile = PROFILES[profileNamed(profileArgument)]

function progress(line: string): void {
  // process.uptime(), not the patched clocks, which jump forward for the mass expiry.
  const at = process.uptime().toFixed(1)
  process.stderr.write(`  [${kindArgument} ${size.toLocaleString('en')}] ${at} s: ${line}\n`)
}

const rate = (opsPerSec: number) => `${Math.round(opsPerSec).toLocaleString('en')}/s`

function memoryAfterGc(): { heap: number; rss: number } {
  fullGc()
  fullGc()
  const { heapUsed, rss } = process.memoryUsage()
  return { heap: heapUsed, rss }
}

/** Fills the store in RUNS equal chunks; the median chunk's creates per second. */
async function fill(store: SessionStore, ids: IdTable): Promise<number> {
  const samples: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const first = Math.floor((size * run) / RUNS)
    const chunk: string[] = new Array(Math.floor((size * (run + 1)) / RUNS) - first)
    samples.push(await timedOpsPerSec('create', chunk.length, (index, done) => {
      chunk[index] = store.create(first + index, done)
    }))
    chunk.forEach((id, index) => ids.set(first + index, id))
  }
  return median(samples)
}

/** Median of RUNS timed runs; `afterEach` runs outside the timing (destroy refills the store). */
async function medianOpsPerSec(label: string, count: number, operation: Operation, afterEach?: () => Promise<void>): Promise<number> {
  const samples: number[] = []
  for (let run = 0; run < RUNS; run++) {
    samples.push(await timedOpsPerSec(label, count, operation))
    await afterEach?.()
  }
  return median(samples)
}

async function serving(store: SessionStore, fresh: FreshIds): Promise<Serving> {
  const figures = await serve(profile.servingDurationMs, fresh.count, (index, done) => store.getAndRenew(fresh.at(index), done))
  return {
    sessions: size,
    durationMs: profile.servingDurationMs,
    opsPerSec: (figures.operations * 1000) / figures.elapsedMs,
    eventLoopDelayP99Ms: figures.eventLoopDelayP99Ms,
    eventLoopDelayMaxMs: figures.eventLoopDelayMaxMs,
  }
}

/** Longer than any store's cached clock reading lives (lru-cache keeps one for 1 ms). */
const SETTLE_MS = 20

async function massExpiry(store: SessionStore): Promise<MassExpiry> {
  // A clock reading cached before the jump would make the purge see nothing due.
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  store.beforeExpiryJump()
  // Past every deadline: the latest renew happened just now, so it is due a session ttl from now.
  jumpClock(SESSION_TTL_MS + 1000)
  const watched = await watchUntilEmpty(() => store.startExpiry(), () => store.size === 0, EXPIRY_TIMEOUT_MS)
  return {
    sessions: size,
    allGoneMs: watched.emptyAfterMs,
    longestBlockMs: watched.longestBlockMs,
    mechanism: watched.emptyAfterMs === null
      ? `${store.expiryMechanism}; ${store.size.toLocaleString('en')} sessions still held ${EXPIRY_TIMEOUT_MS / 1000} s after all were due`
      : store.expiryMechanism,
  }
}

/** `lookups` of the live sessions' ids, fresh per lookup, in the random order numbered `run`. */
function lookupIds(ids: IdTable, lookups: number, run: number): FreshIds {
  const order = shuffledOrder(ids.count, 42 + run)
  return new FreshIds(Array.from({ length: lookups }, (_, position) => ids.get(order[position])))
}

async function storeFigures(kind: StoreKind): Promise<StoreFigures> {
  // Room for every session plus the key ttlcache's expiry trigger adds.
  const store = await openStore(kind, { capacity: size + 1 })
  const ids = new IdTable(size)
  const before = memoryAfterGc()
  const createOpsPerSec = await fill(store, ids)
  if (store.size !== size) throw new Error(`${kind} holds ${store.size} sessions after ${size} creates`)
  progress(`create ${rate(createOpsPerSec)}`)
  const after = memoryAfterGc()
  const fullGcMs = Math.min(fullGc(), fullGc(), fullGc())
  progress(`heap ${((after.heap - before.heap) / size).toFixed(0)} B/session, rss ${((after.rss - before.rss) / size).toFixed(0)} B/session, full GC ${fullGcMs.toFixed(1)} ms`)

  const lookups = Math.min(size, MAX_LOOKUPS)
  // Each run visits the sessions in a random order of its own, as traffic does. When every run
  // repeated one order, the runs after the first were faster on this machine's CPU for every
  // store (1.25x for both engines at 10^6), and faster still for a store that keeps its sessions
  // in a recency list, as lru-cache does and this package did before the deadline wheel (1.55x
  // for that tree): after one run the list is in visiting order, so unlinking a session fetches
  // the record of the one visited next. The old order's ids are collected outside the timing.
  let run = 0
  let fresh = lookupIds(ids, lookups, run)
  const getOpsPerSec = await medianOpsPerSec('get-and-renew', lookups, (position, done) => store.getAndRenew(fresh.at(position), done), async () => {
    // The old ids collected before the new ones are made, so that the new ones are laid out in
    // visiting order rather than in the old ones' holes (the ids are read in that order).
    fresh = new FreshIds([])
    fullGc()
    fresh = lookupIds(ids, lookups, ++run)
    fullGc()
  })
  progress(`get-and-renew ${rate(getOpsPerSec)}`)

  const destroys = Math.min(size, MAX_DESTROYS)
  let nextIndex = size
  const refill = async () => {
    const failed = await runOperations(destroys, (position, done) => {
      fresh.replace(position, store.create(nextIndex + position, done))
    })
    if (failed > 0) throw new Error(`${kind}: ${failed} re-creates failed`)
    nextIndex += destroys
  }
  const destroyOpsPerSec = await medianOpsPerSec('destroy', destroys, (position, done) => store.destroy(fresh.at(position), done), refill)
  progress(`destroy ${rate(destroyOpsPerSec)}`)

  let servingFigures: Serving | null = null
  let expiryFigures: MassExpiry | null = null
  if (size === profile.servingSize) {
    servingFigures = await serving(store, fresh)
    progress(`serving ${rate(servingFigures.opsPerSec)}, event-loop delay p99 ${servingFigures.eventLoopDelayP99Ms.toFixed(2)} ms, max ${servingFigures.eventLoopDelayMaxMs.toFixed(2)} ms`)
    expiryFigures = await massExpiry(store)
    progress(`mass expiry: all gone after ${expiryFigures.allGoneMs?.toFixed(0) ?? 'never'} ms, longest block ${expiryFigures.longestBlockMs.toFixed(1)} ms`)
  }
  store.close()
  return {
    store: kind,
    size,
    runs: RUNS,
    createOpsPerSec,
    getOpsPerSec,
    destroyOpsPerSec,
    heapBytesPerSession: (after.heap - before.heap) / size,
    rssBytesPerSession: (after.rss - before.rss) / size,
    fullGcMs,
    serving: servingFigures,
    massExpiry: expiryFigures,
    notes: [...store.notes],
  }
}

async function floorFigures(): Promise<FloorFigures> {
  const binding = require('../native/binding.js') as {
    floorProbeState(): object
    floorCopyId(state: object, id: string): number
  }
  const state = binding.floorProbeState()
  const lookups = Math.min(size, MAX_LOOKUPS)
  const fresh = new FreshIds(Array.from({ length: lookups }, () => randomBytes(16).toString('base64url')))
  // The probe returns the first byte plus the length: never 0 for a real id.
  const opsPerSec = await medianOpsPerSec('floor', lookups, (position, done) => done(binding.floorCopyId(state, fresh.at(position)) > 0))
  progress(`bare binding call ${rate(opsPerSec)}`)
  return { size, opsPerSec }
}

async function main() {
  if (!Number.isInteger(size) || size < 1) throw new Error(`sessions must be a positive integer, got ${sizeArgument}`)
  if (kindArgument === 'floor') {
    console.log(JSON.stringify({ floor: await floorFigures() }))
    return
  }
  if (kindArgument === 'wheel-native' || kindArgument === 'wheel-js') {
    const engine = kindArgument === 'wheel-native' ? 'native' : 'js'
    console.log(JSON.stringify({ wheel: await wheelFigures(engine, profile.wheel, progress) }))
    return
  }
  const kind = STORE_KINDS.find((known) => known === kindArgument)
  if (kind === undefined) throw new Error(`unknown store ${kindArgument}: expected floor or one of ${STORE_KINDS.join(', ')}`)
  console.log(JSON.stringify({ store: await storeFigures(kind) }))
}

main().then(
  // Some stores leave timers or intervals behind; the figures are out, so stop here.
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
