// An ES module consumer of typed session data, checked by __test__/types.spec.ts (against
// dist/, through the package's own "exports") and by `npm run check:package` (against the
// installed tarball). Every @ts-expect-error must be an error: an unused one fails the check.
import { type JsonValue, type Session, SessionManager } from 'sessionkeeper'
import { type SessionRequest, sessionMiddleware } from 'sessionkeeper/express'
import { SessionkeeperStore } from 'sessionkeeper/express-session'
import { sessionFor } from 'sessionkeeper/http'

interface ShopData {
  visits: number
  cart?: { sku: string; qty: number }[]
  theme: 'dark' | 'light'
  flags: { beta: boolean; note: string | null }
}

const manager = new SessionManager<ShopData>({ engine: 'js' })
const session: Session<ShopData> = manager.create({ data: { visits: 0, theme: 'dark' } })

// Right types need no cast.
const visits: number | undefined = session.get('visits')
session.set('visits', (visits ?? 0) + 1)
session.set('cart', [{ sku: 'book', qty: 2 }])
session.get('cart')?.push({ sku: 'pen', qty: 1 })
session.set('flags', { beta: true, note: null })
const theme: 'dark' | 'light' | undefined = manager.get(session.id)?.get('theme')

// Wrong types are errors.
// @ts-expect-error: visits is a number
session.set('visits', '1')
// @ts-expect-error: not one of the theme's values
session.set('theme', 'blue')
// @ts-expect-error: no such key
session.set('vists', 1)
// @ts-expect-error: qty is a number
session.set('cart', [{ sku: 'book', qty: '2' }])
// @ts-expect-error: visits is a number, not a string
const wrong: string | undefined = session.get('visits')
// @ts-expect-error: init.data is typed too
manager.create({ data: { visits: 'many' } })

// A data type that is not JSON does not make a manager.
// @ts-expect-error: a Date is not a JSON value
new SessionManager<{ at: Date }>()
// @ts-expect-error: nor a function
new SessionManager<{ run: () => void }>()
// @ts-expect-error: nor a bigint
new SessionManager<{ big: bigint }>()

// Listeners, current() and iteration carry the data type.
manager.on('close', (closed) => {
  const count: number | undefined = closed.get('visits')
  void count
})
const current: Session<ShopData> | undefined = manager.current()
for (const live of manager) live.set('visits', 1)

// The integrations follow the manager: keep names data keys.
const middleware = sessionMiddleware(manager, { secret: 'a-secret-of-at-least-thirty-two-characters' })
const handle = (request: SessionRequest<ShopData>) => {
  request.startSession({ user: 'ada', keep: ['cart'], data: { visits: 0, theme: 'light' } })
  // @ts-expect-error: keep names keys of ShopData
  request.startSession({ keep: ['carts'] })
  const n: number | undefined = request.session?.get('visits')
  return n
}
const sessions = sessionFor(manager, { secret: 'a-secret-of-at-least-thirty-two-characters' })

// An untyped manager holds any JSON value under any key.
const untyped = new SessionManager()
const any = untyped.create({ data: { a: 1, b: [true, null, { c: 'd' }] } })
any.set('x', { nested: [1, 'two'] })
const value: JsonValue | undefined = any.get('x')
// @ts-expect-error: undefined is not a JSON value
any.set('x', undefined)
// @ts-expect-error: a Map is not a JSON value
any.set('x', new Map())

// express-session's store is unaffected.
const store = new SessionkeeperStore()

export { visits, theme, wrong, current, middleware, handle, sessions, value, store }
