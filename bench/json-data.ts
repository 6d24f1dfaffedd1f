/**
 * The cost of JSON session data (issue 12), for one engine, in its own process: `get` and `set`
 * of a string value (the fast path: stored as itself) against a JSON value, an object of five
 * fields of about the same size, on sessions that hold ~200 bytes of string data each. Prints one
 * JSON line, `{ "jsonData": JsonDataFigures }`. Progress goes to stderr.
 * Usage: node --expose-gc --import tsx bench/json-data.ts <native|js> <profile>
 */
import { performance } from 'node:perf_hooks'
import { type Session, SessionManager } from '../ts/index'
import { profileNamed } from './profiles'
import type { JsonDataFigures } from './results-schema'
import { fullGc, median, sessionData, shuffledOrder } from './workload'

const RUNS = 5
/** Sessions held, and calls timed per run, by profile: the codec's cost does not grow with the table. */
const SIZES = {
  full: { sessions: 100_000, calls: 1_000_000 },
  quick: { sessions: 100_000, calls: 100_000 },
  smoke: { sessions: 2000, calls: 20_000 },
} as const

const [engineArgument, profileArgument] = process.argv.slice(2)

/** The JSON value: an object of five fields, ~200 bytes as JSON text, different per session. */
export function profileValue(index: number): { user: string; visits: number; admin: boolean; locale: string; cart: { sku: string; qty: number }[] } {
  return {
    user: `user-${index}`,
    visits: index % 1000,
    admin: index % 7 === 0,
    locale: 'en-GB',
    cart: [
      { sku: `sku-${index % 9973}`, qty: 2 },
      { sku: `sku-${index % 7919}`, qty: 1 },
      { sku: `sku-${index % 104729}`, qty: 5 },
    ],
  }
}

/** A string of the JSON value's length: what the string fast path stores instead. */
function stringValue(index: number): string {
  return JSON.stringify(profileValue(index))
}

/** Median ns per call of RUNS runs of `calls` calls, visiting sessions in a fixed random order. */
function nsPerCall(label: string, calls: number, order: Uint32Array, call: (slot: number) => unknown): number {
  const samples: number[] = []
  let sink = 0
  for (let run = 0; run < RUNS; run++) {
    fullGc()
    const started = performance.now()
    for (let index = 0; index < calls; index++) {
      if (call(order[index % order.length]) !== undefined) sink++
    }
    samples.push(((performance.now() - started) * 1e6) / calls)
  }
  if (sink === 0) throw new Error(`${label}: every call returned undefined`)
  const ns = median(samples)
  process.stderr.write(`  [json-data ${engineArgument}] ${label}: ${ns.toFixed(0)} ns/call\n`)
  return ns
}

function main(): void {
  const engine = engineArgument === 'native' || engineArgument === 'js' ? engineArgument : undefined
  if (engine === undefined) throw new Error(`engine must be native or js, got ${engineArgument}`)
  const { sessions: size, calls } = SIZES[profileNamed(profileArgument)]
  const manager = new SessionManager({ engine, idleTimeout: 3600_000 })
  const sessions: Session[] = []
  for (let index = 0; index < size; index++) {
    const session = manager.create({ data: sessionData(index) })
    session.set('profile', profileValue(index))
    session.set('text', stringValue(index))
    sessions.push(session)
  }
  const order = shuffledOrder(size)
  const objects = Array.from({ length: size }, (_, index) => profileValue(index + 1))
  const strings = Array.from({ length: size }, (_, index) => stringValue(index + 1))
  // Interleaved, string then JSON, so drift in the machine's load hits both alike.
  const getStringNs = nsPerCall('get, string value', calls, order, (slot) => sessions[slot].get('text'))
  const getJsonNs = nsPerCall('get, object of five fields', calls, order, (slot) => sessions[slot].get('profile'))
  const setStringNs = nsPerCall('set, string value', calls, order, (slot) => sessions[slot].set('text', strings[slot]) || undefined)
  const setJsonNs = nsPerCall('set, object of five fields', calls, order, (slot) => sessions[slot].set('profile', objects[slot]) || undefined)
  manager.close()
  const figures: JsonDataFigures = {
    store: engine,
    sessions: size,
    calls,
    valueBytes: Buffer.byteLength(stringValue(size - 1)),
    getStringNs,
    getJsonNs,
    setStringNs,
    setJsonNs,
  }
  console.log(JSON.stringify({ jsonData: figures }))
}

if (require.main === module) main()
