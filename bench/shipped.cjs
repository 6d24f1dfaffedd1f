/**
 * The benches measure the build users install: `dist/` as tsc wrote it, not `ts/` as tsx
 * compiles it on the fly. The two differ in speed: tsx (esbuild) reaches every imported name
 * through a getter and every `const enum` member through an object, and a JsEngine load of 10^6
 * sessions ran 19-20% slower from `ts/` than from `dist/` (2 alternating pairs, 2026-12-03).
 *
 * `node bench/shipped.cjs [node flags...] <entry.ts> [args...]` (flags in `--flag=value` form;
 * run from the repository, where tsx is installed) checks that `dist/` is current, then runs the
 * entry under tsx with bench/shipped-preload.cjs added to `NODE_OPTIONS`, so that every process
 * the bench starts (store workers, servers, other Node versions, worker threads) resolves each
 * module of `ts/` to its `dist/` twin. The bench sources keep importing `ts/` for their types.
 */
'use strict'
const { spawnSync } = require('node:child_process')
const { join } = require('node:path')
const { checkBuilt } = require('./shipped-paths.cjs')

const argv = process.argv.slice(2)
const entryAt = argv.findIndex((arg) => !arg.startsWith('-'))
if (entryAt < 0) {
  process.stderr.write('usage: node bench/shipped.cjs [node flags as --flag=value...] <bench entry .ts> [args...]\n')
  process.exit(2)
}
const [entry, ...args] = argv.slice(entryAt)
checkBuilt()
// NODE_OPTIONS splits on spaces outside double quotes; inside them a backslash escapes.
const quoted = `"${join(__dirname, 'shipped-preload.cjs').replace(/["\\]/g, (character) => `\\${character}`)}"`
const nodeOptions = [process.env.NODE_OPTIONS, `--require ${quoted}`].filter(Boolean).join(' ')
const result = spawnSync(process.execPath, [...argv.slice(0, entryAt), '--import', 'tsx', entry, ...args], {
  stdio: 'inherit',
  env: { ...process.env, NODE_OPTIONS: nodeOptions },
})
if (result.error !== undefined) throw result.error
// A bench killed by a signal ends this process the same way.
if (result.signal !== null) process.kill(process.pid, result.signal)
process.exit(result.status ?? 1)
