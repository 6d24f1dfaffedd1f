/**
 * Growth and shrinkage of one native manager (issue 15), in two modes:
 *
 * - `fill [sessions=10000000]`: creates sessions one by one (the shared ~200-byte data object of
 *   the create benchmark), timing each create (CallTimes); prints the longest a create ran
 *   (target: <= 5 ms while filling to 10^7), the slowest wall time, the most CPU time one create
 *   took, where each fell, and percentiles. A throwaway manager takes WARMUP_CREATES creates first, timed apart: a fresh process's first
 *   creates compile the create path (the first ~2.5 ms, some of the next 10^4 1-7 ms of CPU on the
 *   compiler threads, measured here) and meet its first GCs, which is not the growth the target
 *   is about. The measured manager still grows from empty.
 * - `fill-users [sessions=10000000]`: the same, each session with a user of its own (`user-<n>`),
 *   so that the per-user index grows beside the engine (`npm run bench` fills to 4.2 * 10^6, past
 *   2^22, where its pages and name tables have grown; README, Users).
 * - `fill-capped [sessions=10000000]`: the same as `fill` with `maxSessions` the fill's size, the
 *   setting README's "A production maxSessions" asks for (the JsEngine then makes its per-slot
 *   arrays that size at once).
 * - `expire [sessions=4000000]`: RSS before any session, after creating `sessions`, and after
 *   all of them expired and were closed by `sweep()` on a jumped clock, and after 0.5 s of a
 *   trickle of new sessions (target: after within 2x of before), and the time to iterate the
 *   emptied manager (a full table scan).
 *
 * Usage: node --expose-gc --import tsx bench/growth-stall.ts <fill|fill-users|fill-capped|expire> [sessions] [engine=native] [build=.]
 */
import { performance } from 'node:perf_hooks'
import { resolve } from 'node:path'
import { sessionData } from './workload'
import type { GrowthExpire, GrowthFill } from './results-schema'

const MiB = 2 ** 20
const [mode = 'fill', sessionsArgument, engine = 'native', buildArgument] = process.argv.slice(2)
const build = resolve(buildArgument ?? resolve(__dirname, '..'))
const { SessionManager } = require(resolve(build, 'dist/index.js'))
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const rss = (): number => { gc(); gc(); return process.memoryUsage.rss() / MiB }
const data = sessionData(1)

/** Creates on a throwaway manager before the measured fill (see the header). */
const WARMUP_CREATES = 100_000

/**
 * Times calls one by one: the slowest wall time (with the process's CPU time during it, read
 * only past 1 ms), the most CPU time one call took, and the longest one ran. CPU time (this
 * process, all threads) matters because on a loaded machine a call is often descheduled for
 * tens of ms, which is not work it did. The longest run is the lesser of a call's wall time and
 * that CPU time (a descheduled call has little CPU; threads running beside it add CPU only
 * while it runs): its maximum bounds the engine's slowest create on a loaded machine.
 */
class CallTimes {
  slowest = 0
  slowestAt = 0
  /** CPU time during the slowest call; undefined when that call took 1 ms or less (not read). */
  slowestCpu: number | undefined = undefined
  mostCpu = 0
  mostCpuAt = 0
  longestRun = 0
  longestRunAt = 0

  /** Runs `call` and returns its wall time in ms. */
  time(index: number, call: () => void): number {
    const cpuBefore = process.cpuUsage()
    const start = performance.now()
    call()
    const took = performance.now() - start
    let ran = took
    if (took > 1) {
      const cpu = process.cpuUsage(cpuBefore)
      const cpuMs = (cpu.user + cpu.system) / 1000
      if (cpuMs > this.mostCpu) { this.mostCpu = cpuMs; this.mostCpuAt = index }
      if (took > this.slowest) this.slowestCpu = cpuMs
      ran = Math.min(took, cpuMs)
    }
    if (ran > this.longestRun) { this.longestRun = ran; this.longestRunAt = index }
    if (took > this.slowest) {
      if (took <= 1) this.slowestCpu = undefined
      this.slowest = took
      this.slowestAt = index
    }
    return took
  }
}

if (mode === 'fill' || mode === 'fill-users' || mode === 'fill-capped') {
  const sessions = Number(sessionsArgument ?? 10_000_000)
  const withUsers = mode === 'fill-users'
  const capped = mode === 'fill-capped'
  let users = 0
  const init = withUsers ? () => ({ user: `user-${users++}`, data }) : () => ({ data })
  const warmup = new SessionManager({ engine })
  const warmupCreate = (): void => { warmup.create(init()) }
  const warmupTimes = new CallTimes()
  const warmupStart = performance.now()
  const firstCreateMs = warmupTimes.time(0, warmupCreate)
  for (let index = 1; index < WARMUP_CREATES; index++) warmupTimes.time(index, warmupCreate)
  const warmupMs = performance.now() - warmupStart
  // Kept open until the fill ends: its close() would free ~40 MB that the allocator returns to
  // the OS during one of the next creates.
  const manager = new SessionManager({ engine, ...(capped ? { maxSessions: sessions } : {}) })
  const times = new Float64Array(sessions)
  const create = (): void => { manager.create(init()) }
  const fillTimes = new CallTimes()
  for (let index = 0; index < sessions; index++) times[index] = fillTimes.time(index, create)
  warmup.close()
  times.sort()
  const at = (q: number): number => times[Math.min(sessions - 1, Math.floor(q * sessions))]
  const cpuOf = (cpu: number | undefined) => (cpu === undefined ? 'CPU not read (under 1 ms)' : `${cpu.toFixed(2)} ms CPU`)
  const { slowest, slowestAt, slowestCpu, mostCpu, mostCpuAt, longestRun, longestRunAt } = fillTimes
  console.log(`${engine} fill to ${sessions}${withUsers ? ', each session with a user of its own' : ''}${capped ? `, maxSessions ${sessions}` : ''}: the longest a create ran (the lesser of wall and CPU) ${longestRun.toFixed(2)} ms (at session ${longestRunAt}; target <= 5 ms); ` +
    `slowest create ${slowest.toFixed(2)} ms wall, ${cpuOf(slowestCpu)} (at session ${slowestAt}); ` +
    `most CPU time in one create ${mostCpu.toFixed(2)} ms (at session ${mostCpuAt}); ` +
    `p99.99 ${(at(0.9999) * 1000).toFixed(1)} µs, p99.9 ${(at(0.999) * 1000).toFixed(1)} µs, median ${(at(0.5) * 1000).toFixed(2)} µs; ` +
    `warm-up: ${WARMUP_CREATES} creates on another manager in ${warmupMs.toFixed(0)} ms, the first ${firstCreateMs.toFixed(2)} ms, ` +
    `the slowest ${warmupTimes.slowest.toFixed(2)} ms wall, the longest run ${warmupTimes.longestRun.toFixed(2)} ms`)
  const fill: GrowthFill = {
    sessions, slowestCreateMs: slowest, slowestAt, slowestCpuMs: slowestCpu, mostCpuCreateMs: mostCpu, mostCpuAt,
    longestRunMs: longestRun, longestRunAt, p9999Us: at(0.9999) * 1000, medianUs: at(0.5) * 1000,
    warmupCreates: WARMUP_CREATES, firstCreateMs, slowestWarmupCreateMs: warmupTimes.slowest, warmupLongestRunMs: warmupTimes.longestRun,
  }
  console.log(JSON.stringify({ fill }))
} else {
  void expire()
}

async function expire(): Promise<void> {
  const sessions = Number(sessionsArgument ?? 4_000_000)
  let now = 1_700_000_000_000
  const before = rss()
  const manager = new SessionManager({ engine, clock: () => now, idleTimeout: 60_000 })
  for (let index = 0; index < sessions; index++) manager.create({ data })
  const full = rss()
  now += 3_600_000
  const sweepStart = performance.now()
  while (manager.size > 0) manager.sweep()
  const sweepMs = performance.now() - sweepStart
  const afterSweep = rss()
  // A server keeps serving after a mass expiry: mimalloc gives freed pages back to the OS only
  // some ms after they were freed, on a later allocation, so measure after 0.5 s of a trickle
  // of new sessions (100 every 10 ms with a sweep each time; all closed at the end).
  for (let tick = 0; tick < 50; tick++) {
    for (let index = 0; index < 100; index++) manager.create({ data })
    await new Promise((resolve) => setTimeout(resolve, 10))
    now += 10
    manager.sweep()
  }
  now += 3_600_000
  manager.sweep()
  const after = rss()
  const scanStart = performance.now()
  let seen = 0
  for (const _session of manager) seen++
  const scanMs = performance.now() - scanStart
  console.log(`${engine} ${sessions} sessions: RSS before ${before.toFixed(0)} MiB, full ${full.toFixed(0)} MiB, after expiry ${after.toFixed(0)} MiB ` +
    `(${(after / before).toFixed(2)}x before; target <= 2x; ${afterSweep.toFixed(0)} MiB right after the sweep); sweep ${sweepMs.toFixed(0)} ms; empty-table iteration ${scanMs.toFixed(3)} ms (${seen} seen)`)
  const expired: GrowthExpire = { sessions, rssBeforeMiB: before, rssFullMiB: full, rssAfterSweepMiB: afterSweep, rssAfterMiB: after, sweepMs }
  console.log(JSON.stringify({ expire: expired }))
}
