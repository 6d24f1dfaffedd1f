// The package is compiled once, to CommonJS; ESM users get named exports from a wrapper generated
// from the CommonJS module's own export list, so the two can never disagree.
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const names = Object.keys(require('../dist/index.js')).filter((name) => name !== 'default')
const lines = [
  "import cjs from './index.js'",
  ...names.map((name) => `export const ${name} = cjs.${name}`),
  '',
]
writeFileSync(new URL('../dist/index.mjs', import.meta.url), lines.join('\n'))
