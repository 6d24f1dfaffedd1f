/**
 * Preloaded by bench/shipped.cjs into every process a bench starts: each module of this
 * repository's `ts/` resolves to its `dist/` twin (tsc's output, the build users install), after
 * one check that `dist/` is current. Paths are compared as real paths, so a repository reached
 * through a symlink maps too, and a `ts/` module that still reaches the CommonJS loader stops
 * the process rather than being measured. Not covered: a dynamic `import()` of a `ts/` file
 * itself, which Node 20 and 22 resolve without this hook (no bench does; bench/sweep-ab.ts
 * imports other trees' `ts/` on purpose, under plain tsx). Modules a bench imports dynamically
 * (bench/stores/) still reach `ts/` through static imports, which map.
 */
'use strict'
const Module = require('node:module')
const { realpathSync } = require('node:fs')
const { checkBuilt, isSource, twinOf } = require('./shipped-paths.cjs')

let checked = false
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (...resolveArguments) {
  const resolved = resolveFilename.apply(this, resolveArguments)
  if (typeof resolved !== 'string' || !resolved.endsWith('.ts')) return resolved
  const real = realpathSync(resolved)
  if (!isSource(real)) return resolved
  if (!checked) {
    checkBuilt()
    checked = true
  }
  return twinOf(real)
}

const load = Module.prototype.load
Module.prototype.load = function (filename, ...rest) {
  if (typeof filename === 'string' && filename.endsWith('.ts') && isSource(realpathSync(filename))) {
    throw new Error(`bench: ${filename} was loaded from ts/ around the resolver; the benches measure dist/`)
  }
  return load.call(this, filename, ...rest)
}
