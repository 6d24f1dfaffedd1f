import test from 'ava'
import fc from 'fast-check'
import { UserNumbers } from '../ts/user-numbers'

/*
 * The user index's name table (ts/user-numbers.ts): random sequences of adds, finds and removes
 * against a Map, with the table's invariants checked after every step, through growth and
 * shrinking, with names that differ only in their last unit, their length or their high bits.
 */

type Op = { op: 'add' | 'find' | 'remove'; name: string }

const names = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer({ min: 0, max: 300 }).map((n) => `user-${n}`),
  fc.integer({ min: 0, max: 40 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 0, max: 0xffff }).map((unit) => `a${String.fromCharCode(unit)}`),
)
const ops = fc.array(fc.record({ op: fc.constantFrom<Op['op']>('add', 'add', 'find', 'remove'), name: names }), { maxLength: 400 })

for (const [tables, label] of [[undefined, '256 tables'], [0, 'one table, grown and shrunk']] as const) {
  test(`the table agrees with a Map through random adds, finds and removes, its invariants holding after every step (${label})`, (t) => {
    fc.assert(fc.property(ops, (sequence) => {
      const table = new UserNumbers(tables)
      const model = new Map<string, number>()
      for (const { op, name } of sequence) {
        if (op === 'add') {
          const number = table.findOrAdd(name)
          const known = model.get(name)
          if (known !== undefined && known !== number) return false
          if (known === undefined && [...model.values()].includes(number)) return false
          if (number < 1) return false
          model.set(name, number)
        } else if (op === 'find') {
          if (table.find(name) !== (model.get(name) ?? 0)) return false
        } else {
          const number = model.get(name)
          if (number !== undefined) {
            table.remove(number)
            model.delete(name)
          }
          if (table.find(name) !== 0) return false
        }
        table.check()
        if (table.size !== model.size) return false
        for (const [known, number] of model) if (table.nameOf(number) !== known || table.find(known) !== number) return false
      }
      const visited = new Map<string, number>()
      table.forEach((name, number) => visited.set(name, number))
      return visited.size === model.size && [...model].every(([name, number]) => visited.get(name) === number)
    }), { numRuns: 500 })
    t.pass()
  })
}

test('a crowd of one-off users grows the tables and, once gone, leaves each at its least', (t) => {
  const table = new UserNumbers()
  // Tables are made as names come and kept at their least (8 buckets) once emptied.
  const empty = 256 * 8
  const numbers: number[] = []
  for (let user = 0; user < 50_000; user++) numbers.push(table.findOrAdd(`one-off-${user}`))
  table.check()
  t.true(table.capacity >= 100_000, 'at most half full')
  t.is(table.find('one-off-49999'), numbers[49_999])
  for (const number of numbers) table.remove(number)
  table.check()
  t.is(table.size, 0)
  t.is(table.capacity, empty)
  t.is(table.find('one-off-0'), 0)
  // Numbers given back are handed out again rather than growing without end.
  t.true(table.findOrAdd('again') <= 50_000)
})

test('a name is told apart from others with equal hashes only by its text, and the empty name is a name', (t) => {
  const table = new UserNumbers()
  const ada = table.findOrAdd('ada')
  const empty = table.findOrAdd('')
  t.not(ada, empty)
  t.is(table.find(''), empty)
  t.is(table.find('ada\u0000'), 0)
  t.is(table.find('ad'), 0)
  t.is(table.find(['a', 'd', 'a'].join('')), ada, 'found by content, not identity')
})

test('check() fails when an invariant is broken on purpose, and giving a number back twice throws', (t) => {
  const table = new UserNumbers()
  const ada = table.findOrAdd('ada')
  table.findOrAdd('bob')
  table.check()
  const internal = table as unknown as { tables: (Int32Array | undefined)[]; names: (string | undefined)[][] }
  // A bucket filed under a hash that is not its name's.
  const buckets = internal.tables.find((buckets) => buckets?.some((value, index) => index % 2 === 1 && value === ada + 1))!
  const at = buckets.findIndex((value, index) => index % 2 === 1 && value === ada + 1) - 1
  buckets[at] ^= 1
  t.throws(() => table.check(), { message: /another hash/ })
  buckets[at] ^= 1
  table.check()
  // A name forgotten while its number stays filed.
  internal.names[0][ada] = undefined
  t.throws(() => table.check(), { message: /without a name/ })
  internal.names[0][ada] = 'ada'
  table.check()
  table.remove(ada)
  t.throws(() => table.remove(ada), { message: /not filed/ })
  table.check()
})

test('names built to collide under a multiply-and-rotate hash get distinct hashes, whatever the key', (t) => {
  // Flipping bit 15 of one unit and bit 14 of the next cancelled out in the first hash this
  // table had, for every key: 2^(pairs - 1) names of one hash (a hostile review's find).
  const pairs = 13
  const floodName = (choice: number): string => {
    const units: number[] = []
    for (let at = 0; at < 2 * pairs; at++) units.push(0x61 + (at % 26))
    for (let pair = 0; pair < pairs - 1; pair++) {
      if ((choice >>> pair) & 1) {
        units[2 * pair + 1] ^= 0x8000
        units[2 * pair + 2] ^= 0x4000
      }
    }
    return String.fromCharCode(...units)
  }
  for (let table = 0; table < 3; table++) {
    const numbers = new UserNumbers()
    const hashOf = (numbers as unknown as { hashOf(name: string): number }).hashOf.bind(numbers)
    const hashes = new Set<number>()
    for (let choice = 0; choice < 4096; choice++) hashes.add(hashOf(floodName(choice)))
    // 4,096 random 32-bit values collide with probability ~0.2%; allow a few.
    t.true(hashes.size >= 4090, `${hashes.size} distinct hashes`)
    for (let choice = 0; choice < 4096; choice++) numbers.findOrAdd(floodName(choice))
    numbers.check()
  }
})

test('forEach visits by number, and every name even when each is removed as it is visited', (t) => {
  const table = new UserNumbers()
  const added = Array.from({ length: 100 }, (_, user) => table.findOrAdd(`user-${user}`))
  const visited: number[] = []
  table.forEach((_, number) => {
    visited.push(number)
    table.remove(number)
  })
  t.deepEqual(visited, added)
  t.is(table.size, 0)
  table.check()
})
