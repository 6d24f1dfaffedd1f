import test from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseExposition, valueOf } from './prometheus-text'

/** Starts an example as `npm start` would, on a free port, and returns its URL. */
async function start(script: string, sessionFile = join(mkdtempSync(join(tmpdir(), 'sk-demo-')), 'sessions.skdb')) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', script)], {
    cwd: join(__dirname, '..'), env: { ...process.env, PORT: '0', SESSION_FILE: sessionFile, NODE_ENV: 'test' }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  let output = ''
  for await (const chunk of child.stdout) {
    output += String(chunk)
    const url = /https?:\/\/127\.0\.0\.1:\d+/.exec(output)?.[0]
    if (url !== undefined) return { url, child }
  }
  throw new Error(`the example printed no URL: ${output}`)
}

async function call(url: string, cookie: string, init: RequestInit = {}) {
  const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers ?? {}), cookie } })
  const setCookie = response.headers.get('set-cookie')
  return { response, text: await response.text(), cookie: setCookie === null ? cookie : setCookie.split(';')[0] }
}

test('the demo (npm start) logs in, counts visits, guards the admin page and logs out', async (t) => {
  const { url, child } = await start('server.ts')
  try {
    const anonymous = await call(`${url}/`, '')
    t.regex(anonymous.text, /Log in/)
    t.is(anonymous.response.headers.get('set-cookie'), null, 'no cookie for visitors who never log in')

    const form = { method: 'POST', body: new URLSearchParams({ user: 'ann' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } }
    const login = await call(`${url}/login`, '', form)
    t.is(login.response.status, 303)
    t.regex(login.cookie, /^sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/, 'a signed session cookie')
    const first = await call(`${url}/`, login.cookie)
    const second = await call(`${url}/`, login.cookie)
    t.regex(first.text, /Hello, ann[\s\S]*id="visits">1</)
    t.regex(second.text, /id="visits">2</)
    t.is((await call(`${url}/admin`, login.cookie)).response.status, 403)

    const bob = await call(`${url}/login`, login.cookie, { ...form, body: new URLSearchParams({ user: 'bob' }) })
    t.not(bob.cookie, login.cookie, 'a login on a browser with a session starts a new one')
    t.regex((await call(`${url}/`, bob.cookie)).text, /Hello, bob[\s\S]*id="visits">1</, "bob does not see ann's visits")
    t.regex((await call(`${url}/`, login.cookie)).text, /Log in/, "ann's session was closed by the second login")

    const admin = await call(`${url}/login`, '', { ...form, body: new URLSearchParams({ user: 'admin' }) })
    const sessions = await call(`${url}/admin`, admin.cookie)
    t.is(sessions.response.status, 200)
    t.regex(sessions.text, /<td>bob<\/td><td>\d+ s<\/td>/)

    const logout = await call(`${url}/logout`, bob.cookie, { method: 'POST' })
    t.regex(logout.response.headers.get('set-cookie') ?? '', /^sid=;.*Max-Age=0/)
    t.regex((await call(`${url}/`, bob.cookie)).text, /Log in/, 'the old cookie names no session')

    const xss = await call(`${url}/login`, '', { ...form, body: new URLSearchParams({ user: '<script>x</script>' }) })
    t.notRegex((await call(`${url}/`, xss.cookie)).text, /<script>x/, 'user names are escaped')
  } finally {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
})

test('the Fastify example serves a per-session counter', async (t) => {
  const { url, child } = await start('fastify.ts')
  try {
    const first = await call(`${url}/`, '')
    const second = await call(`${url}/`, first.cookie)
    t.is(JSON.parse(first.text).visits, 1)
    t.is(JSON.parse(second.text).visits, 2)
    t.is(JSON.parse(second.text).live, 1)
  } finally {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
})

test('the demo keeps a logged-in user logged in across SIGTERM and a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-demo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sessionFile = join(dir, 'sessions.skdb')
  const first = await start('server.ts', sessionFile)
  let cookie: string
  try {
    const form = { method: 'POST', body: new URLSearchParams({ user: 'ann' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } }
    cookie = (await call(`${first.url}/login`, '', form)).cookie
    t.regex((await call(`${first.url}/`, cookie)).text, /Hello, ann[\s\S]*id="visits">1</)
  } finally {
    first.child.kill('SIGTERM')
  }
  const [code, signal] = await once(first.child, 'exit')
  t.deepEqual([code, signal], [0, null], 'SIGTERM ends the demo gracefully')
  const second = await start('server.ts', sessionFile)
  try {
    t.regex((await call(`${second.url}/`, cookie)).text, /Hello, ann[\s\S]*id="visits">2</)
  } finally {
    second.child.kill('SIGTERM')
    await once(second.child, 'exit')
  }
})

test('the demo refuses to start with NODE_ENV=production and no SESSION_SECRET, and names the dev-only secret otherwise', async (t) => {
  const run = async (env: Record<string, string>) => {
    const { SESSION_SECRET: _secret, ...rest } = process.env
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'examples', 'server.ts')], {
      cwd: join(__dirname, '..'), env: { ...rest, PORT: '0', SESSION_FILE: join(mkdtempSync(join(tmpdir(), 'sk-demo-')), 's.skdb'), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => { output += String(chunk) })
    child.stderr.on('data', (chunk) => { output += String(chunk) })
    const started = new Promise<void>((resolve) => child.stdout.on('data', () => { if (/127\.0\.0\.1:\d+/.test(output)) resolve() }))
    const exited = once(child, 'exit')
    const first = await Promise.race([started.then(() => 'started'), exited.then(() => 'exited')])
    if (first === 'started') {
      child.kill('SIGTERM')
      await exited
    }
    return { first, code: child.exitCode, output }
  }
  const production = await run({ NODE_ENV: 'production' })
  t.is(production.first, 'exited')
  t.is(production.code, 1)
  t.regex(production.output, /NODE_ENV=production and no SESSION_SECRET/)
  const development = await run({ NODE_ENV: 'development' })
  t.is(development.first, 'started')
  t.regex(development.output, /dev-only secret/)
  const configured = await run({ NODE_ENV: 'production', SESSION_SECRET: 'a production secret of 32 characters or more' })
  t.is(configured.first, 'started')
  t.notRegex(configured.output, /dev-only/)
})

test('the demo serves stats() as JSON at /stats and Prometheus metrics at /metrics, shows the id change on login and regenerate, and admins see deadlines', async (t) => {
  const { url, child } = await start('server.ts')
  try {
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } }
    const ann = await call(`${url}/login`, '', { ...form, body: new URLSearchParams({ user: 'ann', lifetime: '5s' }) })
    const home = await call(`${url}/`, ann.cookie)
    t.regex(home.text, /id="id-change">Your session id changed on login: <code>\(no session\)<\/code> → <code>[A-Za-z0-9_-]{6}…<\/code>/)
    t.regex(home.text, /idle timeout 5 s/)
    const again = await call(`${url}/regenerate`, ann.cookie, { method: 'POST' })
    t.not(again.cookie, ann.cookie)
    const moved = /changed on regenerate: <code>([^<]+)<\/code> → <code>([^<]+)<\/code>/.exec((await call(`${url}/`, again.cookie)).text)
    t.truthy(moved)
    t.not(moved?.[1], moved?.[2])
    const stats = await (await fetch(`${url}/stats`)).json() as Record<string, any>
    t.is(stats.live, 1)
    t.is(stats.created, 1)
    t.is(typeof stats.closed.expired, 'number')
    t.is(stats.engine, 'native')
    const metrics = await fetch(`${url}/metrics`)
    t.is(metrics.status, 200)
    t.regex(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const exposition = parseExposition(await metrics.text())
    t.is(exposition.types.get('sessionkeeper_sessions_live'), 'gauge')
    t.is(valueOf(exposition, 'sessionkeeper_sessions_live', { manager: 'demo' }), 1)
    t.is(valueOf(exposition, 'sessionkeeper_sessions_created_total', { manager: 'demo' }), 1)
    const admin = await call(`${url}/login`, '', { ...form, body: new URLSearchParams({ user: 'admin' }) })
    const page = await call(`${url}/admin`, admin.cookie)
    t.regex(page.text, /<td>ann<\/td><td>\d+ s<\/td><td>\d s<\/td>/, 'idle time and time to the deadline')
    t.regex(page.text, /&#34;live&#34;: 2/, "stats() on the admin page")
    t.is((await call(`${url}/admin/events`, ann.cookie)).response.status, 403)
  } finally {
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
})
