import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The root package as published, installed WITHOUT its platform package: no native/*.node in
// it and no sessionkeeper-<platform> beside it, so the napi loader cannot find a binary.
// `npm test` builds dist/ and native/ before ava runs; this packs that build.
const root = join(__dirname, '..')
let work: string
let consumer: string

test.before(() => {
  work = mkdtempSync(join(tmpdir(), 'pkgcheck-fallback-'))
  const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], {
    cwd: root, encoding: 'utf8', timeout: 60_000,
  })
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`)
  const { filename } = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0] as { filename: string }
  consumer = join(work, 'consumer')
  mkdirSync(consumer)
  writeFileSync(join(consumer, 'package.json'), '{"name":"fallback-consumer","private":true}\n')
  const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error',
    '--cache', join(work, 'npm-cache'), join(work, filename)], { cwd: consumer, encoding: 'utf8', timeout: 60_000 })
  if (install.status !== 0) throw new Error(`npm install failed: ${install.stderr}`)
})

test.after.always(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

function runChild(source: string) {
  const env = { ...process.env }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  delete env.NODE_OPTIONS
  return spawnSync(process.execPath, ['-e', source], { cwd: consumer, encoding: 'utf8', timeout: 30_000, env })
}

test('the installed root package carries no binary and no platform package', (t) => {
  const native = join(consumer, 'node_modules', 'sessionkeeper', 'native')
  t.true(existsSync(join(native, 'binding.js')))
  t.deepEqual(readdirSync(native).filter((f) => f.endsWith('.node')), [])
  t.deepEqual(readdirSync(join(consumer, 'node_modules')).filter((d) => d.startsWith('sessionkeeper-')), [])
})

test("engine 'auto' falls back to the JS engine with exactly one explanatory warning", (t) => {
  const result = runChild(`
    const warnings = []
    process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }))
    const { SessionManager } = require('sessionkeeper')
    const a = new SessionManager()
    const b = new SessionManager()
    const s = a.create({ user: 'ada' })
    if (a.get(s.id) === undefined) throw new Error('get failed on the JS engine')
    a.close(); b.close()
    setImmediate(() => console.log(JSON.stringify({ engines: [a.engine, b.engine], warnings })))
  `)
  t.is(result.status, 0, result.stderr)
  const { engines, warnings } = JSON.parse(result.stdout) as { engines: string[]; warnings: { code?: string; message: string }[] }
  t.deepEqual(engines, ['js', 'js'])
  const fallback = warnings.filter((w) => w.code === 'SESSIONKEEPER_NATIVE_FALLBACK')
  t.is(fallback.length, 1)
  t.is(warnings.length, 1)
  const message = fallback[0]!.message
  t.true(message.includes(`${process.platform}-${process.arch}`)) // why: which platform has no binary
  t.regex(message, /Cannot find|not find|could not|cannot/i) // why: the loader's reason
  t.regex(message, /--omit=optional|--no-optional/) // how to fix: reinstall with optional deps
  t.regex(message, /engine: 'js'/) // or choose the JS engine explicitly
})

test("engine 'native' throws a clear error when the binary cannot load", (t) => {
  const result = runChild(`
    const { SessionManager } = require('sessionkeeper')
    try { new SessionManager({ engine: 'native' }); console.log('no error') }
    catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code })) }
  `)
  t.is(result.status, 0, result.stderr)
  const { message, code } = JSON.parse(result.stdout) as { message: string; code: string }
  t.is(code, 'ERR_NATIVE_ENGINE_UNAVAILABLE')
  t.regex(message, /engine 'native' was requested but the native binding could not be loaded/)
  t.regex(message, new RegExp(`${process.platform}-${process.arch}`))
  t.regex(message, /optional dependencies|npm run build|engine: 'js'/)
})
