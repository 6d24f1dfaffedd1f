/**
 * node:cluster with 3 workers and one redis-server (AOF, appendfsync always), over HTTP: what
 * one worker does is what every worker sees, expiry closes each session once across workers,
 * and neither a killed worker nor a killed redis-server loses an acknowledged change.
 */
import test from 'ava'
import cluster, { type Worker } from 'node:cluster'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { join } from 'node:path'
import { request } from 'node:http'
import { freePort, RedisServer } from './redis-fixtures'

const SECOND = 1000

interface Cluster {
  url: string
  workers: Worker[]
  closes: { id: string; reason: string; worker: number }[]
  hanging: number[]
  redis: RedisServer
  prefix: string
  fork(): Promise<Worker>
  stop(): Promise<void>
}

async function startCluster(idleTimeout: number): Promise<Cluster> {
  const redis = await RedisServer.start({ aof: true })
  const port = await freePort()
  const prefix = `c-${randomUUID()}:`
  cluster.setupPrimary({ exec: join(__dirname, 'redis-cluster-worker.ts'), execArgv: ['--import=tsx'], silent: false })
  const state: Cluster = {
    url: `http://127.0.0.1:${port}`,
    workers: [],
    closes: [],
    hanging: [],
    redis,
    prefix,
    async fork() {
      const worker = cluster.fork({ REDIS_URL: redis.url, REDIS_PREFIX: prefix, IDLE_TIMEOUT: String(idleTimeout), PORT: String(port) })
      worker.on('message', (message: Record<string, any>) => {
        if (typeof message.close === 'string') state.closes.push({ id: message.close, reason: message.reason, worker: worker.id })
        if (typeof message.hanging === 'number') state.hanging.push(message.hanging)
      })
      const [message] = await once(worker, 'message') as [Record<string, unknown>]
      if (typeof message.listening !== 'number') throw new Error(`worker did not start: ${JSON.stringify(message)}`)
      state.workers.push(worker)
      return worker
    },
    async stop() {
      await Promise.all(state.workers.filter((worker) => !worker.isDead()).map(async (worker) => {
        const exited = once(worker, 'exit')
        worker.process.kill('SIGKILL')
        await exited
      }))
      await redis.stop()
    },
  }
  for (let index = 0; index < 3; index++) await state.fork()
  return state
}

interface Reply {
  status: number
  body: Record<string, any>
  cookie: string | undefined
}

/**
 * One request on a connection of its own (agent: false), so the primary's round robin spreads
 * requests over the workers. Rejects when the connection drops without an answer.
 */
function call(url: string, path: string, cookie?: string, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method, agent: false, headers: cookie === undefined ? {} : { cookie } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('error', reject)
      res.on('end', () => {
        try {
          const setCookie = res.headers['set-cookie']?.[0]
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, any>, cookie: setCookie?.split(';')[0] })
        } catch (error) {
          reject(error)
        }
      })
    })
    req.on('error', reject)
    req.end()
  })
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.serial('a login on one worker is seen by all; after the logout response no worker serves it', async (t) => {
  const state = await startCluster(60 * SECOND)
  try {
    const login = await call(state.url, '/login?user=alice')
    t.is(login.status, 200)
    const servedBy = new Set<number>([login.body.pid])
    for (let round = 0; round < 60 && servedBy.size < 3; round++) {
      const seen = await call(state.url, '/', login.cookie, 'GET')
      t.is(seen.body.user, 'alice')
      servedBy.add(seen.body.pid)
    }
    t.is(servedBy.size, 3)
    const logout = await call(state.url, '/logout', login.cookie)
    t.is(logout.status, 200)
    const after = new Set<number>()
    for (let round = 0; round < 30; round++) {
      const seen = await call(state.url, '/', login.cookie, 'GET')
      t.is(seen.body.id, null)
      after.add(seen.body.pid)
    }
    t.is(after.size, 3)
  } finally {
    await state.stop()
  }
})

test.serial('10^3 sessions expiring produce exactly 10^3 close events across the workers', async (t) => {
  const state = await startCluster(2 * SECOND)
  try {
    const ids = new Set<string>()
    const logins: Promise<void>[] = []
    for (let index = 0; index < 1000; index++) {
      logins.push(call(state.url, `/login?user=u${index}`).then((login) => { ids.add(login.body.id) }))
      if (logins.length >= 32) await Promise.all(logins.splice(0))
    }
    await Promise.all(logins)
    t.is(ids.size, 1000)
    for (let wait = 0; wait < 600 && state.closes.length < 1000; wait++) await pause(100)
    // Time for a duplicate to show, if there were any.
    await pause(3 * SECOND)
    t.is(state.closes.length, 1000)
    t.is(new Set(state.closes.map((close) => close.id)).size, 1000)
    t.true(state.closes.every((close) => close.reason === 'expired' && ids.has(close.id)))
  } finally {
    await state.stop()
  }
})

test.serial('a worker killed mid-request loses nothing: the other workers serve the session with every acknowledged write', async (t) => {
  const state = await startCluster(60 * SECOND)
  try {
    const login = await call(state.url, '/login?user=bob')
    for (let value = 1; value <= 5; value++) t.is((await call(state.url, `/set?key=k${value}&value=v${value}`, login.cookie)).status, 200)
    const hung = call(state.url, '/hang', login.cookie)
    hung.catch(() => {})
    for (let wait = 0; wait < 400 && state.hanging.length === 0; wait++) await pause(25)
    const victim = state.workers.find((worker) => worker.process.pid === state.hanging[0]) as Worker
    t.truthy(victim)
    const exited = once(victim, 'exit')
    victim.process.kill('SIGKILL')
    await exited
    await t.throwsAsync(hung)
    const servedBy = new Set<number>()
    for (let round = 0; round < 20; round++) {
      const seen = await call(state.url, '/', login.cookie, 'GET')
      t.is(seen.body.user, 'bob')
      for (let value = 1; value <= 5; value++) t.is(seen.body.data[`k${value}`], `v${value}`)
      t.is(seen.body.data.pending, 'written before the kill')
      servedBy.add(seen.body.pid)
    }
    t.false(servedBy.has(victim.process.pid as number))
  } finally {
    await state.stop()
  }
})

test.serial('redis-server killed (SIGKILL) and restarted under load: requests fail cleanly meanwhile, recover after, no acknowledged change lost', async (t) => {
  const state = await startCluster(60 * SECOND)
  try {
    const login = await call(state.url, '/login?user=carol')
    const acknowledged: string[] = []
    const failures = new Set<string>()
    let stop = false
    let sent = 0
    const load = (async () => {
      const inFlight: Promise<void>[] = []
      while (!stop && sent < 20_000) {
        const key = `w${sent++}`
        inFlight.push(call(state.url, `/set?key=${key}&value=${key}`, login.cookie).then((reply) => {
          if (reply.status === 200 && reply.body.data[key] === key) acknowledged.push(key)
          else failures.add(`${reply.status}:${reply.body.code}`)
        }, () => { failures.add('connection') }))
        if (inFlight.length >= 8) await Promise.all(inFlight.splice(0))
      }
      await Promise.all(inFlight)
    })()
    for (let wait = 0; wait < 400 && acknowledged.length < 50; wait++) await pause(25)
    await state.redis.kill()
    await pause(1500)
    const duringOutage = acknowledged.length
    await state.redis.restart()
    for (let wait = 0; wait < 600 && acknowledged.length < duringOutage + 50; wait++) await pause(25)
    stop = true
    await load
    t.true(acknowledged.length >= duringOutage + 50, 'requests succeed again after the restart, with no worker restarted')
    t.true(failures.has('503:ERR_REDIS_UNAVAILABLE'), `failures seen: ${[...failures].join(', ')}`)
    t.false(failures.has('connection'), 'no request was dropped without an answer')
    t.is(state.workers.filter((worker) => worker.isDead()).length, 0)
    const final = await call(state.url, '/', login.cookie, 'GET')
    t.is(final.body.user, 'carol')
    const lost = acknowledged.filter((key) => final.body.data[key] !== key)
    t.deepEqual(lost, [])
  } finally {
    await state.stop()
  }
})
