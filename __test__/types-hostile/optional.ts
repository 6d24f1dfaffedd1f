// Checked by __test__/hostile-data.spec.ts against the sources (ts/), under strict. Each
// expected error below must be one: an unused directive fails the check.
import { SessionManager } from '../../ts/index'

interface Data {
  visits: number
  cart?: { sku: string; qty: number }[]
  theme?: 'dark' | 'light'
}

const manager = new SessionManager<Data>({ engine: 'js' })
const session = manager.create()

// An optional key takes its values without a cast...
session.set('cart', [{ sku: 'book', qty: 1 }])
session.set('theme', 'dark')
const cart: { sku: string; qty: number }[] | undefined = session.get('cart')
// ...but never undefined, which set refuses at run time (delete removes a key).
// @ts-expect-error: undefined is not a JSON value
session.set('cart', undefined)
// @ts-expect-error: nor for a union of literals
session.set('theme', undefined)
session.delete('cart')

// The untyped manager: any key, any JSON value, never undefined.
const untyped = new SessionManager().create()
// @ts-expect-error: undefined is not a JSON value
untyped.set('x', undefined)

export { cart }
