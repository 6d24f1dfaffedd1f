/**
 * The benches measure the build users install: `dist/` as tsc wrote it, not `ts/` as tsx
 * compiles it on the fly. The two differ in speed: tsx (esbuild) reaches every imported name
 * through a getter and every `const enum` member through an object, and a JsEngine load of 10^6
 * sessions ran 19-20% slower from `ts/` than from `dist/` (2 alternating pairs, 2026-12-03).
 *
 * Two roles, one mapping:
 * - `node bench/shipped.cjs [node flags...] <entry.ts> [args...]` runs the entry under tsx with this file
 *   preloaded, in this process's environment plus `NODE_OPTIONS`, so that every process a bench
 *   starts (store workers, HTTP servers, other Node versions) preloads it too.
 * - Preloaded (`--require`), it resolves each module of this repository's `ts/` to its `dist/`
 *   twin. The bench sources still import `ts/` for their types. A `dist/` file missing or older
 *   than its source is an error, not a silent measurement of old code: run `npm run build`.
 */
'use strict'
const Module = require('node:module')
const { readdirSync, statSync } = require('node:fs')
const { join, sep } = require('node:path')

const ROOT = join(__dirname, '..')
const SOURCES = join(ROOT, 'ts') + sep
const SHIPPED = join(ROOT, 'dist') + sep

const twinOf = (source) => SHIPPED + source.slice(SOURCES.length, -'.ts'.length) + '.js'

/** Throws unless every source under ts/ has a dist/ twin at least as new (checked once). */
function checkBuilt() {
  for (const entry of readdirSync(SOURCES, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue
    const source = join(entry.parentPath ?? entry.path, entry.name)
    let built
    try {
      built = statSync(twinOf(source)).mtimeMs
    } catch {
      throw new Error(`bench: ${twinOf(source)} is missing; run npm run build first (the benches measure dist/, not ts/)`)
    }
    if (statSync(source).mtimeMs > built) {
      throw new Error(`bench: ${twinOf(source)} is older than ${source}; run npm run build first (the benches measure dist/, not ts/)`)
    }
  }
}

if (require.main === module) {
  const { spawnSync } = require('node:child_process')
  const argv = process.argv.slice(2)
  // Node's own flags (--expose-gc, --trace-gc, ...) come before the entry.
  const entryAt = argv.findIndex((arg) => !arg.startsWith('-'))
  if (entryAt < 0) {
    process.stderr.write('usage: node bench/shipped.cjs [node flags...] <bench entry .ts> [args...]\n')
    process.exit(2)
  }
  const [entry, ...args] = argv.slice(entryAt)
  // NODE_OPTIONS splits on spaces unless quoted; a quote inside the path cannot be written.
  if (__filename.includes('"')) throw new Error(`bench: cannot preload ${__filename} through NODE_OPTIONS (a quote in the path)`)
  const preload = `--require "${__filename}"`
  const nodeOptions = [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' ')
  const result = spawnSync(process.execPath, [...argv.slice(0, entryAt), '--import', 'tsx', entry, ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
  })
  if (result.error !== undefined) throw result.error
  process.exit(result.status ?? 1)
} else {
  let checked = false
  const resolveFilename = Module._resolveFilename
  Module._resolveFilename = function (...resolveArguments) {
    const resolved = resolveFilename.apply(this, resolveArguments)
    if (typeof resolved !== 'string' || !resolved.startsWith(SOURCES) || !resolved.endsWith('.ts')) return resolved
    if (!checked) {
      checkBuilt()
      checked = true
    }
    return twinOf(resolved)
  }
}
