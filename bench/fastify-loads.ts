/**
 * What SessionkeeperStore's matching of a @fastify/session save to the record its request loaded
 * costs (ts/integrations/fastify-session-loads.ts): per request, the Session @fastify/session
 * makes from the store's answer, alone and with the store's keeping of the answer and matching of
 * the save. 1,024 sids, a 6-property session; the two loops alternate three times.
 *
 * Usage: node bench/shipped.cjs bench/fastify-loads.ts [requests=200000]
 */
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { FastifyLoads } from '../ts/integrations/fastify-session-loads'

type SessionClass = new (store: object, request: object, ids: () => string, cookie: object, signer: object, previous?: object, sid?: string) => object
const Session = createRequire(require.resolve('@fastify/session'))('./lib/session.js') as SessionClass
const signer = { sign: (value: string) => `${value}.signature` }
const record = JSON.stringify({
  cookie: { originalMaxAge: 60_000, expires: new Date().toISOString(), httpOnly: true, path: '/' },
  user: 'ann', cart: ['book', 'pen'], theme: 'dark', locale: 'en-GB', visits: 42,
})
const requests = Number(process.argv[2] ?? 200_000)

function restoreOnly(): number {
  const start = performance.now()
  for (let index = 0; index < requests; index++) new Session({}, {}, () => 'new', {}, signer, JSON.parse(record), `sid${index & 1023}`)
  return ((performance.now() - start) * 1e3) / requests
}

function restoreAndMatch(loads: FastifyLoads): number {
  const start = performance.now()
  for (let index = 0; index < requests; index++) {
    const sid = `sid${index & 1023}`
    loads.answered(sid, record)
    const session = new Session({}, {}, () => 'new', {}, signer, JSON.parse(record), sid)
    if (loads.baseOf(sid, session) === undefined) throw new Error('a save did not find its load')
  }
  return ((performance.now() - start) * 1e3) / requests
}

const loads = new FastifyLoads()
// The first save seen from @fastify/session turns the keeping on.
loads.baseOf('warm', new Session({}, {}, () => 'new', {}, signer, JSON.parse(record), 'warm'))
for (let round = 0; round < 3; round++) {
  const alone = restoreOnly()
  const matched = restoreAndMatch(loads)
  console.log(`Session per request ${alone.toFixed(2)} µs; with the store's keeping and matching ${matched.toFixed(2)} µs: +${(matched - alone).toFixed(2)} µs a request`)
}
