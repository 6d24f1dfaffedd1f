/**
 * What SessionkeeperStore's finding of the record a @fastify/session request loaded costs
 * (ts/integrations/fastify-session-loads.ts): per request, the Session @fastify/session makes
 * from the store's answer, alone and with the answer's cookie marked and the save's lookup of
 * that mark. A 6-property session; the two loops alternate three times.
 *
 * Usage: node bench/shipped.cjs bench/fastify-loads.ts [requests=200000]
 */
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { fastifyCookieOptions, fastifyLoadIn, markFastifyLoad } from '../ts/integrations/fastify-session-loads'

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
  for (let index = 0; index < requests; index++) new Session({}, {}, () => 'new', {}, signer, JSON.parse(record) as object, `sid${index & 1023}`)
  return ((performance.now() - start) * 1e3) / requests
}

function restoreMarked(): number {
  const start = performance.now()
  for (let index = 0; index < requests; index++) {
    const sid = `sid${index & 1023}`
    const answer = JSON.parse(record) as object
    markFastifyLoad(answer, sid, record)
    const session = new Session({}, {}, () => 'new', {}, signer, answer, sid)
    if (fastifyLoadIn(fastifyCookieOptions(session)!, sid) !== record) throw new Error('a save did not find its load')
  }
  return ((performance.now() - start) * 1e3) / requests
}

for (let round = 0; round < 3; round++) {
  const alone = restoreOnly()
  const marked = restoreMarked()
  console.log(`Session per request ${alone.toFixed(2)} µs; with the answer marked and the save's lookup ${marked.toFixed(2)} µs: ${(marked - alone).toFixed(2)} µs a request`)
}
