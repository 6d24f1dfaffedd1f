/**
 * Issue 17, items 1, 2 and 5 as a TypeScript user meets them: the apps in
 * __test__/types-requests/ import the package by name, from a node_modules where it is installed
 * (a link to this repo, built into dist/), under `strict`, in ES modules and CommonJS, with
 * moduleResolution nodenext and node10 (where only typesVersions finds the subpaths). Each
 * program must compile with no cast in a handler, and every @ts-expect-error in it must be an
 * error. The express apps are two programs: the opt-in Request augmentation cannot share one
 * with @types/express-session, which sessionOf() must work beside.
 */
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')
const FIXTURES = join(__dirname, 'types-requests')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

const base = { target: 'es2022', lib: ['es2024', 'esnext.disposable'], strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }
const nodenext = { ...base, module: 'nodenext', moduleResolution: 'nodenext' }
const node10 = { ...base, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }

const programs: { name: string; options: object; files: string[] }[] = [
  { name: 'express/types augmentation, nodenext (ESM and CJS)', options: nodenext, files: ['augment.mts', 'augment.cts'] },
  { name: 'express/types augmentation, node10', options: node10, files: ['augment-node10.ts'] },
  { name: 'sessionOf beside @types/express-session, nodenext (ESM and CJS)', options: nodenext, files: ['session-of.mts', 'session-of.cts'] },
  { name: 'sessionOf beside @types/express-session, node10', options: node10, files: ['session-of-node10.ts'] },
  { name: 'fastify plugin and TestClock, nodenext (ESM and CJS)', options: nodenext, files: ['fastify.mts', 'fastify.cts'] },
  { name: 'fastify plugin and TestClock, node10', options: node10, files: ['fastify-node10.ts'] },
  { name: 'fastify plugin over RedisSessionManager, nodenext', options: nodenext, files: ['fastify-redis.mts'] },
]

let app: string

test.before(() => {
  if (!existsSync(join(ROOT, 'dist', 'integrations', 'express-types.d.cts'))) throw new Error('dist/ is not built (npm run build:ts)')
  // An app directory whose node_modules holds this package (linked) beside the repo's own
  // dependencies (express, fastify and their types).
  app = mkdtempSync(join(tmpdir(), 'sk-typed-requests-'))
  const modules = join(app, 'node_modules')
  mkdirSync(modules)
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (!name.startsWith('.')) symlinkSync(join(ROOT, 'node_modules', name), join(modules, name))
  }
  symlinkSync(ROOT, join(modules, 'sessionkeeper'))
  writeFileSync(join(app, 'package.json'), '{ "name": "typed-requests-app", "private": true }\n')
  for (const file of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, file), join(app, file))
})

test.after.always(() => {
  if (app !== undefined) rmSync(app, { recursive: true, force: true })
})

for (const program of programs) {
  test(`typed requests: ${program.name} compiles with no cast; wrong types are errors`, (t) => {
    const config = `tsconfig.${programs.indexOf(program)}.json`
    writeFileSync(join(app, config), JSON.stringify({ compilerOptions: program.options, files: program.files }))
    const tsc = spawnSync(process.execPath, [TSC, '-p', config, '--pretty', 'false'], { cwd: app, encoding: 'utf8' })
    t.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
  })
}

test('no fixture casts a request', (t) => {
  for (const file of readdirSync(FIXTURES)) {
    const text = require('node:fs').readFileSync(join(FIXTURES, file), 'utf8') as string
    t.notRegex(text, /\b(req|request) as\b/, file)
  }
})
