/**
 * Class method vs free function over an External, on the pinned napi-rs: each copies a fresh
 * 22-character id string into a stack buffer and returns a number. Run: npm run bench:call-shape
 */
import { randomBytes } from 'node:crypto'

const binding = require('../native/binding.js') as {
  FloorProbe: new () => { copyId(id: string): number }
  floorProbeState(): object
  floorCopyId(state: object, id: string): number
}

const ROUNDS = 7
const CALLS = 2_000_000
const ids = Array.from({ length: 4096 }, () => randomBytes(16).toString('base64url'))

// A fresh string per call, as a cookie header gives it: slicing a longer string makes a new one.
const source = ids.map((id) => `${id}.`)
const fresh = (index: number): string => source[index & 4095].slice(0, 22)

function time(label: string, call: (id: string) => number): number {
  let best = Infinity
  let sink = 0
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let index = 0; index < CALLS; index++) sink += call(fresh(index))
    best = Math.min(best, Number(process.hrtime.bigint() - start) / CALLS)
  }
  if (sink === 42) console.log('')
  console.log(`${label.padEnd(44)} ${best.toFixed(1)} ns/call (best of ${ROUNDS})`)
  return best
}

const probe = new binding.FloorProbe()
const state = binding.floorProbeState()
const baseline = time('fresh id string only (no crossing)', (id) => id.length)
const method = time('class method  probe.copyId(id)', (id) => probe.copyId(id))
const free = time('free function floorCopyId(state, id)', (id) => binding.floorCopyId(state, id))
console.log(`crossing cost: class method ${(method - baseline).toFixed(1)} ns, free function ${(free - baseline).toFixed(1)} ns`)
