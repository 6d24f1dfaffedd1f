/**
 * A maxDataBytes lowered since the file was written cuts a session's data at load. The file is
 * then rewritten from what was loaded: appended to as it was, a crash made the next load replay
 * the journal over the uncut data and cut again, losing a flushed write and bringing back an
 * entry the cut had dropped (a hostile review's finding, stop 42).
 */
import test from 'ava'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { forEachEngine } from './helpers'

forEachEngine(test, 'a flushed write after a load that cut data over a lowered maxDataBytes survives a crash', async (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-cap-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  const first = new SessionManager({ engine, persist: { path } })
  const id = first.create({ data: { a: 'x'.repeat(80), b: 'y'.repeat(80) } }).id
  first.close()

  // The cap was lowered: the load keeps `a` and drops `b`.
  const second = new SessionManager({ engine, persist: { path }, maxDataBytes: 100 })
  const session = second.peek(id)!
  t.deepEqual(session.keys(), ['a'])
  session.delete('a')
  session.set('c', 'z'.repeat(50))
  t.deepEqual(session.keys(), ['c'])
  await second.flush() // every change so far is durable
  const crashed = join(dir, 'crashed.skdb')
  copyFileSync(path, crashed) // what a crash leaves
  second.close()

  const third = new SessionManager({ engine, persist: { path: crashed }, maxDataBytes: 100 })
  t.teardown(() => third.close())
  const restored = third.peek(id)!
  t.deepEqual(restored.keys(), ['c'], 'the flushed write is kept and the dropped entry stays dropped')
  t.is(restored.get('c'), 'z'.repeat(50))
})
