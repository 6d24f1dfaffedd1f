import { randomFillSync } from 'node:crypto'

/** The fewest buckets the table keeps (it grows from here, and never shrinks below). */
const MIN_BUCKETS = 64
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
 * cannot pick names that share a probe chain. The buckets grow by doubling (a rehash of the
 * buckets alone, no string read) and halve when an eighth full; the per-number arrays (a name
 * and a hash, ~12 bytes) keep the length of the most users there ever were at once.
 *
 * @internal The user index's; not public API.
 */
export class UserNumbers {
  /** Per bucket, BUCKET_FIELDS int32s: the name's hash and 1 + its number (0: empty). */
  private buckets = new Int32Array(MIN_BUCKETS * BUCKET_FIELDS)
  /** Bits of a bucket position: the table has 2^bits buckets. */
  private bits = Math.log2(MIN_BUCKETS)
  /** By number: the name (number 0 is no user). */
  private names: (string | undefined)[] = [undefined]
  /** By number: the name's hash, to find its bucket without reading the name. */
  private hashes = new Int32Array(MIN_BUCKETS)
  private readonly freeNumbers: number[] = []
  private count = 0
  /** The hash's secret key, drawn per table. */
  private readonly key0: number
  private readonly key1: number

  constructor() {
    const keys = new Int32Array(2)
    randomFillSync(keys)
    this.key0 = keys[0]
    this.key1 = keys[1]
  }

  /** Users with a number. */
  get size(): number {
    return this.count
  }

  /** Buckets in the table (for tests: it shrinks as users leave). */
  get capacity(): number {
    return 1 << this.bits
  }

  /** The name of `number`; undefined for 0 or a number given back. */
  nameOf(number: number): string | undefined {
    return this.names[number]
  }

  /** The number of `name`; 0 when it has none. */
  find(name: string): number {
    const hash = this.hashOf(name)
    const buckets = this.buckets
    const mask = (1 << this.bits) - 1
    for (let at = hash >>> (32 - this.bits); ; at = (at + 1) & mask) {
      const filed = buckets[at * BUCKET_FIELDS + FILED]
      if (filed === 0) return 0
      if (buckets[at * BUCKET_FIELDS + HASH] === hash && this.names[filed - 1] === name) return filed - 1
    }
  }

  /** The number of `name`, given one first when it has none (a user whose count is 0). */
  findOrAdd(name: string): number {
    const hash = this.hashOf(name)
    let buckets = this.buckets
    const mask = (1 << this.bits) - 1
    let at = hash >>> (32 - this.bits)
    for (; ; at = (at + 1) & mask) {
      const filed = buckets[at * BUCKET_FIELDS + FILED]
      if (filed === 0) break
      if (buckets[at * BUCKET_FIELDS + HASH] === hash && this.names[filed - 1] === name) return filed - 1
    }
    const number = this.freeNumbers.pop() ?? this.names.length
    this.names[number] = name
    if (number >= this.hashes.length) {
      const hashes = new Int32Array(this.hashes.length * 2)
      hashes.set(this.hashes)
      this.hashes = hashes
    }
    this.hashes[number] = hash
    if (++this.count * 2 > 1 << this.bits) {
      this.resize(this.bits + 1)
      buckets = this.buckets
      at = this.emptyBucket(hash)
    }
    buckets[at * BUCKET_FIELDS + HASH] = hash
    buckets[at * BUCKET_FIELDS + FILED] = number + 1
    return number
  }

  /** Gives `number` back (its user has no sessions left): its name is forgotten. */
  remove(number: number): void {
    const buckets = this.buckets
    const bits = this.bits
    const mask = (1 << bits) - 1
    let hole = this.hashes[number] >>> (32 - bits)
    for (; buckets[hole * BUCKET_FIELDS + FILED] !== number + 1; hole = (hole + 1) & mask) {
      // At most half full, so every chain ends: an empty bucket first means a broken caller.
      if (buckets[hole * BUCKET_FIELDS + FILED] === 0) throw new Error(`user number ${number} is not filed`)
    }
    // Backward shift: each later entry of the chain that may move into the hole does, so that
    // every entry stays reachable from its home bucket without passing an empty one.
    for (let next = (hole + 1) & mask; ; next = (next + 1) & mask) {
      const filed = buckets[next * BUCKET_FIELDS + FILED]
      if (filed === 0) break
      const home = buckets[next * BUCKET_FIELDS + HASH] >>> (32 - bits)
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      if (((next - home) & mask) < ((next - hole) & mask)) continue
      buckets[hole * BUCKET_FIELDS + HASH] = buckets[next * BUCKET_FIELDS + HASH]
      buckets[hole * BUCKET_FIELDS + FILED] = filed
      hole = next
    }
    buckets[hole * BUCKET_FIELDS + HASH] = 0
    buckets[hole * BUCKET_FIELDS + FILED] = 0
    this.names[number] = undefined
    this.freeNumbers.push(number)
    if (--this.count * 8 < 1 << bits && bits > Math.log2(MIN_BUCKETS)) this.resize(bits - 1)
  }

  /**
   * Calls `visit` with each name and its number, by number: the same order for the same history
   * in every process (bucket order would follow the random key). A name removed during the walk
   * and not yet visited is not visited; one added may or may not be.
   */
  forEach(visit: (name: string, number: number) => void): void {
    const names = this.names
    for (let number = 1; number < names.length; number++) {
      const name = names[number]
      if (name !== undefined) visit(name, number)
    }
  }

  clear(): void {
    this.buckets = new Int32Array(MIN_BUCKETS * BUCKET_FIELDS)
    this.bits = Math.log2(MIN_BUCKETS)
    this.names = [undefined]
    this.hashes = new Int32Array(MIN_BUCKETS)
    this.freeNumbers.length = 0
    this.count = 0
  }

  /**
   * Walks the table checking what every operation relies on, and throws when it is broken: each
   * entry reachable from its home bucket without an empty one between, each number filed once,
   * under its own hash and name, the counts agreeing, and the table at most half full. O(table).
   */
  check(): void {
    const buckets = this.buckets
    const bits = this.bits
    const mask = (1 << bits) - 1
    const seen = new Set<number>()
    for (let at = 0; at <= mask; at++) {
      const filed = buckets[at * BUCKET_FIELDS + FILED]
      if (filed === 0) continue
      const number = filed - 1
      const name = this.names[number]
      if (name === undefined) throw new Error(`user number ${number} is filed without a name`)
      if (seen.has(number)) throw new Error(`user number ${number} is filed twice`)
      seen.add(number)
      const hash = buckets[at * BUCKET_FIELDS + HASH]
      if (hash !== this.hashOf(name) || hash !== this.hashes[number]) throw new Error(`user ${name} is filed under another hash`)
      for (let probe = hash >>> (32 - bits); probe !== at; probe = (probe + 1) & mask) {
        if (buckets[probe * BUCKET_FIELDS + FILED] === 0) throw new Error(`user ${name} is cut off from its home bucket`)
      }
    }
    if (seen.size !== this.count) throw new Error(`${seen.size} users filed, ${this.count} counted`)
    if (this.count * 2 > 1 << bits) throw new Error(`${this.count} users in ${1 << bits} buckets`)
    const named = this.names.filter((name) => name !== undefined).length
    if (named !== this.count) throw new Error(`${named} names kept for ${this.count} users`)
  }

  /** The first empty bucket of `hash`'s chain. */
  private emptyBucket(hash: number): number {
    const buckets = this.buckets
    const mask = (1 << this.bits) - 1
    let at = hash >>> (32 - this.bits)
    while (buckets[at * BUCKET_FIELDS + FILED] !== 0) at = (at + 1) & mask
    return at
  }

  /** Refiles every entry in a table of 2^bits buckets (from the hashes kept in the buckets). */
  private resize(bits: number): void {
    const old = this.buckets
    this.buckets = new Int32Array((1 << bits) * BUCKET_FIELDS)
    this.bits = bits
    for (let at = 0; at < old.length; at += BUCKET_FIELDS) {
      const filed = old[at + FILED]
      if (filed === 0) continue
      const to = this.emptyBucket(old[at + HASH])
      this.buckets[to * BUCKET_FIELDS + HASH] = old[at + HASH]
      this.buckets[to * BUCKET_FIELDS + FILED] = filed
    }
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
