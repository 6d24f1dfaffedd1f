/**
 * One engine at one size, in its own process so heaps never mix. Prints one JSON line.
 * Usage: node --expose-gc --import tsx bench/engine-worker.ts <native|js|lru-cache|floor> <sessions>
 */
import { LRUCache } from 'lru-cache'
import { SessionManager } from '../ts/index'
import { freshIds, fullGc, longestBlock, medianNsPerOp, sessionData, shuffledOrder } from './workload'

const RUNS = 5
const [kind, sizeText] = process.argv.slice(2)
const size = Number(sizeText)
const operations = Math.min(size, 1_000_000)

/**
 * Median ns per lookup over `operations` ids, a fresh id string per call in a fixed random
 * order, the same loop for every store; `lookup` says whether it found the id, and a miss fails
 * the run (a benchmark that stops finding its sessions measures nothing).
 */
function medianLookupNs(label: string, ids: string[], lookup: (id: string) => boolean): number {
  const order = shuffledOrder(ids.length)
  const fresh = freshIds(ids)
  let found = 0
  const ns = medianNsPerOp(RUNS, operations, () => {
    for (let index = 0; index < operations; index++) if (lookup(fresh(order[index]))) found++
  })
  if (found !== RUNS * operations) throw new Error(`${label} lookups missed: ${RUNS * operations - found}`)
  return ns
}

function heapUsed(): number {
  fullGc()
  fullGc()
  return process.memoryUsage().heapUsed
}

async function engineFigures(engine: 'native' | 'js') {
  let now = 1_700_000_000_000
  const manager = new SessionManager({ engine, idleTimeout: 60_000, clock: () => now, resolution: 1 })
  const heapBefore = heapUsed()
  const createNs = medianNsPerOp(1, size, () => {
    for (let index = 0; index < size; index++) manager.create({ data: sessionData(index) })
  })
  const heapPerSession = (heapUsed() - heapBefore) / size
  const gcPauseMs = Math.min(fullGc(), fullGc(), fullGc())
  const ids = Array.from(manager, (session) => session.id)
  const getNs = medianLookupNs(engine, ids, (id) => manager.get(id) !== undefined)
  const order = shuffledOrder(ids.length)
  const fresh = freshIds(ids)
  const destroyCount = Math.min(operations, 100_000)
  const destroyNs = medianNsPerOp(1, destroyCount, () => {
    for (let index = 0; index < destroyCount; index++) manager.destroy(fresh(order[index]))
  })
  // Refill what destroy removed (outside any timing), then let everything expire at once.
  for (let index = 0; index < destroyCount; index++) manager.create({ data: sessionData(index) })
  // Everything falls due at once. The background timer, not a manual sweep, must do the work:
  // it waits in real time for the deadline it knows, so one live session's idle timeout is cut
  // to 1 ms through the public setter (which re-arms the timer at once), then the fake clock
  // jumps past every deadline.
  const first = manager[Symbol.iterator]().next().value
  if (first === undefined) throw new Error('no session left to expire')
  first.idleTimeout = 1
  now += 60_000
  const block = await longestBlock(() => manager.size === 0, 120_000)
  const result = {
    createNs, getNs, destroyNs, heapPerSession, gcPauseMs,
    expiryMs: block.elapsedMs, expiryLongestBlockMs: block.longestMs, leftAfterExpiry: manager.size,
  }
  manager.close()
  return result
}

function lruCacheFigures() {
  const cache = new LRUCache<string, Record<string, string>>({ max: size, ttl: 60_000, updateAgeOnGet: true })
  const ids: string[] = []
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto')
  for (let index = 0; index < size; index++) {
    const id = randomBytes(16).toString('base64url')
    ids.push(id)
    cache.set(id, sessionData(index))
  }
  return { getNs: medianLookupNs('lru-cache', ids, (id) => cache.get(id) !== undefined) }
}

function floorFigures() {
  const binding = require('../native/binding.js') as {
    floorProbeState(): object
    floorCopyId(state: object, id: string): number
  }
  const state = binding.floorProbeState()
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto')
  const ids = Array.from({ length: size }, () => randomBytes(16).toString('base64url'))
  // The probe returns the first byte plus the length: never 0 for a real id.
  return { getNs: medianLookupNs('floor', ids, (id) => binding.floorCopyId(state, id) > 0) }
}

async function main() {
  const figures = kind === 'native' || kind === 'js' ? await engineFigures(kind)
    : kind === 'lru-cache' ? lruCacheFigures()
    : kind === 'floor' ? floorFigures()
    : undefined
  if (figures === undefined) throw new Error(`unknown kind ${kind}`)
  console.log(JSON.stringify({ kind, size, ...figures, rssPerSession: process.memoryUsage().rss / size }))
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
