/**
 * Where the time of a get-and-renew goes, through the public API, for one engine: the evidence
 * behind issue 15's get targets. In one process, rounds rotating the order of the variants:
 * - `get`: `manager.get` of the full table's sessions (~200-byte data), a fresh id string per
 *   call in a random order, as `npm run bench` times it: index and session record are cache
 *   misses at 10^6;
 * - `getHot`: the same calls over 1,024 of those ids only, which stay in the cache: the fixed
 *   part of a call (the facade, the crossing and the engine's work without misses);
 * - `getOne`: `get` on a manager of one session;
 * - `loop`: the loop itself (the fresh id string and the call of `Date.now()` every get makes).
 * `get - getHot` is what the misses cost; `getHot - loop` the fixed part. Run it for both engines
 * (alternating processes) and compare: at 10^6 the misses are most of a get for either engine,
 * and the native engine's fixed part carries the N-API crossing and the id's copy.
 *
 * Usage: node bench/shipped.cjs bench/get-layers.ts <native|js> [sessions=1000000] [rounds=5]
 * Prints one JSON line: median and fastest wall ns per call of each variant, and the derived split.
 */
import { performance } from 'node:perf_hooks'
import { SessionManager } from '../ts/index'
import { FreshIds, median, sessionData, shuffledOrder } from './workload'

const [engineArgument = 'native', sessionsArgument = '1000000', roundsArgument = '5'] = process.argv.slice(2)
if (engineArgument !== 'native' && engineArgument !== 'js') throw new Error(`engine must be native or js, got ${engineArgument}`)
const engine: 'native' | 'js' = engineArgument
const sessions = Number(sessionsArgument)
const rounds = Number(roundsArgument)
if (!Number.isSafeInteger(sessions) || sessions < 1024) throw new RangeError(`sessions must be an integer of at least 1024, got ${sessionsArgument}`)
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer, got ${roundsArgument}`)
/** Calls per timed run of a variant. */
const CALLS = 1_000_000
const HOT = 1024

const manager = new SessionManager({ engine, idleTimeout: 1_800_000 })
const ids: string[] = new Array(sessions)
for (let index = 0; index < sessions; index++) ids[index] = manager.create({ data: sessionData(index) }).id
const order = shuffledOrder(sessions)
const fresh = new FreshIds(Array.from({ length: sessions }, (_, position) => ids[order[position]]))
const hot = new FreshIds(Array.from({ length: HOT }, (_, position) => ids[order[position]]))
ids.length = 0
const single = new SessionManager({ engine, idleTimeout: 1_800_000 })
const one = new FreshIds([single.create({ data: sessionData(7) }).id])
let sink = 0

function found(count: number): void {
  if (count !== CALLS) throw new Error(`${CALLS - count} of ${CALLS} gets missed`)
}

// Each variant its own function, so that each has its own type feedback.
const variants: Record<string, () => void> = {
  get() {
    let hits = 0
    for (let call = 0; call < CALLS; call++) if (manager.get(fresh.at(call % sessions)) !== undefined) hits++
    found(hits)
  },
  getHot() {
    let hits = 0
    for (let call = 0; call < CALLS; call++) if (manager.get(hot.at(call & (HOT - 1))) !== undefined) hits++
    found(hits)
  },
  getOne() {
    let hits = 0
    for (let call = 0; call < CALLS; call++) if (single.get(one.at(0)) !== undefined) hits++
    found(hits)
  },
  loop() {
    for (let call = 0; call < CALLS; call++) sink += fresh.at(call % sessions).length + (Date.now() & 1)
  },
}

const names = Object.keys(variants)
const samples = new Map(names.map((name) => [name, [] as number[]]))
for (const name of names) variants[name]() // compiled before anything is timed
for (let round = 0; round < rounds; round++) {
  for (let at = 0; at < names.length; at++) {
    const name = names[(at + round) % names.length]
    const started = performance.now()
    variants[name]()
    samples.get(name)!.push(((performance.now() - started) * 1e6) / CALLS)
  }
}
const medianNs = (name: string) => median(samples.get(name)!)
const figures: Record<string, unknown> = { engine, sessions, rounds }
for (const name of names) figures[name] = { medianNs: Math.round(medianNs(name)), fastestNs: Math.round(Math.min(...samples.get(name)!)) }
figures.missesNs = Math.round(medianNs('get') - medianNs('getHot'))
figures.fixedNs = Math.round(medianNs('getHot') - medianNs('loop'))
console.log(JSON.stringify(figures))
if (sink === 0.5) console.log('')
manager.close()
single.close()
