import test from 'ava'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionFileError, SessionManager } from '../ts/index'
import { FakeClock, withWarnings } from './helpers'

/** What a load shows of a manager: ids with user, roles and data (times are checked elsewhere). */
function contents(manager: SessionManager): string[] {
  return [...manager].map((s) => JSON.stringify([s.id, s.user, s.roles, s.keys().map((k) => [k, s.get(k)])])).sort()
}

/**
 * A small journal where each step is one record, with the file length and the table after each
 * step: truncating the file at a record boundary must load exactly that table.
 */
async function buildJournal(dir: string) {
  const path = join(dir, 'journal.skdb')
  const clock = new FakeClock()
  clock.now = Date.now() // loads below run on the real clock
  const manager = new SessionManager({ engine: 'js', clock: clock.read, idleTimeout: 0, resolution: 1, persist: { path } })
  const boundaries: { length: number; table: string[] }[] = []
  const step = async (change: () => void) => {
    change()
    clock.advance(1)
    await manager.flush()
    boundaries.push({ length: readFileSync(path).length, table: contents(manager) })
  }
  await step(() => {})
  let a!: ReturnType<SessionManager['create']>
  let b!: ReturnType<SessionManager['create']>
  await step(() => { a = manager.create({ user: 'alice', roles: ['admin'], data: { theme: 'dark' } }) })
  await step(() => { b = manager.create({ data: { n: '1' } }) })
  await step(() => { a.set('cart', 'three items') })
  await step(() => { a.delete('theme') })
  await step(() => { b.regenerate() })
  await step(() => { b.user = 'bob' })
  await step(() => { b.roles = ['reader', 'writer'] })
  await step(() => { a.idleTimeout = 24 * 3_600_000 })
  await step(() => { a.close() })
  await step(() => { manager.create({ data: { last: 'record' } }) })
  const bytes = readFileSync(path)
  // Keep the journal as a crash leaves it: close() would replace it with a snapshot.
  manager.close()
  return { bytes, boundaries }
}

interface Outcome {
  error?: { code: string; offset: number | undefined }
  warnings: string[]
  table?: string[]
}

function load(engine: 'js' | 'native', dir: string, bytes: Uint8Array, onCorrupt: 'fail' | 'rename' = 'fail'): Outcome {
  const path = join(dir, `load-${engine}.skdb`)
  writeFileSync(path, bytes)
  try {
    const { result, warnings } = withWarnings((): Outcome => {
      try {
        const manager = new SessionManager({ engine, idleTimeout: 0, persist: { path, fsync: 'never', onCorrupt } })
        const table = contents(manager)
        manager.close()
        return { warnings: [], table }
      } catch (error) {
        if (!(error instanceof SessionFileError)) throw error
        if (!error.message.includes(path)) throw new Error(`the error does not name the file: ${error.message}`)
        return { warnings: [], error: { code: error.code, offset: error.offset } }
      }
    })
    return { ...result, warnings }
  } finally {
    rmSync(path, { force: true })
  }
}

for (const engine of ['js', 'native'] as const) {
  // The native engine loads through the same reader; every 5th position keeps its run short.
  const stride = engine === 'js' ? 1 : 5

  test(`a file truncated at every byte loads every record before the cut, warns once for a torn one, fails for a torn header [${engine}]`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-damage-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const { bytes, boundaries } = await buildJournal(dir)
    t.is(boundaries[boundaries.length - 1].length, bytes.length)
    for (let cut = 0; cut <= bytes.length; cut += cut < 40 ? 1 : stride) {
      const outcome = load(engine, dir, new Uint8Array(bytes.subarray(0, cut)))
      if (cut === 0) {
        t.deepEqual(outcome, { warnings: [], table: [] }, 'an empty file is a new file')
      } else if (cut < 32) {
        t.deepEqual(outcome.error, { code: 'ERR_SESSION_FILE_CORRUPT', offset: 0 }, `cut at ${cut}`)
      } else {
        const before = boundaries.filter((b) => b.length <= cut).pop()!
        t.deepEqual(outcome.table, before.table, `cut at ${cut}`)
        t.deepEqual(outcome.warnings, before.length === cut ? [] : ['SESSIONKEEPER_SESSION_FILE_TORN'], `cut at ${cut}`)
      }
    }
  })

  test(`a file with any one byte flipped fails naming the offset of the damaged record, or drops a damaged final record [${engine}]`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-damage-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const { bytes, boundaries } = await buildJournal(dir)
    const starts = boundaries.map((b) => b.length)
    for (let position = 0; position < bytes.length; position += position < 40 ? 1 : stride) {
      const flipped = Uint8Array.from(bytes)
      flipped[position] ^= 0xff
      const outcome = load(engine, dir, flipped)
      if (position < 32) {
        t.deepEqual(outcome.error, { code: 'ERR_SESSION_FILE_CORRUPT', offset: 0 }, `header byte ${position}`)
        continue
      }
      const record = starts.filter((start) => start <= position).length - 1
      const start = starts[record]
      const last = record === starts.length - 2
      if (last && position >= start + 8) {
        t.deepEqual(outcome.table, boundaries[record].table, `byte ${position}`)
        t.deepEqual(outcome.warnings, ['SESSIONKEEPER_SESSION_FILE_TORN'], `byte ${position}`)
      } else {
        t.deepEqual(outcome.error, { code: 'ERR_SESSION_FILE_CORRUPT', offset: start }, `byte ${position}`)
      }
    }
  })
}

test('onCorrupt: rename moves a damaged file aside, keeps its bytes, warns, and starts empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-damage-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { bytes, boundaries } = await buildJournal(dir)
  const flipped = Uint8Array.from(bytes)
  flipped[boundaries[2].length + 20] ^= 0x01
  const outcome = load('js', dir, flipped, 'rename')
  t.deepEqual(outcome, { warnings: ['SESSIONKEEPER_SESSION_FILE_RENAMED'], table: [] })
  const aside = readdirSync(dir).filter((name) => name.startsWith('load-js.skdb.corrupt-'))
  t.is(aside.length, 1)
  t.deepEqual(new Uint8Array(readFileSync(join(dir, aside[0]))), flipped)
  t.false(existsSync(join(dir, 'load-js.skdb.lock')))
})
