/**
 * npm run bench: the native engine and the JsEngine side by side, at 10^5 and 10^6 sessions,
 * with the floor (a bare binding call copying a fresh id) and lru-cache on the same workload.
 * Every figure comes from a fresh child process per engine and size.
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number)
const kinds = ['floor', 'lru-cache', 'js', 'native'] as const

type Figures = Record<string, number> & { kind: string; size: number }

function measure(kind: string, size: number): Figures {
  const output = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', join(__dirname, 'engine-worker.ts'), kind, String(size)], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(output.trim().split('\n').pop() as string)
}

const fmt = (value: number | undefined, digits = 0) => value === undefined ? '-' : value.toFixed(digits)
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`

console.log(`sessionkeeper engine benchmark: node ${process.version}, ${process.platform}-${process.arch}, ${new Date().toISOString()}`)
for (const size of sizes) {
  const results = Object.fromEntries(kinds.map((kind) => [kind, measure(kind, size)])) as Record<(typeof kinds)[number], Figures>
  const { native, js, floor } = results
  const lru = results['lru-cache']
  console.log(`\n${size.toLocaleString('en')} live sessions, ~200 bytes of string data each (median of 5 runs where timed repeatedly)`)
  console.log('| figure | native | js | native vs js |')
  console.log('|---|---|---|---|')
  console.log(`| create with id generation (ns/op) | ${fmt(native.createNs)} | ${fmt(js.createNs)} | ${ratio(js.createNs, native.createNs)} faster |`)
  console.log(`| get-and-renew, fresh id string (ns/op) | ${fmt(native.getNs)} | ${fmt(js.getNs)} | ${ratio(js.getNs, native.getNs)} faster |`)
  console.log(`| destroy (ns/op) | ${fmt(native.destroyNs)} | ${fmt(js.destroyNs)} | ${ratio(js.destroyNs, native.destroyNs)} faster |`)
  console.log(`| JS heap per session after GC (bytes) | ${fmt(native.heapPerSession, 1)} | ${fmt(js.heapPerSession, 1)} | |`)
  console.log(`| RSS per session (bytes) | ${fmt(native.rssPerSession)} | ${fmt(js.rssPerSession)} | |`)
  console.log(`| full GC pause, all live (ms) | ${fmt(native.gcPauseMs, 2)} | ${fmt(js.gcPauseMs, 2)} | |`)
  console.log(`| mass expiry: all gone after (ms) | ${fmt(native.expiryMs)} | ${fmt(js.expiryMs)} | |`)
  console.log(`| mass expiry: longest event-loop block (ms) | ${fmt(native.expiryLongestBlockMs, 2)} | ${fmt(js.expiryLongestBlockMs, 2)} | |`)
  console.log(`floor (bare binding call copying a fresh id): ${fmt(floor.getNs)} ns; native get = ${ratio(native.getNs, floor.getNs)} of floor`)
  console.log(`lru-cache get (ttl, updateAgeOnGet): ${fmt(lru.getNs)} ns; js engine is ${ratio(lru.getNs, js.getNs)} lru-cache's speed, native ${ratio(lru.getNs, native.getNs)}`)
}
