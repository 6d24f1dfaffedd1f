/**
 * Do the native engine's memory reports cause full GCs on their own (issue 15)? One manager
 * creates `sessions` sessions (the shared ~200-byte data object of the create benchmark) in a
 * child run with `--trace-gc --trace-incremental-marking`; every Mark-Compact of its main isolate
 * is counted, and those V8 started for "external memory pressure" (the reports) apart. Such a GC cannot free a live engine, so the
 * target is none.
 *
 * Usage: node --import tsx bench/external-gc.ts [sessions=4000000] [build=.]
 * `build` is a directory holding a built `dist/` and `native/` (to measure another build).
 */
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import type { ExternalGc } from './results-schema'
import { sessionData } from './workload'

function child(build: string, sessions: number): void {
  const { SessionManager } = require(resolve(build, 'dist/index.js'))
  const manager = new SessionManager({ engine: 'native' })
  const data = sessionData(1)
  for (let index = 0; index < sessions; index++) manager.create({ data })
  process.stdout.write(`created ${manager.size} rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB\n`)
  process.exit(0)
}

function parent(sessions: number, build: string): void {
  const out = execFileSync(process.execPath, ['--trace-gc', '--trace-incremental-marking', '--import', 'tsx', __filename, '--child', build, String(sessions)], {
    encoding: 'utf8', maxBuffer: 256 << 20,
  })
  const lines = out.split('\n')
  // Lines start with [pid:isolate]; the main isolate is the one that scavenges most (tsx runs
  // its loader in a second isolate). A mark-compact's own line names only how its marking
  // ended; the reason it was started is on the "[IncrementalMarking] Start (reason)" line, or on
  // the line of a mark-compact done at once.
  const isolateOf = (line: string): string => /^\[\d+:(0x[0-9a-f]+)\]/.exec(line)?.[1] ?? ''
  const scavenges = new Map<string, number>()
  for (const line of lines) if (line.includes('Scavenge')) scavenges.set(isolateOf(line), (scavenges.get(isolateOf(line)) ?? 0) + 1)
  const main = [...scavenges].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ''
  const mine = lines.filter((line) => isolateOf(line) === main)
  const markCompacts = mine.filter((line) => line.includes('Mark-Compact'))
  const byReports = mine.filter((line) =>
    (line.includes('Mark-Compact') || line.includes('[IncrementalMarking] Start')) && line.includes('external memory pressure'))
  for (const line of markCompacts) console.log(line.trim())
  console.log(lines.find((line) => line.startsWith('created')) ?? '')
  console.log(`${sessions} sessions, main isolate ${main}: ${markCompacts.length} mark-compacts, ${byReports.length} started for external memory pressure (target 0)`)
  const externalGc: ExternalGc = { sessions, markCompacts: markCompacts.length, byMemoryReports: byReports.length }
  console.log(JSON.stringify({ externalGc }))
}

const args = process.argv.slice(2)
if (args[0] === '--child') child(args[1], Number(args[2]))
else parent(Number(args[0] ?? 4_000_000), resolve(args[1] ?? resolve(__dirname, '..')))
