import { Buffer } from 'node:buffer'
import { randomFillSync } from 'node:crypto'

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Marks a character outside the alphabet in the decode tables: above every 6-bit value. */
const BAD = 64

/** ASCII code -> 6-bit base64url value, BAD for anything else. */
const BASE64URL_VALUE = new Uint8Array(128).fill(BAD)
for (let index = 0; index < BASE64URL.length; index++) BASE64URL_VALUE[BASE64URL.charCodeAt(index)] = index

/** 6-bit value -> ASCII code of its base64url character, and 4-bit value -> hex digit. */
const BASE64URL_CODES = Uint8Array.from(BASE64URL, (character) => character.charCodeAt(0))
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (character) => character.charCodeAt(0))

/** ASCII code -> hex digit value for 0-9 a-f, BAD for anything else (upper case included). */
const HEX_VALUE = new Uint8Array(128).fill(BAD)
for (let digit = 0; digit < 16; digit++) HEX_VALUE['0123456789abcdef'.charCodeAt(digit)] = digit

/** The 24 bits four base64url characters from `at` of `text` spell (garbage for bad ones). */
function base64Triple(text: ArrayLike<number>, at: number): number {
  return (BASE64URL_VALUE[text[at] & 127] << 18) | (BASE64URL_VALUE[text[at + 1] & 127] << 12) |
    (BASE64URL_VALUE[text[at + 2] & 127] << 6) | BASE64URL_VALUE[text[at + 3] & 127]
}

/** The little-endian 32-bit word eight hex digits from `at` of `text` spell (garbage for bad ones). */
function hexWord(text: ArrayLike<number>, at: number): number {
  let word = 0
  for (let byte = 0; byte < 4; byte++) {
    word |= ((HEX_VALUE[text[at + 2 * byte] & 127] << 4) | HEX_VALUE[text[at + 2 * byte + 1] & 127]) << (8 * byte)
  }
  return word
}

/**
 * Id words kept in the table entry itself, after the slot: at most 7, so an entry is at most 32
 * bytes and a probe usually costs one cache miss. Entries are packed, not padded to a power of
 * two: 20 bytes for the default 16-byte ids measured as fast as 32-byte aligned entries, and
 * 24 bytes less per session. Longer ids (29+ bytes) compare their remaining words against the
 * per-slot copy: a second miss, for those only (still faster than the Map at 64 bytes).
 */
const INLINE_WORDS = 7
/** A table doubles before it is more than half full, so probe chains stay short. */
const MAX_LOAD_SHIFT = 1
/**
 * The index is 2^TABLE_BITS tables, chosen by the top bits of an id's hash, each doubling on its
 * own: one table of every id rehashed them all inside one create (1.3 s of the 1.7 s a fill to
 * 4.2 * 10^6 sessions spent growing, the step at 2^22 alone ~0.6 s), where a table's doubling now
 * moves about 1/256 of them. At most 8 bits: a position is taken from the hash's bits below.
 */
const TABLE_BITS = 8
/** Entries a table starts with (2,048 in all over 256 tables). */
const INITIAL_TABLE_ENTRIES = 8
/** `asciiPosition` tells a table and a position in it as table * PLACE_TABLE + position. */
const PLACE_TABLE = 2 ** 27

/**
 * The id -> slot index of keys: 'random' mode: 256 open-addressing tables (linear probing), an
 * Int32Array each, chosen by the top bits of an id's hash, whose entries hold the slot + 1 (0
 * marks an empty entry) and the id's leading 32-bit words, plus a per-slot copy of every id's
 * words (Int32Array), from which `encode` spells the id again on demand. No JS object, string or Map entry exists per session, so a
 * lookup costs about one cache miss in the table and the garbage collector has nothing per
 * session to trace.
 *
 * A lookup decodes the client's string straight into the raw id bytes (`scratch`). The decoder
 * accepts exactly the strings `isValid` accepts (length, alphabet, canonical last character),
 * so validation is a by-product of decoding rather than a separate pass.
 *
 * Hashing and probe lengths. The position is a keyed multiply-add-shift of the first two id
 * words, with random multipliers drawn per index. A plain prefix of the id would do for the ids
 * themselves: every stored id is CSPRNG output we generated, never chosen by a client. But a
 * client can influence *which* ids stay stored: it can create sessions (each with a random id it
 * learns) and destroy all but those landing in a chosen region, growing one long probe chain that
 * its lookups then walk. Under a secret key it cannot tell where its ids land, so the stored set
 * stays a uniformly random one as far as positions go, and chains keep the expected O(1) length
 * (at most half full: ~1.5 probes per hit, ~2.5 per miss, and O(log n) at worst). A client's
 * chosen lookup id only selects which chain it walks; a failed compare on the first word ends
 * each probe, so no chosen id costs more than the longest chain, which it cannot build.
 *
 * Deletion shifts later entries of the chain back (no tombstones), so a table never degrades
 * and never needs a rehash to clean up: detach and sweep cost O(chain) each. Tables grow only
 * from `insert`, which only create and regenerate call, never from a sweep, each on its own.
 */
export class RandomIdIndex {
  /** 32-bit words per id (the last one zero-padded). */
  readonly words: number
  private readonly idBytes: number
  private readonly hex: boolean
  private readonly length: number
  /** Bits of the last base64url character that carry no data and must be zero. */
  private readonly unusedMask: number
  private readonly inline: number
  /** Ints per table entry: the slot + 1, then the inline words. */
  private readonly entryInts: number
  /** The id being looked up or inserted, as bytes and as words (one buffer). */
  private readonly scratchBytes: Uint8Array
  private readonly scratch: Int32Array
  /** The tables (Int32Array each, entryInts ints an entry), by the top tableBits bits of an id's hash. */
  private readonly tables: Int32Array[] = []
  /** Per table: entries - 1, and the shift that takes a position from the hash's remaining bits. */
  private readonly masks: Int32Array
  private readonly shifts: Uint8Array
  /** Per table: the ids filed in it. */
  private readonly counts: Int32Array
  private readonly tableBits: number
  /** Bytes of all tables. */
  private tableBytes = 0
  private count = 0
  private readonly multiplier0: number
  private readonly multiplier1: number
  /** Indexed by slot: the id words of every attached or detached session. */
  private slotWords = new Int32Array(0)
  private slotBytes = Buffer.alloc(0)
  /** What `warmAscii` read, kept so that its reads are made. */
  private warmed = 0
  /** `warmAscii`'s tables and offsets in them, grown to the most ids it was given at once. */
  private warmPositions = new Int32Array(0)
  private warmTables = new Int32Array(0)

  /**
   * `multipliers` fixes the hash key, for tests that need to know where ids land: with them the
   * index is one table (of 2,048 entries at first) unless `tableBits` says otherwise, and with
   * [1, 0] an id's table is the top `tableBits` bits of its first word and its position the bits
   * below; by default the key is random per index, over 256 tables.
   */
  constructor(idBytes: number, encoding: 'base64url' | 'hex', slots: number, multipliers?: readonly [number, number], tableBits?: number) {
    this.idBytes = idBytes
    this.hex = encoding === 'hex'
    this.length = this.hex ? idBytes * 2 : Math.ceil((idBytes * 4) / 3)
    const rest = idBytes % 3
    this.unusedMask = rest === 1 ? 15 : rest === 2 ? 3 : 0
    this.words = Math.ceil(idBytes / 4)
    this.inline = Math.min(this.words, INLINE_WORDS)
    this.entryInts = this.inline + 1
    this.scratch = new Int32Array(this.words)
    this.scratchBytes = new Uint8Array(this.scratch.buffer)
    if (multipliers === undefined) {
      const keys = new Int32Array(2)
      randomFillSync(keys)
      this.multiplier0 = keys[0] | 1
      this.multiplier1 = keys[1] | 1
    } else {
      this.multiplier0 = multipliers[0] | 0
      this.multiplier1 = multipliers[1] | 0
    }
    this.tableBits = tableBits ?? (multipliers === undefined ? TABLE_BITS : 0)
    if (!(this.tableBits >= 0 && this.tableBits <= TABLE_BITS)) throw new RangeError(`tableBits must be 0..${TABLE_BITS}`)
    const tables = 1 << this.tableBits
    this.masks = new Int32Array(tables)
    this.shifts = new Uint8Array(tables)
    this.counts = new Int32Array(tables)
    for (let table = 0; table < tables; table++) {
      this.tables.push(new Int32Array(0))
      this.resize(table, this.tableBits === 0 ? 2048 : INITIAL_TABLE_ENTRIES)
    }
    this.growSlots(slots)
  }

  /** Ids indexed. */
  get size(): number {
    return this.count
  }

  /**
   * Bytes held by the table and the per-slot words of `slots` slots (the engine's count: the
   * words of slots reserved for maxSessions and never used are not backed by the OS).
   */
  bytes(slots: number): number {
    return this.tableBytes + slots * this.words * 4
  }

  /** Sizes the table for `count` ids at once (a load), instead of doubling as they come. */
  reserve(count: number): void {
    // Ids spread over the tables at random: room for each table's mean share. Room for a few
    // standard deviations more would double every table's size whenever the mean sits just
    // below a power of two (at 10^6 ids: 80 MB instead of 40); a table that gets more than its
    // share doubles during the load, which moves 1/256 of the index.
    const perTable = Math.ceil(count / this.tables.length)
    for (let table = 0; table < this.tables.length; table++) {
      let entries = this.masks[table] + 1
      while (perTable * (1 << MAX_LOAD_SHIFT) > entries) entries *= 2
      if (entries > this.masks[table] + 1) this.resize(table, entries)
    }
  }

  /**
   * Makes room for the words of `slots` slots (the engine grows its records in step; it may ask
   * for fewer than there are after a reservation the OS refused it: they stay).
   */
  growSlots(slots: number): void {
    if (slots * this.words <= this.slotWords.length) return
    const slotWords = new Int32Array(slots * this.words)
    slotWords.set(this.slotWords)
    this.slotWords = slotWords
    this.slotBytes = Buffer.from(slotWords.buffer, 0, slotWords.byteLength)
  }

  /**
   * The slot indexed under `id`, or -1 when none is, including when `id` is not a well-formed
   * random id (wrong length, a character outside the alphabet, a non-canonical last character).
   */
  find(id: string): number {
    return this.decode(id) ? this.findScratch() : -1
  }

  /** Loads `id` as the current id; false when it is not the canonical spelling of an id. */
  loadText(id: string): boolean {
    return this.decode(id)
  }

  /**
   * Loads the id spelt by the `length` bytes at `start` of `text` (ASCII, as a session file
   * holds it) as the current id; false when they are not the canonical spelling of an id. The
   * same answers as `loadText` on the same characters, without making a string: a load reads
   * 10^6 ids, and making each a string cost ~0.1 µs. It repeats `decode`'s steps over bytes
   * rather than share them through an accessor of either kind of text: `decode` is on every
   * lookup's path, and a shared one would not compile to the same plain loads there.
   */
  loadAscii(text: ArrayLike<number>, start: number, length: number): boolean {
    if (length !== this.length) return false
    const out = this.scratchBytes
    let bad = 0
    // Codes are OR-ed together and checked once, as in `decode`: a code above 127 fails. Each
    // is read into a local first: `out` may be `text` as far as the compiler knows, so a code
    // read twice would be loaded twice.
    let codes = 0
    if (this.hex) {
      for (let index = start, byte = 0; byte < this.idBytes; index += 2, byte++) {
        const c0 = text[index]
        const c1 = text[index + 1]
        codes |= c0 | c1
        const high = HEX_VALUE[c0 & 127]
        const low = HEX_VALUE[c1 & 127]
        bad |= high | low
        out[byte] = (high << 4) | low
      }
      return codes < 128 && bad < BAD
    }
    const whole = length & ~3
    let byte = 0
    let index = start
    for (const end = start + whole; index < end; index += 4) {
      const c0 = text[index]
      const c1 = text[index + 1]
      const c2 = text[index + 2]
      const c3 = text[index + 3]
      codes |= c0 | c1 | c2 | c3
      const v0 = BASE64URL_VALUE[c0 & 127]
      const v1 = BASE64URL_VALUE[c1 & 127]
      const v2 = BASE64URL_VALUE[c2 & 127]
      const v3 = BASE64URL_VALUE[c3 & 127]
      bad |= v0 | v1 | v2 | v3
      const triple = (v0 << 18) | (v1 << 12) | (v2 << 6) | v3
      out[byte] = triple >> 16
      out[byte + 1] = triple >> 8
      out[byte + 2] = triple
      byte += 3
    }
    const rest = length - whole
    if (rest > 0) {
      const c0 = text[index]
      const c1 = text[index + 1]
      const c2 = rest === 3 ? text[index + 2] : 65 // 'A', value 0
      codes |= c0 | c1 | c2
      const v0 = BASE64URL_VALUE[c0 & 127]
      const v1 = BASE64URL_VALUE[c1 & 127]
      const v2 = BASE64URL_VALUE[c2 & 127]
      bad |= v0 | v1 | v2
      if (((rest === 3 ? v2 : v1) & this.unusedMask) !== 0) return false
      const triple = (v0 << 18) | (v1 << 12) | (v2 << 6)
      out[byte] = triple >> 16
      if (rest === 3) out[byte + 1] = triple >> 8
    }
    return codes < 128 && bad < BAD
  }

  /**
   * Reads the table entries where the ids spelt from `starts[0..count)` of `text` (ASCII) are
   * probed first, so that restoring them soon after finds those entries in cache. A load warms
   * the next several ids at once: the positions are all worked out first, then read in a tight
   * loop, so the reads (independent of each other) wait for memory together instead of one cache
   * miss per restore in turn; with the decoding between them, few were in flight at once.
   * Decodes only the two words a position is made of, and checks nothing: a bad id warms some
   * entry, which costs a read and changes nothing.
   */
  warmAscii(text: ArrayLike<number>, starts: Int32Array, count: number): void {
    if (this.warmPositions.length < count) this.warmPositions = new Int32Array(count)
    const positions = this.warmPositions
    const entryInts = this.entryInts
    if (this.warmTables.length < count) this.warmTables = new Int32Array(positions.length)
    const tables = this.warmTables
    for (let index = 0; index < count; index++) {
      const hash = this.asciiHash(text, starts[index])
      const which = this.tableOf(hash)
      tables[index] = which
      positions[index] = this.positionIn(hash, which) * entryInts
    }
    let read = this.warmed
    for (let index = 0; index < count; index++) read ^= this.tables[tables[index]][positions[index]]
    this.warmed = read
  }

  /**
   * Where the id spelt from `start` of `text` is probed from (what `warmAscii` reads): its table
   * times PLACE_TABLE plus its position in that table.
   */
  asciiPosition(text: ArrayLike<number>, start: number): number {
    return this.place(this.asciiHash(text, start))
  }

  /** The hash of the id spelt from `start` of `text`. */
  private asciiHash(text: ArrayLike<number>, start: number): number {
    let first: number
    let second: number
    if (this.hex) {
      first = hexWord(text, start)
      second = hexWord(text, start + 8)
    } else {
      // Twelve characters carry the first nine bytes, three per group of four.
      const t0 = base64Triple(text, start)
      const t1 = base64Triple(text, start + 4)
      const t2 = base64Triple(text, start + 8)
      first = ((t0 >> 16) & 255) | (((t0 >> 8) & 255) << 8) | ((t0 & 255) << 16) | (((t1 >> 16) & 255) << 24)
      second = ((t1 >> 8) & 255) | ((t1 & 255) << 8) | (((t2 >> 16) & 255) << 16) | (((t2 >> 8) & 255) << 24)
    }
    return this.hash(first, second)
  }

  /** Where the current id is probed from, as `asciiPosition` tells it (a spec holds one to the other; nothing else needs it). */
  currentPosition(): number {
    return this.place(this.hash(this.scratch[0], this.scratch[1]))
  }

  /** Loads `idBytes` bytes at `start` of `bytes` (a fresh random id) as the current id. */
  load(bytes: Uint8Array, start: number): void {
    const scratchBytes = this.scratchBytes
    for (let index = 0; index < this.idBytes; index++) scratchBytes[index] = bytes[start + index]
  }

  /** The slot indexed under the current id, or -1. */
  findScratch(): number {
    const scratch = this.scratch
    const first = scratch[0]
    const inline = this.inline
    const hash = this.hash(first, scratch[1])
    const which = this.tableOf(hash)
    const table = this.tables[which]
    const mask = this.masks[which]
    let position = this.positionIn(hash, which)
    for (;;) {
      const entry = position * this.entryInts
      const tagged = table[entry]
      if (tagged === 0) return -1
      if (table[entry + 1] === first) {
        let word = 1
        while (word < inline && table[entry + 1 + word] === scratch[word]) word++
        if (word === inline && (inline === this.words || this.restMatches(tagged - 1))) return tagged - 1
      }
      position = (position + 1) & mask
    }
  }

  /**
   * Stores the current id as `slot`'s and indexes it. The caller has checked it is not indexed
   * (findScratch); this is the only place the table grows.
   */
  insert(slot: number): void {
    this.slotWords.set(this.scratch, slot * this.words)
    const hash = this.hash(this.scratch[0], this.scratch[1])
    const which = this.tableOf(hash)
    if ((this.counts[which] + 1) << MAX_LOAD_SHIFT > this.masks[which] + 1) this.resize(which, (this.masks[which] + 1) * 2)
    this.file(slot, hash, which)
    this.counts[which]++
    this.count++
  }

  /** Unindexes `slot`; its words stay readable until the slot is reused. */
  remove(slot: number): void {
    const base = slot * this.words
    const hash = this.hash(this.slotWords[base], this.slotWords[base + 1])
    const which = this.tableOf(hash)
    const table = this.tables[which]
    const mask = this.masks[which]
    let hole = this.positionIn(hash, which)
    for (;;) {
      const tagged = table[hole * this.entryInts]
      if (tagged === slot + 1) break
      if (tagged === 0) return // not indexed
      hole = (hole + 1) & mask
    }
    // Backward shift: pull each later entry of the chain into the hole unless that would put
    // it before its home position, so every entry stays reachable from its home.
    let position = hole
    for (;;) {
      position = (position + 1) & mask
      const entry = position * this.entryInts
      if (table[entry] === 0) break
      const home = this.positionIn(this.hash(table[entry + 1], table[entry + 2]), which)
      if (((position - home) & mask) >= ((position - hole) & mask)) {
        table.copyWithin(hole * this.entryInts, entry, entry + this.entryInts)
        hole = position
      }
    }
    table.fill(0, hole * this.entryInts, hole * this.entryInts + this.entryInts)
    this.counts[which]--
    this.count--
  }

  /** Bytes of an id's text (it is ASCII). */
  get textLength(): number {
    return this.length
  }

  /**
   * Writes the id of `slot` as `encode` spells it, as ASCII bytes into `out` from `at` (the
   * caller made room for textLength): the session file's encoder, with no string made.
   */
  writeText(slot: number, out: Buffer, at: number): void {
    const bytes = this.slotBytes
    const start = slot * this.words * 4
    const end = start + this.idBytes
    if (this.hex) {
      for (let index = start; index < end; index++) {
        out[at++] = HEX_DIGITS[bytes[index] >> 4]
        out[at++] = HEX_DIGITS[bytes[index] & 15]
      }
      return
    }
    let index = start
    for (; index + 3 <= end; index += 3) {
      const triple = (bytes[index] << 16) | (bytes[index + 1] << 8) | bytes[index + 2]
      out[at++] = BASE64URL_CODES[triple >> 18]
      out[at++] = BASE64URL_CODES[(triple >> 12) & 63]
      out[at++] = BASE64URL_CODES[(triple >> 6) & 63]
      out[at++] = BASE64URL_CODES[triple & 63]
    }
    // base64url without padding: 2 characters for a last byte, 3 for a last two.
    if (end - index === 1) {
      out[at++] = BASE64URL_CODES[bytes[index] >> 2]
      out[at] = BASE64URL_CODES[(bytes[index] & 3) << 4]
    } else if (end - index === 2) {
      const pair = (bytes[index] << 8) | bytes[index + 1]
      out[at++] = BASE64URL_CODES[pair >> 10]
      out[at++] = BASE64URL_CODES[(pair >> 4) & 63]
      out[at] = BASE64URL_CODES[(pair & 15) << 2]
    }
  }

  /** The id of `slot` spelt in the configured encoding. */
  encode(slot: number): string {
    const start = slot * this.words * 4
    return this.slotBytes.toString(this.hex ? 'hex' : 'base64url', start, start + this.idBytes)
  }

  /** Decodes `id` into `scratch`; false when it is not the canonical spelling of an id. */
  private decode(id: string): boolean {
    const length = id.length
    if (length !== this.length) return false
    const out = this.scratchBytes
    // Codes are OR-ed together and checked once: any code above 127 or BAD value fails.
    let codes = 0
    let bad = 0
    if (this.hex) {
      const table = HEX_VALUE
      for (let index = 0, byte = 0; index < length; index += 2, byte++) {
        const high = id.charCodeAt(index)
        const low = id.charCodeAt(index + 1)
        codes |= high | low
        const highValue = table[high & 127]
        const lowValue = table[low & 127]
        bad |= highValue | lowValue
        out[byte] = (highValue << 4) | lowValue
      }
      return codes < 128 && bad < BAD
    }
    const table = BASE64URL_VALUE
    const whole = length & ~3
    let byte = 0
    for (let index = 0; index < whole; index += 4) {
      const c0 = id.charCodeAt(index)
      const c1 = id.charCodeAt(index + 1)
      const c2 = id.charCodeAt(index + 2)
      const c3 = id.charCodeAt(index + 3)
      codes |= c0 | c1 | c2 | c3
      const v0 = table[c0 & 127]
      const v1 = table[c1 & 127]
      const v2 = table[c2 & 127]
      const v3 = table[c3 & 127]
      bad |= v0 | v1 | v2 | v3
      const triple = (v0 << 18) | (v1 << 12) | (v2 << 6) | v3
      out[byte] = triple >> 16
      out[byte + 1] = triple >> 8
      out[byte + 2] = triple
      byte += 3
    }
    const rest = length - whole
    if (rest > 0) {
      // 2 characters carry one byte, 3 carry two; the leftover low bits must be zero.
      const c0 = id.charCodeAt(whole)
      const c1 = id.charCodeAt(whole + 1)
      const c2 = rest === 3 ? id.charCodeAt(whole + 2) : 65 // 'A', value 0
      codes |= c0 | c1 | c2
      const v0 = table[c0 & 127]
      const v1 = table[c1 & 127]
      const v2 = table[c2 & 127]
      bad |= v0 | v1 | v2
      if (((rest === 3 ? v2 : v1) & this.unusedMask) !== 0) return false
      const triple = (v0 << 18) | (v1 << 12) | (v2 << 6)
      out[byte] = triple >> 16
      if (rest === 3) out[byte + 1] = triple >> 8
    }
    return codes < 128 && bad < BAD
  }

  /** Words past the inline ones, compared against the slot's own copy. */
  private restMatches(slot: number): boolean {
    const slotWords = this.slotWords
    const scratch = this.scratch
    const base = slot * this.words
    for (let word = INLINE_WORDS; word < this.words; word++) {
      if (slotWords[base + word] !== scratch[word]) return false
    }
    return true
  }

  /** The keyed hash of an id's first two words (an int32). */
  private hash(first: number, second: number): number {
    return (Math.imul(first, this.multiplier0) + Math.imul(second, this.multiplier1)) | 0
  }

  /** The table of `hash`: its top tableBits bits. */
  private tableOf(hash: number): number {
    return (hash >>> 24) & ((1 << this.tableBits) - 1)
  }

  /** Where `hash` is probed from in table `which`: the bits below the table's, as many as it has positions. */
  private positionIn(hash: number, which: number): number {
    return ((hash << this.tableBits) >>> this.shifts[which]) & this.masks[which]
  }

  /** `asciiPosition`'s and `currentPosition`'s number for `hash`: its table and its position there. */
  private place(hash: number): number {
    const which = this.tableOf(hash)
    return which * PLACE_TABLE + this.positionIn(hash, which)
  }

  /** Writes the current id's entry for `slot` at the first free position of its chain in table `which`. */
  private file(slot: number, hash: number, which: number): void {
    const table = this.tables[which]
    const scratch = this.scratch
    const mask = this.masks[which]
    let position = this.positionIn(hash, which)
    while (table[position * this.entryInts] !== 0) position = (position + 1) & mask
    const entry = position * this.entryInts
    table[entry] = slot + 1
    for (let word = 0; word < this.inline; word++) table[entry + 1 + word] = scratch[word]
  }

  /** Refiles table `which` in `entries` entries (a power of two). */
  private resize(which: number, entries: number): void {
    const old = this.tables[which]
    const table = new Int32Array(entries * this.entryInts)
    this.tableBytes += table.byteLength - old.byteLength
    this.tables[which] = table
    this.masks[which] = entries - 1
    this.shifts[which] = 32 - Math.log2(entries)
    const mask = entries - 1
    for (let entry = 0; entry < old.length; entry += this.entryInts) {
      if (old[entry] === 0) continue
      let position = this.positionIn(this.hash(old[entry + 1], old[entry + 2]), which)
      while (table[position * this.entryInts] !== 0) position = (position + 1) & mask
      table.set(old.subarray(entry, entry + this.entryInts), position * this.entryInts)
    }
  }
}
