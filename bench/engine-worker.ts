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
  const order = shuffledOrder(ids.length)
  const fresh = freshIds(ids)
  let found = 0
  const getNs = medianNsPerOp(RUNS, operations, () => {
    for (let index = 0; index < operations; index++) {
      if (manager.get(fresh(order[index])) !== undefined) found++
    }
  })
  if (found !== RUNS * operations) throw new Error(`lookups missed: ${found}`)
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
  const order = shuffledOrder(ids.length)
  const fresh = freshIds(ids)
  let found = 0
  const getNs = medianNsPerOp(RUNS, operations, () => {
    for (let index = 0; index < operations; index++) {
      if (cache.get(fresh(order[index])) !== undefined) found++
    }
  })
  if (found !== RUNS * operations) throw new Error(`lru-cache lookups missed: ${found}`)
  return { getNs }
}

function floorFigures() {
  const binding = require('../native/binding.js') as {
    floorProbeState(): object
    floorCopyId(state: object, id: string): number
  }
  const state = binding.floorProbeState()
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto')
  const ids = Array.from({ length: size }, () => randomBytes(16).toString('base64url'))
  const order = shuffledOrder(ids.length)
  const fresh = freshIds(ids)
  let sink = 0
  const getNs = medianNsPerOp(RUNS, operations, () => {
    for (let index = 0; index < operations; index++) sink += binding.floorCopyId(state, fresh(order[index]))
  })
  if (sink === 0) throw new Error('floor probe did nothing')
  return { getNs }
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
