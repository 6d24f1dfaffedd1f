/** Where bench/shipped.cjs and its preload find `ts/` and `dist/`, and the check that `dist/` is current. */
'use strict'
const { readdirSync, realpathSync, statSync } = require('node:fs')
const { join, sep } = require('node:path')

const ROOT = realpathSync(join(__dirname, '..'))
const SOURCES = join(ROOT, 'ts') + sep
const SHIPPED = join(ROOT, 'dist') + sep

/** True for a real path of a `.ts` source under `ts/` (not a `.d.ts`). */
const isSource = (real) => real.startsWith(SOURCES) && real.endsWith('.ts') && !real.endsWith('.d.ts')

const REBUILD = 'run npm run build first (the benches measure dist/, not ts/)'

const twinOf = (source) => SHIPPED + source.slice(SOURCES.length, -'.ts'.length) + '.js'

/** Throws unless every source under ts/ has a dist/ twin at least as new. */
function checkBuilt() {
  for (const entry of readdirSync(SOURCES, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const source = join(entry.parentPath ?? entry.path, entry.name)
    if (!isSource(source)) continue
    let built
    try {
      built = statSync(twinOf(source)).mtimeMs
    } catch {
      throw new Error(`bench: ${twinOf(source)} is missing; ${REBUILD}`)
    }
    if (statSync(source).mtimeMs > built) {
      throw new Error(`bench: ${twinOf(source)} is older than ${source}; ${REBUILD}`)
    }
  }
}

module.exports = { checkBuilt, isSource, twinOf }
