// The package is compiled once, to CommonJS. For each entry in package.json's "exports" that
// has an "import" condition, an ES module wrapper is generated from the CommonJS module's own
// export list, so the two can never disagree.
import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

const require = createRequire(import.meta.url)
const root = new URL('../', import.meta.url)
const { exports } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))

for (const conditions of Object.values(exports)) {
  if (typeof conditions !== 'object' || conditions.import === undefined) continue
  const commonjs = new URL(conditions.require, root)
  const names = Object.keys(require(commonjs.pathname)).filter((name) => name !== 'default')
  const lines = [
    `import cjs from './${basename(conditions.require)}'`,
    ...names.map((name) => `export const ${name} = cjs.${name}`),
    '',
  ]
  writeFileSync(new URL(conditions.import, root), lines.join('\n'))
}
