import test from 'ava'
import { SessionManager } from '../ts/index'

/*
 * A finite maxSessions above 2^16 sizes the JsEngine's per-slot arrays at construction (README,
 * A production `maxSessions`), seen through the public API: the reservation shows in
 * `process.memoryUsage().arrayBuffers` (68 bytes a slot of the cap with caller keys), not in
 * `memoryBytes()`, and the manager behaves as one without it. Serial: arrayBuffers is the
 * process's (ava runs each file in a process of its own).
 */
const MiB = 2 ** 20
const arrayBuffers = (): number => process.memoryUsage().arrayBuffers

test.serial('a JsEngine manager with maxSessions above 2^16 reserves its per-slot arrays at once; memoryBytes counts as without the cap', (t) => {
  const before = arrayBuffers()
  const capped = new SessionManager({ engine: 'js', keys: 'caller', maxSessions: 1_000_000 })
  const reserved = arrayBuffers() - before
  t.true(reserved >= 64 * MiB, `${(reserved / MiB).toFixed(1)} MiB reserved for a cap of 10^6`)
  const uncapped = new SessionManager({ engine: 'js', keys: 'caller' })
  t.teardown(() => {
    capped.close()
    uncapped.close()
  })
  for (let i = 0; i < 5000; i++) {
    capped.create({ key: `user-key-${i}`, data: { n: String(i) } })
    uncapped.create({ key: `user-key-${i}`, data: { n: String(i) } })
  }
  t.is(capped.memoryBytes(), uncapped.memoryBytes())
  let wrong = 0
  for (let i = 0; i < 5000; i++) if (capped.get(`user-key-${i}`)?.get('n') !== String(i)) wrong++
  t.is(wrong, 0)
})

test.serial('no reservation at maxSessions 2^16 or below, nor on the native engine, which grows in pages', (t) => {
  for (const options of [{ engine: 'js', maxSessions: 65_536 }, { engine: 'native', maxSessions: 1_000_000 }] as const) {
    const before = arrayBuffers()
    const manager = new SessionManager({ ...options, keys: 'caller' })
    const grew = arrayBuffers() - before
    manager.close()
    t.true(grew < 8 * MiB, `${options.engine}, maxSessions ${options.maxSessions}: ${(grew / MiB).toFixed(1)} MiB`)
  }
})
