/**
 * The per-user index (issue 18), for one engine, in its own process, among `sessions` live
 * sessions of which a tenth belong to users of 10 sessions each:
 * - `closeUser` of a user with 10 sessions (each call timed alone; the user's 10 sessions are
 *   made again, untimed, before the next);
 * - what the index adds to a `create({ user, data })` and its `close()` (~200 bytes of data, as
 *   every create of the benchmark): runs with the index and runs with its methods made no-ops,
 *   alternating, in three patterns (closed at once; kept while others are made; kept, each its
 *   user's only session), the median of the pairs' ratios against issue 18's goal of 5%;
 * - `get` (renewing) of sessions with a user and of as many anonymous ones, spread over the table
 *   alike, in alternating runs: the index is not on the get path, so the two should not differ.
 * Prints one JSON line, `{ "users": UserIndexFigures }`. Progress goes to stderr.
 * Usage: node --expose-gc --import tsx bench/users.ts <native|js> <profile>
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { type Session, SessionManager } from '../ts/index'
import { UserIndex } from '../ts/user-index'
import { profileNamed } from './profiles'
import type { UserIndexFigures } from './results-schema'
import { fullGc, median, sessionData, shuffledOrder } from './workload'

const RUNS = 5
/** Creates per run of the with/without A/B. */
const BATCH = 20_000
const SIZES = {
  full: { sessions: 1_000_000, calls: 200_000, closeUsers: 2000, pairs: 10 },
  quick: { sessions: 100_000, calls: 100_000, closeUsers: 1000, pairs: 6 },
  smoke: { sessions: 2000, calls: 10_000, closeUsers: 100, pairs: 2 },
} as const
const PER_USER = 10

const [engineArgument, profileArgument] = process.argv.slice(2)

function log(line: string): void {
  process.stderr.write(`  [users ${engineArgument}] ${line}\n`)
}

/**
 * Makes the index's methods that a create or a close calls do nothing (`off`), or restores them.
 * Sessions made while it is off are closed while it is off, so the index stays whole.
 */
const indexMethods = (() => {
  const prototype = UserIndex.prototype
  return { set: prototype.set, remove: prototype.remove, count: prototype.count }
})()
function indexOff(off: boolean): void {
  const prototype = UserIndex.prototype
  prototype.set = off ? () => {} : indexMethods.set
  prototype.remove = off ? () => {} : indexMethods.remove
  prototype.count = off ? () => 0 : indexMethods.count
}

const SCHEDSTAT = `/proc/${process.pid}/task/${process.pid}/schedstat`
/**
 * Nanoseconds the main thread has run (Linux: the first field of its schedstat), or where that
 * cannot be read, wall time. On a loaded machine wall time counts the preemptions (on the 2-core
 * machine of issue 18, at load 10, a create took 4x its quiet time), and the process's CPU time
 * counts V8's helper threads (concurrent marking, compilers), which doubled the denominator.
 */
const MAIN_THREAD_CPU = (() => {
  try {
    // The main thread has run by now: a kernel that keeps no such count would read 0.
    return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) > 0
  } catch {
    return false
  }
})()
const clockNs = MAIN_THREAD_CPU ? () => Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) : () => performance.now() * 1e6

function main(): void {
  const engine = engineArgument === 'native' || engineArgument === 'js' ? engineArgument : undefined
  if (engine === undefined) throw new Error(`engine must be native or js, got ${engineArgument}`)
  const { sessions: size, calls, closeUsers, pairs } = SIZES[profileNamed(profileArgument)]
  const manager = new SessionManager({ engine, idleTimeout: 3600_000 })
  const users = Math.floor(size / 10 / PER_USER)
  const withUser: Session[] = []
  const anonymous: Session[] = []
  for (let index = 0; index < size; index++) {
    // Every tenth session is a user's, users of PER_USER sessions each, spread over the table.
    if (index % 10 === 0 && withUser.length < users * PER_USER) {
      withUser.push(manager.create({ user: `user-${withUser.length % users}`, data: sessionData(index) }))
    } else {
      anonymous.push(manager.create({ data: sessionData(index) }))
    }
  }
  log(`${size.toLocaleString('en')} sessions, ${users.toLocaleString('en')} users of ${PER_USER}`)

  // closeUser: each call alone, median and p99 of `closeUsers` calls.
  const closeSamples: number[] = []
  for (let call = 0; call < closeUsers; call++) {
    const user = `user-${call % users}`
    const started = performance.now()
    const closed = manager.closeUser(user)
    closeSamples.push((performance.now() - started) * 1000)
    if (closed !== PER_USER) throw new Error(`closeUser(${user}) closed ${closed}, not ${PER_USER}`)
    for (let index = 0; index < PER_USER; index++) manager.create({ user, data: sessionData(index) })
  }
  closeSamples.sort((a, b) => a - b)
  const closeUserUs = median(closeSamples)
  const closeUserP99Us = closeSamples[Math.min(closeSamples.length - 1, Math.floor(closeSamples.length * 0.99))]
  log(`closeUser of ${PER_USER} among ${size.toLocaleString('en')}: median ${closeUserUs.toFixed(1)} µs, p99 ${closeUserP99Us.toFixed(1)} µs`)

  // Create with a user (and its close), with and without the index: in alternate runs the
  // index's methods that a create or a close calls are no-ops, so each pair of runs differs by
  // the index's whole cost, the cache misses it causes to the rest of the create included (timing
  // its work alone undercounted them about fourfold). Three patterns, each in its own pairs:
  // - `now`: create, then close at once (the session's slot, and its index record, are reused
  //   by the next create);
  // - `kept`: a batch of creates whose sessions stay while the rest of the batch is made, then
  //   their closes, oldest first: sessions that outlive each other, as real ones do;
  // - `fresh`: as `kept`, each session its user's only one (users of 1 session, as most are: a
  //   login of someone with no other session; the users above have 10 each).
  // Timed by the main thread's CPU time where Linux tells it (see clockNs), else wall time.
  const batch = Math.min(calls, BATCH)
  const names = Array.from({ length: users }, (_, user) => `user-${user}`)
  // With the ~200 bytes of data every create of the benchmark carries.
  const inits = names.map((user, at) => ({ user, data: sessionData(at) }))
  const freshInits = Array.from({ length: batch }, (_, at) => ({ user: `fresh-${at}`, data: sessionData(at) }))
  const kept = new Array<Session>(batch)
  const patterns = {
    now: (): void => {
      for (let call = 0; call < batch; call++) manager.create(inits[call % users]).close()
    },
    kept: (): void => {
      for (let call = 0; call < batch; call++) kept[call] = manager.create(inits[(call * 7) % users])
      for (let call = 0; call < batch; call++) kept[call].close()
    },
    fresh: (): void => {
      for (let call = 0; call < batch; call++) kept[call] = manager.create(freshInits[call])
      for (let call = 0; call < batch; call++) kept[call].close()
    },
  }
  const abFigures = (pattern: () => void): { withNs: number; withoutNs: number; share: number } => {
    const withSamples: number[] = []
    const withoutSamples: number[] = []
    const ratios: number[] = []
    for (let run = 0; run < 2 * pairs; run++) {
      const without = run % 2 === 1
      indexOff(without)
      fullGc()
      const started = clockNs()
      pattern()
      const ns = (clockNs() - started) / batch
      if (without) {
        withoutSamples.push(ns)
        ratios.push(withSamples[withSamples.length - 1] / ns)
      } else {
        withSamples.push(ns)
      }
    }
    indexOff(false)
    return { withNs: median(withSamples), withoutNs: median(withoutSamples), share: median(ratios) - 1 }
  }
  const now = abFigures(patterns.now)
  const keptAb = abFigures(patterns.kept)
  const fresh = abFigures(patterns.fresh)
  for (const [label, figures] of [['create + close at once', now], ['creates kept, then closed', keptAb], ['the same, users of 1 session', fresh]] as const) {
    log(`${label}: ${figures.withNs.toFixed(0)} ns with the index, ${figures.withoutNs.toFixed(0)} without: +${(figures.share * 100).toFixed(1)}% (median of ${pairs} alternating pairs, ${MAIN_THREAD_CPU ? 'main thread CPU' : 'wall'} time)`)
  }

  // get (renewing) by id, sessions with a user against anonymous ones, alternating runs.
  const userIds: string[] = []
  for (let user = 0; user < users; user++) for (const session of manager.sessionsOf(`user-${user}`)) userIds.push(session.id)
  // As many anonymous sessions as users' ones, spread over the table alike, so both sets of
  // gets touch memory the same way.
  const stride = Math.max(1, Math.floor(anonymous.length / userIds.length))
  const anonymousIds = anonymous.filter((_, at) => at % stride === 0).slice(0, userIds.length).map((session) => session.id)
  const userOrder = shuffledOrder(userIds.length)
  const anonymousOrder = shuffledOrder(anonymousIds.length)
  const getUserSamples: number[] = []
  const getAnonymousSamples: number[] = []
  let misses = 0
  const timeGets = (ids: string[], order: Uint32Array): number => {
    fullGc()
    const started = performance.now()
    for (let call = 0; call < calls; call++) {
      // A fresh string per call, as an id parsed from a cookie is.
      if (manager.get(ids[order[call % order.length]].slice(0)) === undefined) misses++
    }
    return ((performance.now() - started) * 1e6) / calls
  }
  for (let run = 0; run < RUNS; run++) {
    getUserSamples.push(timeGets(userIds, userOrder))
    getAnonymousSamples.push(timeGets(anonymousIds, anonymousOrder))
  }
  if (misses > 0) throw new Error(`${misses} gets missed`)
  const getWithUserNs = median(getUserSamples)
  const getAnonymousNs = median(getAnonymousSamples)
  log(`get: with a user ${getWithUserNs.toFixed(0)} ns, anonymous ${getAnonymousNs.toFixed(0)} ns`)
  manager.close()
  const figures: UserIndexFigures = {
    store: engine,
    sessions: size,
    perUser: PER_USER,
    closeUserUs,
    closeUserP99Us,
    createWithUserNs: now.withNs,
    createWithoutIndexNs: now.withoutNs,
    indexShare: now.share,
    keptWithUserNs: keptAb.withNs,
    keptWithoutIndexNs: keptAb.withoutNs,
    keptIndexShare: keptAb.share,
    freshWithUserNs: fresh.withNs,
    freshWithoutIndexNs: fresh.withoutNs,
    freshIndexShare: fresh.share,
    abPairs: pairs,
    abClock: MAIN_THREAD_CPU ? 'main thread CPU' : 'wall',
    getWithUserNs,
    getAnonymousNs,
  }
  console.log(JSON.stringify({ users: figures }))
}

if (require.main === module) main()
