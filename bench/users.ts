/**
 * The per-user index (issue 18), for one engine, in its own process, among `sessions` live
 * sessions of which a tenth belong to users of 10 sessions each:
 * - `closeUser` of a user with 10 sessions (each call timed alone; the user's 10 sessions are
 *   made again, untimed, before the next);
 * - what the index adds to a create with a user: the index's own work per session (file under
 *   the user, drop on close) against a whole `create({ user, data })` + `close()` (~200 bytes of
 *   data, as every create of the benchmark), in alternating runs;
 * - `get` (renewing) of sessions with a user and of as many anonymous ones, spread over the table
 *   alike, in alternating runs: the index is not on the get path, so the two should not differ.
 * Prints one JSON line, `{ "users": UserIndexFigures }`. Progress goes to stderr.
 * Usage: node --expose-gc --import tsx bench/users.ts <native|js> <profile>
 */
import { performance } from 'node:perf_hooks'
import { type Session, SessionManager } from '../ts/index'
import { UserIndex } from '../ts/user-index'
import { profileNamed } from './profiles'
import type { UserIndexFigures } from './results-schema'
import { fullGc, median, sessionData, shuffledOrder } from './workload'

const RUNS = 5
const SIZES = {
  full: { sessions: 1_000_000, calls: 200_000, closeUsers: 2000 },
  quick: { sessions: 100_000, calls: 100_000, closeUsers: 1000 },
  smoke: { sessions: 2000, calls: 10_000, closeUsers: 100 },
} as const
const PER_USER = 10

const [engineArgument, profileArgument] = process.argv.slice(2)

function log(line: string): void {
  process.stderr.write(`  [users ${engineArgument}] ${line}\n`)
}

function main(): void {
  const engine = engineArgument === 'native' || engineArgument === 'js' ? engineArgument : undefined
  if (engine === undefined) throw new Error(`engine must be native or js, got ${engineArgument}`)
  const { sessions: size, calls, closeUsers } = SIZES[profileNamed(profileArgument)]
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

  // Create with a user: the whole call (with its close, so the table stays at `size`) against
  // the index's own work for one session, alternating runs so drift in load hits both alike.
  const createSamples: number[] = []
  const indexSamples: number[] = []
  const index = new UserIndex()
  // The index as large as the manager's: one entry per session with a user.
  for (let entry = 0; entry < withUser.length; entry++) index.set(2 ** 30 + entry, `user-${entry % users}`)
  const batch = Math.min(calls, 50_000)
  // The names made once, so that neither loop times building strings.
  const names = Array.from({ length: users }, (_, user) => `user-${user}`)
  // With the ~200 bytes of data every create of the benchmark carries.
  const inits = names.map((user, at) => ({ user, data: sessionData(at) }))
  for (let run = 0; run < RUNS; run++) {
    fullGc()
    let started = performance.now()
    for (let call = 0; call < batch; call++) manager.create(inits[call % users]).close()
    createSamples.push(((performance.now() - started) * 1e6) / batch)
    started = performance.now()
    for (let call = 0; call < batch; call++) {
      index.set(call, names[call % users])
      index.remove(call)
    }
    indexSamples.push(((performance.now() - started) * 1e6) / batch)
  }
  const createWithUserNs = median(createSamples)
  const indexNs = median(indexSamples)
  log(`create({ user, data }) + close: ${createWithUserNs.toFixed(0)} ns; the index's share: ${indexNs.toFixed(0)} ns (${((indexNs / createWithUserNs) * 100).toFixed(1)}%)`)

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
    createWithUserNs,
    indexNs,
    getWithUserNs,
    getAnonymousNs,
  }
  console.log(JSON.stringify({ users: figures }))
}

if (require.main === module) main()
