/**
 * What an express-session store costs per read, without express-session or HTTP around it: the
 * calls express-session makes for a request with a session and a rolling cookie (`get`, then
 * `touch` with what `get` returned), `IN_FLIGHT` reads at a time as concurrent requests make
 * them, against one redis-server started here. For `express-session`'s MemoryStore,
 * connect-redis, and SessionkeeperStore in Redis mode; rounds alternate the stores, so that a
 * loaded machine slows each about alike.
 *
 *   [STORE_CALLS_ROUNDS=3] [STORE_CALLS_READS=60000] node --import tsx bench/redis/store-calls.ts
 *
 * Prints, per store and round, process CPU µs per read (user + system of this process, which runs
 * the store and its Redis client; redis-server's own CPU is not in it) and wall µs per read.
 */
import session, { type SessionData, type Store } from 'express-session'
import { RedisStore } from 'connect-redis'
import { createClient } from 'redis'
import { RedisServer } from '../../__test__/redis-fixtures'
import { SessionkeeperStore } from '../../ts/integrations/express-session'

const STORES = ['MemoryStore', 'connect-redis', 'SessionkeeperStore (Redis mode)'] as const
type StoreKind = (typeof STORES)[number]
const SESSIONS = 2000
const IN_FLIGHT = 32

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, not ${JSON.stringify(text)}`)
  return value
}

function call<T>(start: (done: (error: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))))
}

function storeOf(kind: StoreKind, client: ReturnType<typeof createClient>, prefix: string): Store {
  switch (kind) {
    case 'MemoryStore':
      return new session.MemoryStore()
    case 'connect-redis':
      return new RedisStore({ client, prefix: `${prefix}sess:` })
    case 'SessionkeeperStore (Redis mode)':
      return new SessionkeeperStore({ redis: client, prefix }) as unknown as Store
  }
}

/** What express-session stores for a logged-in user with a rolling 30-minute cookie. */
function sessionRecord(index: number): SessionData {
  return {
    cookie: { originalMaxAge: 1_800_000, expires: new Date(Date.now() + 1_800_000), httpOnly: true, path: '/', sameSite: 'lax' },
    user: `user-${index}`,
    theme: 'dark',
    cart: `sku-${index}:2`,
  } as unknown as SessionData
}

async function measure(kind: StoreKind, redis: RedisServer, reads: number, round: number): Promise<{ cpu: number; wall: number }> {
  const client = createClient({ url: redis.url })
  client.on('error', () => {})
  await client.connect()
  const store = storeOf(kind, client, `calls${round}:`)
  try {
    for (let index = 0; index < SESSIONS; index++) await call<void>((done) => store.set(`sid-${index}`, sessionRecord(index), done))
    const readAll = async (count: number) => {
      await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, lane) => {
        for (let index = lane; index < count; index += IN_FLIGHT) {
          const sid = `sid-${(index * 7919) % SESSIONS}`
          const found = await call<SessionData | null | undefined>((done) => store.get(sid, done))
          if (found == null) throw new Error(`${kind}: ${sid} not found`)
          // express-session's types give touch's callback no error argument; stores pass one.
          await call<void>((done) => store.touch!(sid, found, done as () => void))
        }
      }))
    }
    // Every session read once (a near cache filled, as on a server that has served them), then timed.
    await readAll(SESSIONS * 2)
    const cpu = process.cpuUsage()
    const started = performance.now()
    await readAll(reads)
    const wall = performance.now() - started
    const used = process.cpuUsage(cpu)
    return { cpu: (used.user + used.system) / reads, wall: (wall * 1000) / reads }
  } finally {
    await (store as unknown as { close?: () => Promise<void> }).close?.()
    await client.quit().catch(() => {})
  }
}

async function main(): Promise<void> {
  const rounds = positiveInteger('STORE_CALLS_ROUNDS', 3)
  const reads = positiveInteger('STORE_CALLS_READS', 60_000)
  const redis = await RedisServer.start()
  try {
    console.log(`| store | round | CPU µs per read (get + touch) | wall µs per read, ${IN_FLIGHT} in flight |`)
    console.log('|---|---:|---:|---:|')
    for (let round = 1; round <= rounds; round++) {
      for (const kind of STORES) {
        const { cpu, wall } = await measure(kind, redis, reads, round)
        console.log(`| ${kind} | ${round} | ${cpu.toFixed(1)} | ${wall.toFixed(1)} |`)
      }
    }
  } finally {
    await redis.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
