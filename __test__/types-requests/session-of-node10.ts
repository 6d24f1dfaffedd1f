// session-of.mts with module commonjs, moduleResolution node10 (the subpaths through typesVersions).
import express from 'express'
import type { SessionOptions } from 'express-session'
import { type Session, SessionManager } from 'sessionkeeper'
import { sessionMiddleware, sessionOf, startSession } from 'sessionkeeper/express'

interface ShopData {
  visits: number
  cart?: { sku: string; qty: number }[]
}

const manager = new SessionManager<ShopData>()
const app = express()
app.use(sessionMiddleware(manager, { secret: 'x'.repeat(32) }))
app.post('/login', (req, res) => {
  const session: Session<ShopData> = startSession<ShopData>(req, { user: 'alice', keep: ['cart'] })
  // @ts-expect-error: keep names data keys
  startSession<ShopData>(req, { keep: ['cat'] })
  res.json({ id: session.id })
})
app.get('/', (req, res) => {
  const session = sessionOf<ShopData>(req)
  const visits: number | undefined = session?.get('visits')
  session?.set('visits', (visits ?? 0) + 1)
  // @ts-expect-error: visits is a number
  session?.set('visits', 'one')
  res.send(session ? `hello ${session.user}` : 'please log in')
})
app.get('/untyped', (req, res) => {
  res.json(sessionOf(req)?.get('anything') ?? null)
})
const unused: SessionOptions | undefined = undefined
export { app, unused }
