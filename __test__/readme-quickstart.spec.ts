/**
 * Issue 17, item 3: the README's first snippet is a complete app a user can paste and run. It is
 * taken from README.md as written, put in an app directory whose node_modules holds this package
 * (a link to the repo, built into dist/) and its peers, type-checked under strict nodenext, and
 * run with tsx: it refuses to start without SESSION_SECRET, and with one it logs in, reads the
 * session and logs out over HTTP. Only its port is changed, to a free one.
 */
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')

function firstSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const block = /```ts\n([\s\S]*?)```/.exec(readme)
  if (block === null) throw new Error('README.md has no ts block')
  return block[1]
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

let app: string

test.before(() => {
  app = mkdtempSync(join(tmpdir(), 'sk-readme-app-'))
  mkdirSync(join(app, 'node_modules'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (!name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name))
  }
  symlinkSync(ROOT, join(app, 'node_modules', 'sessionkeeper'))
  writeFileSync(join(app, 'package.json'), '{ "name": "readme-app", "private": true, "type": "module" }\n')
})

test.after.always(() => {
  if (app !== undefined) rmSync(app, { recursive: true, force: true })
})

test('the first snippet is short and complete: imports, a secret that fails loudly, login, read, logout, listen', (t) => {
  const snippet = firstSnippet()
  const code = snippet.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('//'))
  t.true(code.length <= 16, `${code.length} lines of code`)
  t.regex(snippet, /from 'sessionkeeper'/)
  t.regex(snippet, /SESSION_SECRET/)
  t.regex(snippet, /\.listen\(3000\)/)
  t.notRegex(snippet, /cookieValue|OLD_SECRET|!\)/, 'no undeclared names, no non-null assertions on secrets')
})

test('the first snippet type-checks under strict, module nodenext, as a user would compile it', (t) => {
  writeFileSync(join(app, 'app.ts'), firstSnippet())
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    files: ['app.ts'],
  }))
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: app, encoding: 'utf8' })
  t.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
})

test('the first snippet runs: no secret, no start; with one, login, read and logout over HTTP', async (t) => {
  const port = await freePort()
  writeFileSync(join(app, 'run.ts'), firstSnippet().replace('.listen(3000)', `.listen(${port}, '127.0.0.1', () => console.log('listening'))`))
  const { SESSION_SECRET: _unset, ...env } = process.env
  const refused = spawnSync(process.execPath, ['--import', 'tsx', 'run.ts'], { cwd: app, env, encoding: 'utf8', timeout: 60_000 })
  t.not(refused.status, 0)
  t.regex(refused.stderr, /SESSION_SECRET/)

  const child = spawn(process.execPath, ['--import', 'tsx', 'run.ts'], { cwd: app, env: { ...env, SESSION_SECRET: 'a secret of at least 32 characters, for this test' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  for await (const chunk of child.stdout) if (String(chunk).includes('listening')) break
  const url = `http://127.0.0.1:${port}`
  t.deepEqual(await (await fetch(`${url}/`)).json(), { user: null })
  const login = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada' }) })
  t.deepEqual(await login.json(), { user: 'ada' })
  const setCookie = login.headers.getSetCookie()[0]
  t.regex(setCookie, /^sid=[\w-]{22}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/, 'a signed cookie with secure defaults')
  const cookie = setCookie.split(';')[0]
  t.deepEqual(await (await fetch(`${url}/`, { headers: { cookie } })).json(), { user: 'ada' })
  const logout = await fetch(`${url}/logout`, { method: 'POST', headers: { cookie } })
  t.is(logout.status, 204)
  t.deepEqual(await (await fetch(`${url}/`, { headers: { cookie } })).json(), { user: null })
})
