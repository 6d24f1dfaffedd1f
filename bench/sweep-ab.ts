/**
 * Sweep speed of two source trees, A/B: `node --import tsx bench/sweep-ab.ts <treeA> <treeB>
 * [pairs] [sessions] [engines]` (engines: `native,js` by default). Each tree is a checkout with its native binding built
 * (`native/binding.js`). Every measurement runs in a process of its own, alternating A and B
 * (whichever tree loads second in one process runs slower, so one process never loads both), and
 * the result is the median of the B/A ratios of the pairs. Per process: `sessions` sessions with
 * deadlines spread over 1000 wheel ticks are created, then all expire at once and are swept in
 * batches of 256 as the Registry does: through `sweepRelease` (freed inside the engine) and
 * through `sweep` plus `release` (handed back, as when a close listener is registered). Times are
 * CPU time per session, the median of a process's rounds.
 */
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'

const BATCH = 256
const ROUNDS = 9

interface Sample { engine: string; sweepReleaseNs: number; sweepNs: number }

async function child(tree: string, engineName: 'native' | 'js', sessions: number): Promise<void> {
  const config = { idBytes: 16, idEncoding: 'base64url' as const, keys: 'random' as const, maxDataBytes: Infinity, resolution: 1000 }
  const make = async () => {
    if (engineName === 'js') {
      const { JsEngine } = await import(resolve(tree, 'ts/js-engine/engine.ts'))
      return new JsEngine(config)
    }
    const { NativeEngine } = await import(resolve(tree, 'ts/native-engine.ts'))
    return new NativeEngine(require(resolve(tree, 'native/binding.js')), config)
  }
  const engine = await make()
  const out = new Float64Array(BATCH)
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]
  const release: number[] = []
  const handBack: number[] = []
  let now = 0
  for (let round = 0; round < ROUNDS * 2; round++) {
    const start = now
    for (let index = 0; index < sessions; index++) engine.create(start, 1_000_000 + (index % 1000) * 1000, 0)
    // Half a second after the last deadline: lags spread from 0.5 s to 1000 s, over the buckets.
    now = start + 2_000_500
    // CPU time, not wall time: on a loaded machine a process waits for a core, and that wait is
    // not the sweep's cost.
    const began = process.cpuUsage()
    let swept = 0
    if (round % 2 === 0) {
      for (;;) {
        const batch = engine.sweepRelease(now, BATCH)
        swept += batch
        if (batch < BATCH && !(engine.nextDeadline() <= now)) break
      }
    } else {
      for (;;) {
        const batch = engine.sweep(now, out)
        for (let index = 0; index < batch; index++) engine.release(out[index])
        swept += batch
        if (batch < BATCH && !(engine.nextDeadline() <= now)) break
      }
    }
    const used = process.cpuUsage(began)
    const ns = ((used.user + used.system) * 1000) / swept
    if (swept !== sessions) throw new Error(`swept ${swept} of ${sessions}`)
    // The first round of each kind warms the code up.
    if (round >= 2) (round % 2 === 0 ? release : handBack).push(ns)
  }
  const sample: Sample = { engine: engineName, sweepReleaseNs: median(release), sweepNs: median(handBack) }
  console.log(JSON.stringify(sample))
}

function run(tree: string, engine: string, sessions: number): Sample {
  const result = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', tree, engine, String(sessions)], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${tree} ${engine}: ${result.stderr}`)
  return JSON.parse(result.stdout.trim().split('\n').pop() as string) as Sample
}

if (process.argv[2] === '--child') {
  void child(process.argv[3], process.argv[4] as 'native' | 'js', Number(process.argv[5]))
} else {
  const [treeA, treeB] = [resolve(process.argv[2]), resolve(process.argv[3])]
  const pairs = Number(process.argv[4] ?? 8)
  const sessions = Number(process.argv[5] ?? 100_000)
  for (const engine of (process.argv[6] ?? 'native,js').split(',')) {
    const ratios = { sweepRelease: [] as number[], sweep: [] as number[] }
    const lines: string[] = []
    for (let pair = 0; pair < pairs; pair++) {
      // Alternate which tree goes first, so neither always runs on a cooler or hotter machine.
      let a: Sample
      let b: Sample
      if (pair % 2 === 0) {
        a = run(treeA, engine, sessions)
        b = run(treeB, engine, sessions)
      } else {
        b = run(treeB, engine, sessions)
        a = run(treeA, engine, sessions)
      }
      ratios.sweepRelease.push(b.sweepReleaseNs / a.sweepReleaseNs)
      ratios.sweep.push(b.sweepNs / a.sweepNs)
      lines.push(`  A ${a.sweepReleaseNs.toFixed(1)} / ${a.sweepNs.toFixed(1)} ns, B ${b.sweepReleaseNs.toFixed(1)} / ${b.sweepNs.toFixed(1)} ns`)
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]
    const range = (values: number[]) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`
    console.log(`${engine}: ${sessions} sessions, ${pairs} pairs (sweepRelease / sweep+release, ns per session):`)
    for (const line of lines) console.log(line)
    console.log(`  B/A median: sweepRelease ${median(ratios.sweepRelease).toFixed(3)} (range ${range(ratios.sweepRelease)}), sweep ${median(ratios.sweep).toFixed(3)} (range ${range(ratios.sweep)})`)
  }
}
