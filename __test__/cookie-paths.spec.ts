/**
 * Issue 16, item 4: the native request path (the Cookie header parsed, verified and looked up in
 * Rust, in one call) and the JS path (findCookies, node:crypto, manager.get) give the same answer
 * for the same header: the same session or none, the same "re-sign" verdict, the same value to
 * send back, the same count of rejected cookies. Headers are random and hostile: every rule of
 * the HTTP defects issue (duplicates, trimming, sizes, signatures, rotated secrets, 0.1.0
 * signatures, more than 8 values, non-ASCII and lone surrogates).
 */
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import fc from 'fast-check'
import { SessionManager } from '../ts/index'
import { CookieReader, type CookieReadTarget, SessionCookie } from '../ts/integrations/cookies'

const SECRETS = ['a signing secret of 32+ characters, for tests', 'an older one']
const CONTEXT = 'sessionkeeper session cookie signature v1'
const NAME = 'sid'

/** The signature under secret `index`, computed here from the documented construction. */
function sign(secret: string, id: string, name = NAME): string {
  const key = createHmac('sha256', secret).update(CONTEXT).digest() as unknown as Uint8Array
  return createHmac('sha256', key).update(`${name}=${id}`).digest('base64url')
}

const legacySign = (secret: string, id: string) => createHmac('sha256', secret).update(id).digest('base64url')

interface Outcome {
  id: string | undefined
  outdated: boolean
  readValue: string | undefined
  rejected: number
}

function readWith(reader: CookieReader, manager: SessionManager, header: string): Outcome {
  const before = manager.stats().rejectedCookies
  const target: CookieReadTarget = { read: undefined, readId: undefined, outdated: false, readValue: undefined }
  reader.read(header, target)
  return { id: target.read?.id, outdated: target.outdated, readValue: target.readValue, rejected: manager.stats().rejectedCookies - before }
}

const blank = fc.constantFrom('', '', '', ' ', '\t', ' \t', '\u00a0', '\v', '\ufeff')
const junk = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '-', '_', '=', ';', ' ', '\t', '"', ',', '\\', '!', '~', 'é', '\u00a0', '😀', '\ud800', '\u013b', '\u0100'), maxLength: 30 })

function headers(ids: string[], signed: boolean): fc.Arbitrary<string> {
  const id = fc.constantFrom(...ids)
  const secretIndex = fc.constantFrom(0, 1)
  const value = fc.oneof(
    { weight: 6, arbitrary: signed ? fc.tuple(id, secretIndex).map(([i, s]) => `${i}.${sign(SECRETS[s], i)}`) : id },
    { weight: 2, arbitrary: fc.tuple(id, secretIndex).map(([i, s]) => `${i}.${legacySign(SECRETS[s], i)}`) },
    { weight: 1, arbitrary: id.map((i) => `${i}.${sign('not one of the secrets at all, 32+', i)}`) },
    { weight: 1, arbitrary: id.map((i) => `${i}.${sign(SECRETS[0], i, 'other')}`) },
    {
      weight: 2,
      arbitrary: fc.tuple(id, fc.nat(42), fc.constantFrom('A', 'B', 'x', '-', '_', '=', '+', '/', '!', 'é')).map(([i, at, c]) => {
        const signature = sign(SECRETS[0], i)
        return `${i}.${signature.slice(0, at)}${c}${signature.slice(at + 1)}`
      }),
    },
    // The last character's spare bits set: the same bytes, another spelling.
    { weight: 1, arbitrary: id.map((i) => { const s = sign(SECRETS[0], i); const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'; return `${i}.${s.slice(0, 42)}${alphabet[alphabet.indexOf(s[42]) | 1]}` }) },
    { weight: 1, arbitrary: fc.tuple(id, fc.constantFrom(4096, 4097, 5000)).map(([i, length]) => `${i}.${sign(SECRETS[0], i)}`.padStart(length, 'a')) },
    { weight: 1, arbitrary: id },
    { weight: 2, arbitrary: junk },
  )
  const name = fc.constantFrom(NAME, NAME, NAME, NAME, 'sidx', 'x', '', 'SID', 'si d')
  const pair = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(blank, name, blank, blank, value, blank).map(([a, n, b, c, v, d]) => `${a}${n}${b}=${c}${v}${d}`) },
    { weight: 1, arbitrary: junk },
  )
  const many = fc.tuple(fc.array(pair, { maxLength: 12 }), fc.constantFrom(';', '; ', ';;', ' ;')).map(([pairs, separator]) => pairs.join(separator))
  const flood = fc.tuple(fc.integer({ min: 7, max: 10 }), value).map(([count, v]) => [...Array.from({ length: count }, () => `${NAME}=junk`), `${NAME}=${v}`].join('; '))
  return fc.oneof({ weight: 8, arbitrary: many }, { weight: 1, arbitrary: flood }, { weight: 1, arbitrary: junk })
}

for (const keys of ['random', 'caller'] as const) {
  for (const signed of keys === 'random' ? [true, false] : [true]) {
    for (const rolling of [false, true]) {
      test(`the native and the JS paths read every header alike [keys: ${keys}, ${signed ? 'signed' : 'unsigned'}${rolling ? ', rolling' : ''}]`, (t) => {
        const manager = new SessionManager({ engine: 'native', keys, clock: () => 1_000_000 })
        t.teardown(() => manager.close())
        const make = (index: number) => manager.create(keys === 'caller' ? { key: ['user-alice', 'a.b.c', `k${'x'.repeat(250)}`, 'bob', 'gone-1', 'gone-2'][index] } : {})
        const sessions = Array.from({ length: 6 }, (_, index) => make(index))
        const ids = sessions.map((session) => session.id)
        sessions[4].close()
        sessions[5].close()
        // A key too long to be any session's, and an id of the other encoding's length.
        ids.push('y'.repeat(300), 'A'.repeat(32))
        const cookie = new SessionCookie({ cookieName: NAME, ...(signed ? { secret: SECRETS } : {}), ...(rolling ? { cookie: { maxAge: 60_000 } } : {}) })
        const native = new CookieReader(manager, cookie)
        const js = new CookieReader(manager, cookie, false)
        t.true(native.native)
        t.false(js.native)
        let found = 0
        fc.assert(fc.property(headers(ids, signed), (header) => {
          const expected = readWith(js, manager, header)
          const actual = readWith(native, manager, header)
          if (expected.id !== undefined) found++
          return JSON.stringify(actual) === JSON.stringify(expected)
        }), { numRuns: 3000 })
        t.true(found > 100, `${found} headers named a live session`)
      })
    }
  }
}

// With persistence the engine is wrapped by the journal: the one-call read must journal its
// renewal as manager.get does, or a crash would lose it (the loader would see the older last
// activity, and the session could be dropped as expired).
test('a renewal made by the native read path is journaled, one Renew record per window', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-cookie-path-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sessions.skdb')
  let now = 1_000_000
  const manager = new SessionManager({ engine: 'native', idleTimeout: 10_000, resolution: 1000, clock: () => now, persist: { path } })
  t.teardown(() => manager.close())
  const session = manager.create({ user: 'ann' })
  const reader = new CookieReader(manager, new SessionCookie({ secret: SECRETS[0] }))
  t.true(reader.native)
  await manager.flush()
  const before = statSync(path).size
  const header = `sid=${session.id}.${sign(SECRETS[0], session.id)}`
  for (let read = 0; read < 100; read++) {
    now += 20
    t.is(readWith(reader, manager, header).id, session.id)
  }
  await manager.flush()
  // 2000 ms of reads at a 1000 ms window: two or three Renew records of 47 bytes (12 + 1 + 4 + 22 + 8).
  const grown = statSync(path).size - before
  t.true(grown >= 2 * 47 && grown <= 3 * 47, `${grown} bytes`)
  t.is(session.lastActivity, now)
})

// The binding copies a header shorter than 512 UTF-16 units to the stack and a longer one to the
// heap: every length around the boundary, and Node's default header limit, read alike.
test('headers at the stack/heap boundary of the native copy and at 16 KiB read alike on both paths', (t) => {
  const manager = new SessionManager({ engine: 'native', clock: () => 1_000_000 })
  t.teardown(() => manager.close())
  const session = manager.create()
  const cookie = new SessionCookie({ secret: SECRETS })
  const native = new CookieReader(manager, cookie)
  const js = new CookieReader(manager, cookie, false)
  const pair = `sid=${session.id}.${sign(SECRETS[0], session.id)}`
  for (const total of [...Array.from({ length: 9 }, (_, i) => 507 + i), 1023, 1024, 1025, 16 * 1024]) {
    for (const where of ['start', 'end'] as const) {
      const filler = 'x'.repeat(Math.max(0, total - pair.length - 4))
      const header = where === 'start' ? `${pair}; a=${filler}` : `a=${filler}; ${pair}`
      const expected = readWith(js, manager, header)
      t.is(expected.id, session.id, `${header.length} ${where}`)
      t.deepEqual(readWith(native, manager, header), expected, `${header.length} ${where}`)
      // Non-ASCII filler: UTF-16 units, not bytes, decide the copy and the positions.
      const wide = header.replace(/x/g, 'é')
      t.deepEqual(readWith(native, manager, wide), readWith(js, manager, wide), `${wide.length} ${where}, wide`)
    }
  }
})
