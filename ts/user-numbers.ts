import { randomFillSync } from 'node:crypto'
import { PAGE_BITS, PAGE_MASK, PAGE_SIZE } from './pages'

/** Tables the names are spread over by the top bits of their hash: 2^TABLE_BITS. */
const TABLE_BITS = 8
/**
 * Low bits of a hash that place a name within its table (the bits above choose the table): a
 * table has at most 2^24 buckets, 2^23 names, where 2^25 users (one a slot) over 256 tables
 * put about 2^17.
 */
const POSITION_BITS = 24
const POSITION_MASK = (1 << POSITION_BITS) - 1
/**
 * log2 of the fewest buckets a table keeps. A table is made with its first name and kept when
 * emptied: dropped with its last, a site with a few users made and freed one on almost every
 * login and logout (88-111 ns a pair against 43-47, a hostile review's probe).
 */
const MIN_BITS = 3
/** Int32s per bucket and their places. */
const BUCKET_FIELDS = 2
const HASH = 0
/** 1 + the number filed in the bucket; 0 for an empty bucket. */
const FILED = 1

/**
 * The users that have sessions, each with a small number while it has any: the user index's
 * map from a user's name to its number, in typed arrays rather than a `Map<string, number>`.
 *
 * Why not a Map: a login of a user with no other session adds a name and its close removes it,
 * and at 10^6 sessions the Map's part of that was three quarters of what the whole index added to
 * a create and its close (bench/users.ts, 2026-12-04). A V8 Map lookup reads a bucket, then an
 * entry, then the key string of each entry on the chain to compare it (its hash lives in the
 * string), each a cache miss when the map is large; a delete repeats the search by name. Here a
 * bucket holds the name's hash beside its number, so a probe rejects other names without
 * reading them, and a removal finds its bucket by the hash kept per number, reading no string.
 *
 * Open addressing with linear probing, at most half full, backward-shift deletion (no
 * tombstones). The hash is a keyed pseudo-random function (HalfSipHash-1-3) with a secret key
 * per table: user names may be chosen by clients (sign-up names), and without the key they
 * cannot pick names that share a probe chain.
 *
 * No step copies the whole table: the names are spread over 256 tables by the top bits of their
 * hash, each doubling (a rehash of its buckets alone, no string read) and halving on its own, so
 * a resize moves about 1/256 of the names; and the per-number names, hashes and the stack of
 * numbers given back live in pages of 4,096. One table of all names rehashed 2^22 of them inside
 * the create that brought the 2^22nd user (308 ms, 2026-12-04). The pages keep the length of the
 * most users there ever were at once (~12 bytes a number).
 *
 * @internal The user index's; not public API.
 */
export class UserNumbers {
  /** Per table, its buckets (BUCKET_FIELDS int32s each); undefined while it holds no name. */
  private tables: (Int32Array | undefined)[]
  /** Per table: log2 of its buckets (0 while it has none). */
  private tableBits: Uint8Array
  /** Per table: the names filed in it. */
  private tableCounts: Int32Array
  /** Which of a hash's top bits choose its table: 2^tableBits - 1 shifted down. */
  private readonly tableMask: number
  /** Pages of names by number (number 0 is no user; undefined: a number not in use). */
  private names: (string | undefined)[][] = []
  /** Pages of each number's name's hash, to find its bucket without reading the name. */
  private hashes: Int32Array[] = []
  /** The lowest number never handed out. */
  private next = 1
  /** Pages of the stack of numbers given back, and its height. */
  private freePages: Int32Array[] = []
  private freeTop = 0
  private count = 0
  private buckets = 0
  /** The hash's secret key, drawn per table. */
  private readonly key0: number
  private readonly key1: number

  /** `tableBits`: log2 of the tables (tests use 0, one table, to see it grow and shrink). */
  constructor(tableBits = TABLE_BITS) {
    const keys = new Int32Array(2)
    randomFillSync(keys)
    this.key0 = keys[0]
    this.key1 = keys[1]
    this.tableMask = (1 << tableBits) - 1
    this.tables = new Array<Int32Array | undefined>(1 << tableBits).fill(undefined)
    this.tableBits = new Uint8Array(1 << tableBits)
    this.tableCounts = new Int32Array(1 << tableBits)
  }

  /** Users with a number. */
  get size(): number {
    return this.count
  }

  /** Buckets in all tables (for tests: it shrinks as users leave, each table to its least, 2^MIN_BITS). */
  get capacity(): number {
    return this.buckets
  }

  /** The name of `number`; undefined for 0 or a number given back. */
  nameOf(number: number): string | undefined {
    const page = this.names[number >>> PAGE_BITS]
    return page === undefined ? undefined : page[number & PAGE_MASK]
  }

  /** The number of `name`; 0 when it has none. */
  find(name: string): number {
    const hash = this.hashOf(name)
    const which = (hash >>> POSITION_BITS) & this.tableMask
    const table = this.tables[which]
    if (table === undefined) return 0
    const bits = this.tableBits[which]
    const mask = (1 << bits) - 1
    for (let at = (hash & POSITION_MASK) >>> (POSITION_BITS - bits); ; at = (at + 1) & mask) {
      const filed = table[at * BUCKET_FIELDS + FILED]
      if (filed === 0) return 0
      if (table[at * BUCKET_FIELDS + HASH] === hash && this.nameOf(filed - 1) === name) return filed - 1
    }
  }

  /** The number of `name`, given one first when it has none (a user whose count is 0). */
  findOrAdd(name: string): number {
    const hash = this.hashOf(name)
    const which = (hash >>> POSITION_BITS) & this.tableMask
    let table = this.tables[which]
    let at = 0
    if (table !== undefined) {
      const bits = this.tableBits[which]
      const mask = (1 << bits) - 1
      for (at = (hash & POSITION_MASK) >>> (POSITION_BITS - bits); ; at = (at + 1) & mask) {
        const filed = table[at * BUCKET_FIELDS + FILED]
        if (filed === 0) break
        if (table[at * BUCKET_FIELDS + HASH] === hash && this.nameOf(filed - 1) === name) return filed - 1
      }
    }
    const number = this.freeTop > 0 ? this.popFree() : this.next++
    this.file(number, name, hash)
    this.count++
    const count = ++this.tableCounts[which]
    // Past POSITION_BITS a table gets no more positions: it fills instead (unreachable with 256
    // tables, where 2^25 users put ~2^17 in each; one table, a test's, holds 2^24 - 1 names).
    if (count >= 1 << POSITION_BITS) {
      this.tableCounts[which]--
      this.count--
      this.names[number >>> PAGE_BITS][number & PAGE_MASK] = undefined
      this.pushFree(number)
      throw new RangeError(`a user table holds at most ${(1 << POSITION_BITS) - 1} names`)
    }
    if (table === undefined || (count * 2 > 1 << this.tableBits[which] && this.tableBits[which] < POSITION_BITS)) {
      table = this.resize(which, table === undefined ? MIN_BITS : this.tableBits[which] + 1)
      at = emptyBucket(table, this.tableBits[which], hash)
    }
    table[at * BUCKET_FIELDS + HASH] = hash
    table[at * BUCKET_FIELDS + FILED] = number + 1
    return number
  }

  /** Gives `number` back (its user has no sessions left): its name is forgotten. */
  remove(number: number): void {
    if (this.nameOf(number) === undefined) throw new Error(`user number ${number} is not filed`)
    const hash = this.hashes[number >>> PAGE_BITS][number & PAGE_MASK]
    const which = (hash >>> POSITION_BITS) & this.tableMask
    const table = this.tables[which]
    if (table === undefined) throw new Error(`user number ${number} is not filed`)
    const bits = this.tableBits[which]
    const mask = (1 << bits) - 1
    let hole = (hash & POSITION_MASK) >>> (POSITION_BITS - bits)
    for (; table[hole * BUCKET_FIELDS + FILED] !== number + 1; hole = (hole + 1) & mask) {
      // At most half full, so every chain ends: an empty bucket first means a broken caller.
      if (table[hole * BUCKET_FIELDS + FILED] === 0) throw new Error(`user number ${number} is not filed`)
    }
    // Backward shift: each later entry of the chain that may move into the hole does, so that
    // every entry stays reachable from its home bucket without passing an empty one.
    for (let next = (hole + 1) & mask; ; next = (next + 1) & mask) {
      const filed = table[next * BUCKET_FIELDS + FILED]
      if (filed === 0) break
      const home = (table[next * BUCKET_FIELDS + HASH] & POSITION_MASK) >>> (POSITION_BITS - bits)
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      if (((next - home) & mask) < ((next - hole) & mask)) continue
      table[hole * BUCKET_FIELDS + HASH] = table[next * BUCKET_FIELDS + HASH]
      table[hole * BUCKET_FIELDS + FILED] = filed
      hole = next
    }
    table[hole * BUCKET_FIELDS + HASH] = 0
    table[hole * BUCKET_FIELDS + FILED] = 0
    this.names[number >>> PAGE_BITS][number & PAGE_MASK] = undefined
    this.pushFree(number)
    this.count--
    const left = --this.tableCounts[which]
    if (left * 8 < 1 << bits && bits > MIN_BITS) this.resize(which, bits - 1)
  }

  /**
   * Calls `visit` with each name and its number, by number: the same order for the same history
   * in every process (bucket order would follow the random key). A name removed during the walk
   * and not yet visited is not visited; one added may or may not be.
   */
  forEach(visit: (name: string, number: number) => void): void {
    for (let number = 1; number < this.next; number++) {
      const name = this.nameOf(number)
      if (name !== undefined) visit(name, number)
    }
  }

  clear(): void {
    this.tables.fill(undefined)
    this.tableBits.fill(0)
    this.tableCounts.fill(0)
    this.names = []
    this.hashes = []
    this.next = 1
    this.freePages = []
    this.freeTop = 0
    this.count = 0
    this.buckets = 0
  }

  /**
   * Walks the tables checking what every operation relies on, and throws when one is broken: each
   * entry in the table its hash chooses, reachable from its home bucket without an empty one
   * between, each number filed once, under its own hash and name, the counts agreeing, and each
   * table at most half full (or at its largest, 2^POSITION_BITS buckets). O(tables + numbers).
   */
  check(): void {
    const seen = new Set<number>()
    let buckets = 0
    for (let which = 0; which < this.tables.length; which++) {
      const table = this.tables[which]
      if (table === undefined) {
        if (this.tableCounts[which] !== 0) throw new Error(`table ${which} counts ${this.tableCounts[which]} names and has no buckets`)
        continue
      }
      const bits = this.tableBits[which]
      const mask = (1 << bits) - 1
      if (table.length !== (1 << bits) * BUCKET_FIELDS) throw new Error(`table ${which} has ${table.length / BUCKET_FIELDS} buckets, not 2^${bits}`)
      buckets += 1 << bits
      let filedHere = 0
      for (let at = 0; at <= mask; at++) {
        const filed = table[at * BUCKET_FIELDS + FILED]
        if (filed === 0) continue
        filedHere++
        const number = filed - 1
        const name = this.nameOf(number)
        if (name === undefined) throw new Error(`user number ${number} is filed without a name`)
        if (seen.has(number)) throw new Error(`user number ${number} is filed twice`)
        seen.add(number)
        const hash = table[at * BUCKET_FIELDS + HASH]
        if (hash !== this.hashOf(name) || hash !== this.hashes[number >>> PAGE_BITS][number & PAGE_MASK]) throw new Error(`user ${name} is filed under another hash`)
        if (((hash >>> POSITION_BITS) & this.tableMask) !== which) throw new Error(`user ${name} is filed in another table than its hash's`)
        for (let probe = (hash & POSITION_MASK) >>> (POSITION_BITS - bits); probe !== at; probe = (probe + 1) & mask) {
          if (table[probe * BUCKET_FIELDS + FILED] === 0) throw new Error(`user ${name} is cut off from its home bucket`)
        }
      }
      if (filedHere !== this.tableCounts[which]) throw new Error(`table ${which}: ${filedHere} users filed, ${this.tableCounts[which]} counted`)
      if (bits > POSITION_BITS) throw new Error(`table ${which} has 2^${bits} buckets, more than its positions`)
      if (filedHere * 2 > 1 << bits && bits < POSITION_BITS) throw new Error(`${filedHere} users in ${1 << bits} buckets of table ${which}`)
    }
    if (seen.size !== this.count) throw new Error(`${seen.size} users filed, ${this.count} counted`)
    if (buckets !== this.buckets) throw new Error(`${buckets} buckets, ${this.buckets} counted`)
    let named = 0
    this.forEach(() => named++)
    if (named !== this.count) throw new Error(`${named} names kept for ${this.count} users`)
  }

  /** Keeps `name` and its hash for `number`, making their pages when it is the first of one. */
  private file(number: number, name: string, hash: number): void {
    const page = number >>> PAGE_BITS
    if (page === this.names.length) {
      this.names.push(new Array<string | undefined>(PAGE_SIZE).fill(undefined))
      this.hashes.push(new Int32Array(PAGE_SIZE))
    }
    this.names[page][number & PAGE_MASK] = name
    this.hashes[page][number & PAGE_MASK] = hash
  }

  private pushFree(number: number): void {
    const page = this.freeTop >>> PAGE_BITS
    if (page === this.freePages.length) this.freePages.push(new Int32Array(PAGE_SIZE))
    this.freePages[page][this.freeTop & PAGE_MASK] = number
    this.freeTop++
  }

  private popFree(): number {
    this.freeTop--
    return this.freePages[this.freeTop >>> PAGE_BITS][this.freeTop & PAGE_MASK]
  }

  /** Refiles table `which` in 2^bits buckets (from the hashes kept in its buckets): its new buckets. */
  private resize(which: number, bits: number): Int32Array {
    const old = this.tables[which]
    const table = new Int32Array((1 << bits) * BUCKET_FIELDS)
    this.buckets += (1 << bits) - (old === undefined ? 0 : old.length / BUCKET_FIELDS)
    this.tables[which] = table
    this.tableBits[which] = bits
    if (old === undefined) return table
    for (let at = 0; at < old.length; at += BUCKET_FIELDS) {
      const filed = old[at + FILED]
      if (filed === 0) continue
      const to = emptyBucket(table, bits, old[at + HASH])
      table[to * BUCKET_FIELDS + HASH] = old[at + HASH]
      table[to * BUCKET_FIELDS + FILED] = filed
    }
    return table
  }

  /**
   * HalfSipHash-1-3 of `name` under the table's secret 64-bit key: a keyed pseudo-random
   * function, so that no set of names shares a hash for every key. Each step takes two UTF-16
   * units as one 32-bit word; the last word holds an odd last unit and the length (mod 2^16),
   * so that the words spell one name only. A cheaper multiply-and-rotate hash was tried first:
   * flipping bit 15 of one unit and bit 14 of the next left its hash unchanged whatever the key,
   * and 65,536 names of 34 units filed into one chain (a hostile review, 2026-12-04).
   */
  private hashOf(name: string): number {
    let v0 = this.key0
    let v1 = this.key1
    let v2 = this.key0 ^ 0x6c796765
    let v3 = this.key1 ^ 0x74656462
    const length = name.length
    let at = 0
    let word = 0
    for (; ; at += 2) {
      const last = at + 1 >= length
      word = last ? (at < length ? name.charCodeAt(at) : 0) | (length << 16) : name.charCodeAt(at) | (name.charCodeAt(at + 1) << 16)
      v3 ^= word
      // One compression round.
      v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16)
      v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2
      v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0
      v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16)
      v0 ^= word
      if (last) break
    }
    v2 ^= 0xff
    // Three finalization rounds.
    for (let round = 0; round < 3; round++) {
      v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16)
      v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2
      v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0
      v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16)
    }
    return v1 ^ v3
  }
}

/** The first empty bucket of `hash`'s chain in `table` of 2^bits buckets. */
function emptyBucket(table: Int32Array, bits: number, hash: number): number {
  const mask = (1 << bits) - 1
  let at = (hash & POSITION_MASK) >>> (POSITION_BITS - bits)
  while (table[at * BUCKET_FIELDS + FILED] !== 0) at = (at + 1) & mask
  return at
}
