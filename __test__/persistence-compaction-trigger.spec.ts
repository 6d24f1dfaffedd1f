/**
 * Background compaction keeps the file within about twice the live data (at least 1 MiB) when
 * sessions get smaller than they were at the last load or compaction: the trigger measures the
 * live sessions' size again as the file grows. With the size measured at load alone, the file
 * grew to over 100 times the live data (a hostile review's finding, stop 42).
 */
import test from 'ava'
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { forEachEngine } from './helpers'

forEachEngine(test, 'the file stays within a few times the live data when sessions get smaller than at load', async (t, engine) => {
  t.timeout(60_000)
  const dir = mkdtempSync(join(tmpdir(), 'sk-ratio-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  const first = new SessionManager({ engine, persist: { path } })
  const cart = 'B'.repeat(10_000)
  for (let i = 0; i < 1000; i++) first.create({ data: { cart } })
  first.close()

  const manager = new SessionManager({ engine, persist: { path } })
  t.teardown(() => manager.close())
  const old = [...manager].map((session) => session.id)
  const fresh: string[] = []
  // As many sessions as before, each replaced by a small one, then small ones turning over.
  for (let i = 0; i < 20_000; i++) {
    manager.destroy(old.length > 0 ? old.pop()! : fresh.shift()!)
    fresh.push(manager.create({ data: { theme: 'dark' } }).id)
    if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await manager.flush()
  for (let i = 0; i < 50 && manager.stats().persistence!.compactions === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))

  const fileBytes = statSync(path).size
  const copy = join(dir, 'live.skdb')
  copyFileSync(path, copy)
  new SessionManager({ engine, persist: { path: copy } }).close() // the live data, as a snapshot
  const liveBytes = statSync(copy).size
  t.log(`${fileBytes} bytes in the file, ${liveBytes} of live data`)
  t.true(fileBytes <= Math.max(1 << 20, 3 * liveBytes) * 1.5, `${fileBytes} bytes for ${liveBytes} of live data (${(fileBytes / liveBytes).toFixed(0)}x)`)
})
