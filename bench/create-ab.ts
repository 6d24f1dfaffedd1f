/**
 * Create speed, A/B between two builds (issue 15): `manager.create({ data })` in a plain loop
 * with one shared 5-entry, ~200-byte data object, each build in its own process (whichever loads
 * second in one process runs slower, so in-process A/B measures load order), the order
 * alternating pair by pair so drifting machine load hits both alike.
 *
 * Usage: node --import tsx bench/create-ab.ts <buildA> <buildB> [engine=native] [sessions=1000000] [pairs=4]
 * A build is a directory holding a built `dist/` and `native/` (a clone after `npm run build`).
 * Prints one line per run and, per pair, B's speed over A's; the geometric mean last.
 */
import { execFileSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { resolve } from 'node:path'
import { sessionData } from './workload'

interface Run { build: string; usPerCreate: number; chunkMedianUs: number; slowestChunkUs: number }

function child(build: string, engine: string, sessions: number): void {
  const { SessionManager } = require(resolve(build, 'dist/index.js'))
  const data = sessionData(1)
  const warm = new SessionManager({ engine })
  for (let index = 0; index < 20_000; index++) warm.create({ data })
  warm.close()
  const manager = new SessionManager({ engine })
  const chunks = 10
  const perChunk = Math.ceil(sessions / chunks)
  const chunkUs: number[] = []
  const start = performance.now()
  for (let chunk = 0; chunk < chunks; chunk++) {
    const chunkStart = performance.now()
    for (let index = 0; index < perChunk; index++) manager.create({ data })
    chunkUs.push(((performance.now() - chunkStart) * 1000) / perChunk)
  }
  const usPerCreate = ((performance.now() - start) * 1000) / (perChunk * chunks)
  const sorted = [...chunkUs].sort((a, b) => a - b)
  const run: Run = { build, usPerCreate, chunkMedianUs: sorted[chunks >> 1], slowestChunkUs: sorted[chunks - 1] }
  process.stdout.write(`${JSON.stringify(run)}\n`)
  // Exit without closing 10^6 sessions: the figure is taken.
  process.exit(0)
}

function parent(buildA: string, buildB: string, engine: string, sessions: number, pairs: number): void {
  const runOne = (build: string): Run => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--child', build, engine, String(sessions)], {
      encoding: 'utf8', maxBuffer: 1 << 20,
    })
    const run = JSON.parse(out.trim().split('\n').pop() as string) as Run
    console.log(`${build === buildA ? 'A' : 'B'} ${run.usPerCreate.toFixed(3)} µs/create (chunk median ${run.chunkMedianUs.toFixed(3)}, slowest chunk ${run.slowestChunkUs.toFixed(3)})`)
    return run
  }
  const ratios: number[] = []
  for (let pair = 0; pair < pairs; pair++) {
    const order = pair % 2 === 0 ? [buildA, buildB] : [buildB, buildA]
    const runs = order.map(runOne)
    const a = runs.find((run) => run.build === buildA) as Run
    const b = runs.find((run) => run.build === buildB) as Run
    ratios.push(a.usPerCreate / b.usPerCreate)
    console.log(`pair ${pair + 1}: B is ${ratios[pair].toFixed(2)}x A's create speed`)
  }
  const geometricMean = Math.exp(ratios.reduce((sum, ratio) => sum + Math.log(ratio), 0) / ratios.length)
  console.log(`A=${buildA} B=${buildB} engine=${engine} sessions=${sessions}: B/A speed ${ratios.map((r) => r.toFixed(2)).join(', ')}; geometric mean ${geometricMean.toFixed(2)}`)
}

const args = process.argv.slice(2)
if (args[0] === '--child') child(args[1], args[2], Number(args[3]))
else parent(resolve(args[0]), resolve(args[1]), args[2] ?? 'native', Number(args[3] ?? 1_000_000), Number(args[4] ?? 4))
