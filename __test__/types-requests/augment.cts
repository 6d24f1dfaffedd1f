// augment.mts as CommonJS (nodenext).
// (`sessionkeeper/express/types`): no cast in any handler. Checked by __test__/typed-requests.spec.ts
// as an ES module and (augment.cts, augment-node10.ts) as CommonJS under nodenext and node10.
// Every @ts-expect-error must be an error: an unused one fails the check.
import express = require("express")
import { SessionManager } from 'sessionkeeper'
import { sessionMiddleware } from 'sessionkeeper/express'
import type {} from 'sessionkeeper/express/types'

declare module 'sessionkeeper/express/types' {
  interface RequestSessionData {
    visits: number
    theme?: 'dark' | 'light'
  }
}

const manager = new SessionManager<{ visits: number; theme?: 'dark' | 'light' }>()
const app = express()
app.use(sessionMiddleware(manager, { secret: 'x'.repeat(32) }))
app.post('/login', (req, res) => {
  const session = req.startSession({ user: 'alice', data: { visits: 0 }, keep: ['theme'] })
  res.json({ id: session.id })
})
app.get('/', (req, res) => {
  const visits: number | undefined = req.session?.get('visits')
  req.session?.set('visits', (visits ?? 0) + 1)
  // @ts-expect-error: visits is a number
  req.session?.set('visits', 'one')
  // @ts-expect-error: no such key
  req.session?.get('vists')
  res.send(req.session ? `hello ${req.session.user}` : 'please log in')
})
app.post('/logout', (req, res) => {
  req.session?.close()
  res.redirect(303, '/')
})
export { app }
