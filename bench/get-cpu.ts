/**
 * Get-and-renew of one build, in CPU time per call: the figure to compare builds by on a loaded
 * machine, where wall time mostly measures the other processes. Fills a manager with the
 * benchmark's ~200-byte sessions, then looks each one up five times over with a fresh id string
 * in a fixed random order, and prints the median run's CPU ns per call, the fastest run's, and
 * the process's RSS (and how much of it is in transparent huge pages).
 *
 * Usage: node --import tsx bench/get-cpu.ts <native|js> [sessions=1000000] [build=.]
 * Alternate two builds in one shell loop to compare them.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { FreshIds, median, sessionData, shuffledOrder } from './workload'

const [engine = 'native', sessionsArgument, buildArgument] = process.argv.slice(2)
const sessions = Number(sessionsArgument ?? 1_000_000)
const build = resolve(buildArgument ?? resolve(__dirname, '..'))
const { SessionManager } = require(resolve(build, 'dist/index.js'))
const RUNS = 5

function cpuNs(run: () => void): number {
  const before = process.cpuUsage()
  run()
  const { user, system } = process.cpuUsage(before)
  return (user + system) * 1000
}

const manager = new SessionManager({ engine, idleTimeout: 1_800_000 })
const ids: string[] = new Array(sessions)
const createNs = cpuNs(() => {
  for (let index = 0; index < sessions; index++) ids[index] = manager.create({ data: sessionData(index) }).id
}) / sessions
const order = shuffledOrder(sessions)
const fresh = new FreshIds(Array.from({ length: sessions }, (_, position) => ids[order[position]]))
ids.length = 0
const runs: number[] = []
for (let run = 0; run < RUNS; run++) {
  let found = 0
  runs.push(cpuNs(() => {
    for (let position = 0; position < sessions; position++) if (manager.get(fresh.at(position)) !== undefined) found++
  }) / sessions)
  if (found !== sessions) throw new Error(`${sessions - found} of ${sessions} lookups missed`)
}
const memory = readFileSync('/proc/self/smaps_rollup', 'utf8')
const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(memory)?.[1] ?? NaN)
console.log(JSON.stringify({
  build,
  engine,
  sessions,
  createCpuNs: Math.round(createNs),
  getCpuNs: Math.round(median(runs)),
  fastestGetCpuNs: Math.round(Math.min(...runs)),
  rssMiB: Math.round(kib('Rss') / 1024),
  hugePagesMiB: Math.round(kib('AnonHugePages') / 1024),
}))
manager.close()
