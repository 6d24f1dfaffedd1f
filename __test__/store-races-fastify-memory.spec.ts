/**
 * @fastify/session over SessionkeeperStore with `rolling: false`: requests that only read their
 * session never save, and the store keeps nothing of what it answered them once they end (the
 * record rides on the request's own Session). The first way of matching kept copies of those
 * records, 126 MiB of JS heap here after the sessions were gone (a hostile review's case, stop 43).
 */
import test from 'ava'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { racingFastify } from './store-race-fastify-app'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = () => {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

test('page views of sessions that are then destroyed leave no copies of their records on the JS heap (rolling: false) [native]', async (t) => {
  const store = new SessionkeeperStore({ managerOptions: { engine: 'native' } })
  const racing = await racingFastify(store, { rolling: false })
  try {
    const cookies: string[] = []
    for (let i = 0; i < 2000; i++) {
      const response = await racing.app.inject({ method: 'POST', url: '/big/16' })
      const set = response.headers['set-cookie']
      cookies.push(String(Array.isArray(set) ? set[0] : set).split(';')[0])
    }
    const before = heap()
    // Four page views per session: they read it, change nothing, and so never save.
    for (let round = 0; round < 4; round++) {
      for (const cookie of cookies) await racing.app.inject({ method: 'GET', url: '/whoami', headers: { cookie } })
    }
    // Every session ends (logout, expiry): nothing of theirs needs keeping.
    await new Promise<void>((resolve, reject) => store.clear((error) => (error ? reject(error) : resolve())))
    t.is(store.manager.size, 0)
    const retained = heap() - before
    t.log(`JS heap retained after the sessions ended: ${(retained / 2 ** 20).toFixed(1)} MiB`)
    t.true(retained < 16 * 2 ** 20, `${(retained / 2 ** 20).toFixed(1)} MiB of ended sessions' records kept`)
  } finally {
    await racing.close()
    store.close()
  }
})
