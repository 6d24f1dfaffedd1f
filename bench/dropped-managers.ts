/**
 * Managers dropped without `close()` (issue 15): `managers` SessionManagers of `sessions`
 * sessions each (~200 bytes of data per session), each dropped once filled, one event-loop turn
 * between managers as a server would give, and no `gc()` anywhere: what is freed is what V8
 * chooses to collect. Each engine runs in its own process; prints the RSS after the last
 * manager and the peak, sampled after every manager.
 *
 * The sessions have no deadline (`idleTimeout: 0`): a manager whose sessions are due later is
 * reachable from its own unref'd expiry timer until that fires, by design (its sessions still
 * expire and its close listeners still run), so it is not garbage before then in either engine.
 *
 * Usage: node --import tsx bench/dropped-managers.ts [managers=3000] [sessions=1000] [build=.]
 * `build` is a directory holding a built `dist/` and `native/` (to measure another build).
 */
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import type { DroppedManagers } from './results-schema'
import { sessionData } from './workload'

interface Run { engine: string; finalRssMiB: number; peakRssMiB: number; seconds: number }

const MiB = 2 ** 20

async function child(build: string, engine: string, managers: number, sessions: number): Promise<void> {
  const { SessionManager } = require(resolve(build, 'dist/index.js'))
  const started = process.uptime()
  let peak = 0
  for (let m = 0; m < managers; m++) {
    const manager = new SessionManager({ engine, idleTimeout: 0 })
    for (let index = 0; index < sessions; index++) manager.create({ data: sessionData(m * sessions + index) })
    if (process.env.DROPPED_NO_YIELD !== '1') await new Promise((resolve) => setImmediate(resolve))
    peak = Math.max(peak, process.memoryUsage.rss())
  }
  const run: Run = {
    engine, finalRssMiB: process.memoryUsage.rss() / MiB, peakRssMiB: peak / MiB, seconds: process.uptime() - started,
  }
  process.stdout.write(`${JSON.stringify(run)}\n`)
}

function parent(managers: number, sessions: number, build: string): void {
  const runs = ['js', 'native'].map((engine) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, '--child', build, engine, String(managers), String(sessions)], {
      encoding: 'utf8', maxBuffer: 1 << 20,
    })
    const run = JSON.parse(out.trim().split('\n').pop() as string) as Run
    console.log(`${run.engine}: RSS ${run.finalRssMiB.toFixed(0)} MiB after the last manager, peak ${run.peakRssMiB.toFixed(0)} MiB (${run.seconds.toFixed(1)} s)`)
    return run
  })
  const [js, native] = runs
  console.log(`${managers} managers x ${sessions} sessions dropped, no gc(): native/js peak RSS ${(native.peakRssMiB / js.peakRssMiB).toFixed(2)}x, final ${(native.finalRssMiB / js.finalRssMiB).toFixed(2)}x (target <= 2x)`)
  const dropped: DroppedManagers = {
    managers, sessions, nativeFinalRssMiB: native.finalRssMiB, nativePeakRssMiB: native.peakRssMiB, jsFinalRssMiB: js.finalRssMiB, jsPeakRssMiB: js.peakRssMiB,
  }
  console.log(JSON.stringify({ dropped }))
}

const args = process.argv.slice(2)
if (args[0] === '--child') void child(args[1], args[2], Number(args[3]), Number(args[4]))
else parent(Number(args[0] ?? 3000), Number(args[1] ?? 1000), resolve(args[2] ?? resolve(__dirname, '..')))
