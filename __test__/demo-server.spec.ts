import test from 'ava'
import type { AddressInfo } from 'node:net'
import { SessionManager } from '../ts/index'
import { createDemoServer } from '../examples/server'

test('the demo server logs in, counts visits, guards the admin page and logs out over real HTTP', async (t) => {
  const manager = new SessionManager({ engine: 'native' })
  const server = createDemoServer(manager)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const json = async (response: Response | Promise<Response>) => (await (await response).json()) as Record<string, any>
  try {
    t.deepEqual(await json(fetch(`${base}/`)), { anonymous: true })
    const login = await fetch(`${base}/login?user=admin`, { method: 'POST' })
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]
    t.regex(cookie, /^sid=[A-Za-z0-9_-]{22}$/)
    const first = await json(fetch(`${base}/`, { headers: { cookie } }))
    const second = await json(fetch(`${base}/`, { headers: { cookie } }))
    t.is(first.visits, 1)
    t.is(second.visits, 2)
    t.is(second.user, 'admin')
    const admin = await fetch(`${base}/admin`, { headers: { cookie } })
    t.is(admin.status, 200)
    t.is((await json(admin)).sessions.length, 1)
    t.is((await fetch(`${base}/admin`)).status, 403)
    await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } })
    t.deepEqual(await json(fetch(`${base}/`, { headers: { cookie } })), { anonymous: true })
    t.is(manager.stats().closed.destroyed, 1)
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
})
