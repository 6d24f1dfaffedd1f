// Runs after `tsc -p tsconfig.build.json` (npm run build:ts).
//
// The package is compiled once, to CommonJS. For each entry in package.json's "exports" this
// writes, next to the CommonJS module (`require.default`):
//   - `import.default`: an ES module wrapper generated from the CommonJS module's own export
//     list, so the two formats can never disagree (and share one instance of every class);
//   - `import.types`: a .d.mts re-exporting the CommonJS declarations;
//   - `require.types`: a .d.cts re-exporting them too, plus the `__esModule` marker.
//
// Neither format has a default export: the API is named exports only (`import { SessionManager }
// from 'sessionkeeper'`, `import * as sk from 'sessionkeeper'`, `require('sessionkeeper')`).
// The two declaration files are what make TypeScript say so. Given only tsc's .d.ts, TypeScript
// assumes a declaration file may describe plain CommonJS and lets `import sk from
// 'sessionkeeper'` type-check as `module.exports`: from an ES module (module nodenext), where the
// wrapper has no default and Node refuses the import, and from CommonJS, where `__importDefault`
// reads `.default` (undefined, as tsc's output sets `exports.__esModule`). A .d.mts is an ES
// module to TypeScript, so it has no synthetic default; a .d.cts that declares `__esModule`, as
// the JavaScript really has it, tells TypeScript there is none either. index.d.ts (the top-level
// "types", for moduleResolution node10) carries the same marker.
//
// Then it closes what stripInternal leaves open in dist/session.d.ts: see sealSessionConstructor.
import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'

const ES_MODULE_MARKER =
  '/** Set by the TypeScript compiler on the CommonJS exports: this module has no default export. */\n' +
  'export declare const __esModule: true\n'

const require = createRequire(import.meta.url)
const root = new URL('../', import.meta.url)
const { exports } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'))

for (const [entry, conditions] of Object.entries(exports)) {
  if (typeof conditions !== 'object') continue
  const { import: esm, require: cjs } = conditions
  if (!/\.d\.mts$/.test(esm?.types) || !/\.mjs$/.test(esm?.default) || !/\.d\.cts$/.test(cjs?.types) || !/\.js$/.test(cjs?.default)) {
    throw new Error(`package.json exports["${entry}"] needs import: { types: *.d.mts, default: *.mjs } and require: { types: *.d.cts, default: *.js }`)
  }
  const commonjs = `./${basename(cjs.default)}`
  const names = Object.keys(require(new URL(cjs.default, root).pathname)).filter((name) => name !== 'default' && name !== '__esModule')
  const lines = [
    `import cjs from '${commonjs}'`,
    ...names.map((name) => `export const ${name} = cjs.${name}`),
    '',
  ]
  writeFileSync(new URL(esm.default, root), lines.join('\n'))
  writeFileSync(new URL(esm.types, root), `export * from '${commonjs}'\n`)
  writeFileSync(new URL(cjs.types, root), `export * from '${commonjs}'\n${ES_MODULE_MARKER}`)
}

sealSessionConstructor(new URL('dist/session.d.ts', root), 'Session')
sealSessionConstructor(new URL('dist/redis/session.d.ts', root), 'RedisSession')

/**
 * stripInternal removes Session's constructor from the declarations (its parameters are the
 * internal Registry and engine handle), which would leave TypeScript's implicit public one:
 * `new Session()` and `class X extends Session` would type-check and then fail. A private
 * constructor says what is true: sessions come only from a SessionManager (RedisSession: a
 * RedisSessionManager).
 */
function sealSessionConstructor(file, name) {
  const text = readFileSync(file, 'utf8')
  // The class takes its data type as a type parameter: `Session<Data extends ... = ...>`.
  const head = new RegExp(`^export declare class ${name}(<[^\\n]*>)? \\{\\n {4}#private;\\n`, 'm')
  if (!head.test(text) || /\bconstructor\(/.test(text)) {
    throw new Error(`${file.pathname}: expected the ${name} class without a declared constructor (stripInternal)`)
  }
  writeFileSync(file, text.replace(head, (found) => `${found}    private constructor();\n`))
}
