/**
 * Issue 12, item 3: typed session data. `__test__/types/esm.mts` and `cjs.cts` are consumers
 * that import the package by name (its own "exports", resolved to dist/ as a user's install
 * would) under `strict`: a wrong value type must be an error (each `@ts-expect-error`, since an
 * unused one is an error too) and a right one must compile without a cast.
 */
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')

test('typed session data: ES module and CommonJS consumers type-check under strict, wrong value types are errors', (t) => {
  t.true(existsSync(join(ROOT, 'dist', 'index.d.mts')) && existsSync(join(ROOT, 'dist', 'index.d.cts')), 'dist/ is built (npm run build:ts)')
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, '__test__', 'types', 'tsconfig.json'), '--pretty', 'false'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  t.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
})
