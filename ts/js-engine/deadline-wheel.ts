/** The "no slot" link value. */
export const NIL = -1

const SLOTS = 64
/** Levels of 64 buckets: 64^6 ticks (over two years at 1 ms) before the overflow. */
const LEVELS = 6
const OVERFLOW = LEVELS * SLOTS
const NEVER = OVERFLOW + 1
const BUCKETS = NEVER + 1
/** A link's bucket when the slot is not filed. */
const UNFILED = -1
/** 64^level, exact in doubles. */
const SPAN = Array.from({ length: LEVELS + 2 }, (_, level) => 64 ** level)

/** Eviction class: every session with no user is evicted before any session with one. */
export const ANONYMOUS = 0
export const USER = 1

/** The buckets of one class and their cursor (crates/core/src/wheel.rs `Ring`). */
class Ring {
  /** The tick every bucket is relative to; only moves forward. */
  cur = 0
  /** A lower bound of the deadlines in the current bucket while it is not empty. */
  curFloor = Infinity
  /** The current bucket is in order of deadline (the Rust `Ring::sorted`). */
  sorted = false
  /** While `sorted`: the deadline of its last session, which a filing in order must reach. */
  sortedMax = -Infinity
  readonly head = new Int32Array(BUCKETS).fill(NIL)
  readonly tail = new Int32Array(BUCKETS).fill(NIL)
  /** Two words per level: bit i of bucket i (0..31 in the first, 32..63 in the second). */
  readonly occupied = new Int32Array(LEVELS * 2)
}

/** What `next` found, in the order buckets come due (the Rust `Next`). */
const PENDING = 0
const CURRENT = 1
const LATER = 2
const OVERFLOWING = 3

/** The bucket index of tick `t` on `level`, in 0..63 (floor division, as the Rust shifts). */
function indexOf(t: number, level: number): number {
  const q = Math.floor(t / SPAN[level])
  return q - Math.floor(q / SLOTS) * SLOTS
}

function lowestBit(word: number): number {
  return 31 - Math.clz32(word & -word)
}

/**
 * The deadline wheel of the JsEngine: the same hierarchical wheel, step for step, as the Rust
 * core's (crates/core/src/wheel.rs, docs/engine-algorithm.md "Deadline wheel"), so both engines
 * sweep and evict in the same order. Two rings (classes) share the slots' links, which live in
 * the engine's per-slot records: this wheel owns the three ints at `offset` of each record
 * (previous, next, class * BUCKETS + bucket), and the engine calls `attach` when it grows them.
 */
export class DeadlineWheel {
  private links: Int32Array = new Int32Array(0)
  private readonly rings = [new Ring(), new Ring()]
  private readonly prev: number
  private readonly next: number
  private readonly bucket: number
  /** What `next` found: kind, class, bucket, start tick, lower bound. */
  private foundKind = 0
  private foundBucket = 0
  private foundStart = 0
  /** The walk of one sweep call (the Rust `SweepCursor`). */
  private walking = false
  private walkClass = 0
  private walkNext = NIL
  private walkCurrent = false
  private walkKept = Infinity
  private walkSorted = false
  /** Slots a full walk of the current bucket left there, in list order (the Rust `kept`). */
  private keptSlots: number[] = []
  private keptDeadlines: number[] = []
  private work = 0

  constructor(
    private readonly stride: number,
    offset: number,
    private readonly resolution: number,
    /** The slot's true deadline (Infinity when it has none). */
    private readonly deadline: (slot: number) => number,
  ) {
    this.prev = offset
    this.next = offset + 1
    this.bucket = offset + 2
  }

  attach(links: Int32Array): void {
    this.links = links
  }

  /** Marks a fresh slot unfiled. */
  clear(slot: number): void {
    this.links[slot * this.stride + this.bucket] = UNFILED
  }

  /** The class a filed slot is in, or -1. */
  classOf(slot: number): number {
    const bucket = this.links[slot * this.stride + this.bucket]
    return bucket === UNFILED ? -1 : bucket < BUCKETS ? ANONYMOUS : USER
  }

  private tick(deadline: number): number {
    return Math.floor(deadline / this.resolution)
  }

  private push(slot: number, cls: number, bucket: number): void {
    const ring = this.rings[cls]
    const links = this.links
    const tail = ring.tail[bucket]
    ring.tail[bucket] = slot
    if (tail === NIL) {
      ring.head[bucket] = slot
      if (bucket < OVERFLOW) {
        const index = bucket % SLOTS
        ring.occupied[(bucket - index) / 32 + (index >>> 5)] |= 1 << (index & 31)
      }
    } else {
      links[tail * this.stride + this.next] = slot
    }
    const base = slot * this.stride
    links[base + this.prev] = tail
    links[base + this.next] = NIL
    links[base + this.bucket] = cls * BUCKETS + bucket
  }

  /** True when no bucket holds a slot (the never list aside): the cursor may move anywhere. */
  private isEmpty(ring: Ring): boolean {
    const occupied = ring.occupied
    for (let word = 0; word < occupied.length; word++) if (occupied[word] !== 0) return false
    return ring.head[OVERFLOW] === NIL
  }

  /**
   * Files an unfiled slot with `deadline` in class `cls`; `since` is its last activity, where the
   * cursor of an empty ring starts. O(1).
   */
  file(slot: number, cls: number, deadline: number, since: number): void {
    const ring = this.rings[cls]
    if (deadline !== Infinity && this.isEmpty(ring)) ring.cur = this.tick(since)
    this.place(slot, cls, deadline)
  }

  /** Files an unfiled slot in ring `cls` relative to its cursor. */
  private place(slot: number, cls: number, deadline: number): void {
    if (deadline === Infinity) {
      this.push(slot, cls, NEVER)
      return
    }
    const t = this.tick(deadline)
    const ring = this.rings[cls]
    const cur = ring.cur
    if (t <= cur) {
      const own = indexOf(cur, 0)
      if (ring.head[own] === NIL) {
        ring.curFloor = deadline
        // Only the cursor's own tick is kept sorted (see sortCurrent).
        ring.sorted = t === cur
        ring.sortedMax = deadline
      } else {
        ring.curFloor = Math.min(ring.curFloor, deadline)
        if (ring.sorted) {
          if (deadline < ring.sortedMax) ring.sorted = false
          else ring.sortedMax = deadline
        }
      }
      this.push(slot, cls, own)
      return
    }
    for (let level = 0; level < LEVELS; level++) {
      const span = SPAN[level + 1]
      if (Math.floor(t / span) === Math.floor(cur / span)) {
        this.push(slot, cls, level * SLOTS + indexOf(t, level))
        return
      }
    }
    this.push(slot, cls, OVERFLOW)
  }

  /** Takes a slot out of its bucket (a no-op when unfiled). O(1). */
  unlink(slot: number): void {
    const links = this.links
    const stride = this.stride
    const base = slot * stride
    const coded = links[base + this.bucket]
    if (coded === UNFILED) return
    const cls = coded < BUCKETS ? ANONYMOUS : USER
    const bucket = coded - cls * BUCKETS
    const prev = links[base + this.prev]
    const next = links[base + this.next]
    const ring = this.rings[cls]
    if (prev === NIL) ring.head[bucket] = next
    else links[prev * stride + this.next] = next
    if (next === NIL) ring.tail[bucket] = prev
    else links[next * stride + this.prev] = prev
    if (ring.head[bucket] === NIL && bucket < OVERFLOW) {
      const index = bucket % SLOTS
      ring.occupied[(bucket - index) / 32 + (index >>> 5)] &= ~(1 << (index & 31))
    }
    links[base + this.bucket] = UNFILED
  }

  /** Files a filed slot again by its deadline, in class `cls`. O(1). */
  refile(slot: number, cls: number, deadline: number, since: number): void {
    this.unlink(slot)
    this.file(slot, cls, deadline, since)
  }

  /** Re-files a slot of ring `cls` relative to its cursor (a cascade step). */
  private cascade(slot: number, cls: number, deadline: number): void {
    this.unlink(slot)
    this.place(slot, cls, deadline)
  }

  private bit(ring: Ring, level: number, index: number): boolean {
    return (ring.occupied[level * 2 + (index >>> 5)] & (1 << (index & 31))) !== 0
  }

  /** The first occupied index above `own` on `level`, or -1. */
  private firstAbove(ring: Ring, level: number, own: number): number {
    const low = ring.occupied[level * 2]
    const high = ring.occupied[level * 2 + 1]
    if (own < 31) {
      const masked = low & (-1 << (own + 1))
      if (masked !== 0) return lowestBit(masked)
      return high !== 0 ? 32 + lowestBit(high) : -1
    }
    const shift = own - 31
    if (shift > 31) return -1
    const masked = high & (-1 << shift)
    return masked !== 0 ? 32 + lowestBit(masked) : -1
  }

  /** Finds the earliest non-empty bucket of `ring` (never list excluded) into found*; false when none. */
  private find(ring: Ring): boolean {
    const cur = ring.cur
    for (let level = 1; level < LEVELS; level++) {
      const own = indexOf(cur, level)
      if (this.bit(ring, level, own)) {
        this.foundKind = PENDING
        this.foundBucket = level * SLOTS + own
        return true
      }
    }
    const own = indexOf(cur, 0)
    if (ring.head[own] !== NIL) {
      this.foundKind = CURRENT
      this.foundBucket = own
      return true
    }
    for (let level = 0; level < LEVELS; level++) {
      const index = this.firstAbove(ring, level, indexOf(cur, level))
      if (index >= 0) {
        this.foundKind = LATER
        this.foundBucket = level * SLOTS + index
        const block = SPAN[level + 1]
        this.foundStart = Math.floor(cur / block) * block + index * SPAN[level]
        return true
      }
    }
    if (ring.head[OVERFLOW] !== NIL) {
      this.foundKind = OVERFLOWING
      const block = SPAN[LEVELS]
      this.foundStart = (Math.floor(cur / block) + 1) * block
      return true
    }
    return false
  }

  private lowerBound(ring: Ring): number {
    switch (this.foundKind) {
      case PENDING: {
        // The current bucket may hold earlier deadlines (filed at or before the cursor).
        const bound = ring.cur * this.resolution
        return ring.head[indexOf(ring.cur, 0)] !== NIL && ring.curFloor < bound ? ring.curFloor : bound
      }
      case CURRENT: return ring.curFloor
      default: return this.foundStart * this.resolution
    }
  }

  /** The end of the later cursor's tick (the Rust `Wheel::current_tick_end`). */
  currentTickEnd(): number {
    const a = this.rings[0].cur
    const b = this.rings[1].cur
    return ((a > b ? a : b) + 1) * this.resolution
  }

  /** A lower bound of the earliest deadline over both classes; Infinity when none. O(1). */
  nextDeadline(): number {
    let earliest = Infinity
    for (let cls = 0; cls < 2; cls++) {
      const ring = this.rings[cls]
      if (this.find(ring)) {
        const bound = this.lowerBound(ring)
        if (bound < earliest) earliest = bound
      }
    }
    return earliest
  }

  /** Moves the cursor to the found later bucket; it becomes the current or pending one. */
  private jump(ring: Ring): void {
    ring.cur = this.foundStart
    if (this.foundBucket < SLOTS) {
      ring.curFloor = this.foundStart * this.resolution
      ring.sorted = false
      this.foundKind = CURRENT
    } else {
      this.foundKind = PENDING
    }
  }

  /**
   * Moves to the next 64^6 block that holds an overflow deadline (at least the next one), but
   * never past `now`'s tick, and re-files the whole overflow against it: at most once per 64^6
   * ticks. The Rust `Wheel::open_overflow`: a cursor ahead of `now` would take every deadline
   * filed meanwhile into the current bucket.
   */
  private openOverflow(cls: number, now: number): void {
    const ring = this.rings[cls]
    const moved: number[] = []
    let first = Infinity
    for (let slot = ring.head[OVERFLOW]; slot !== NIL; slot = this.links[slot * this.stride + this.next]) {
      moved.push(slot)
      first = Math.min(first, this.tick(this.deadline(slot)))
    }
    const block = SPAN[LEVELS]
    ring.cur = Math.max(this.foundStart, Math.min(Math.floor(first / block) * block, this.tick(now)))
    for (const slot of moved) this.cascade(slot, cls, this.deadline(slot))
  }

  /** Starts a sweep call (the Rust `SweepCursor::default()`). */
  beginSweep(): void {
    this.walking = false
    this.work = 0
  }

  /**
   * The next slot due at `now`, unlinked, or NIL when nothing is due or the call's re-filing
   * budget ran out (then nextDeadline() <= now). The Rust `Wheel::pop_due`, step for step.
   */
  popDue(now: number, budget: number): number {
    const links = this.links
    const stride = this.stride
    for (;;) {
      if (this.walking) {
        const slot = this.walkNext
        const cls = this.walkClass
        if (slot === NIL) {
          this.walking = false
          if (this.walkCurrent) {
            this.rings[cls].curFloor = this.walkKept
            if (!this.walkSorted) this.sortCurrent(cls)
          }
          continue
        }
        this.walkNext = links[slot * stride + this.next]
        const deadline = this.deadline(slot)
        if (deadline <= now) {
          this.unlink(slot)
          return slot
        }
        if (this.walkCurrent && this.tick(deadline) <= this.rings[cls].cur) {
          if (this.walkSorted) {
            // The sessions behind it are due no earlier.
            this.rings[cls].curFloor = deadline
            this.walking = false
            continue
          }
          if (deadline < this.walkKept) this.walkKept = deadline
          this.keptSlots.push(slot)
          this.keptDeadlines.push(deadline)
          continue
        }
        if (this.work >= budget) {
          this.walking = false
          return NIL
        }
        this.work++
        this.cascade(slot, cls, deadline)
        continue
      }
      let bestClass = -1
      let bestBound = Infinity
      let bestKind = 0
      let bestBucket = 0
      let bestStart = 0
      for (let cls = 0; cls < 2; cls++) {
        const ring = this.rings[cls]
        if (!this.find(ring)) continue
        const bound = this.lowerBound(ring)
        if (bestClass < 0 || bound < bestBound) {
          bestClass = cls
          bestBound = bound
          bestKind = this.foundKind
          bestBucket = this.foundBucket
          bestStart = this.foundStart
        }
      }
      if (bestClass < 0 || bestBound > now) {
        this.catchUp(now)
        return NIL
      }
      const ring = this.rings[bestClass]
      this.foundKind = bestKind
      this.foundBucket = bestBucket
      this.foundStart = bestStart
      if (bestKind === OVERFLOWING) {
        this.openOverflow(bestClass, now)
        continue
      }
      if (bestKind === LATER) this.jump(ring)
      this.keptSlots.length = 0
      this.keptDeadlines.length = 0
      this.walking = true
      this.walkClass = bestClass
      this.walkCurrent = this.foundKind === CURRENT
      this.walkSorted = this.walkCurrent && ring.sorted
      this.walkNext = ring.head[this.foundBucket]
      this.walkKept = Infinity
    }
  }

  /**
   * Relinks the current bucket of ring `cls`, which holds exactly the kept slots after a full
   * walk, in order of deadline (stable: filing order on ties). The Rust `Wheel::sort_current`.
   */
  private sortCurrent(cls: number): void {
    const slots = this.keptSlots
    const deadlines = this.keptDeadlines
    const ring = this.rings[cls]
    // A deadline before the cursor's tick (a clock that stepped back) stays exact: unsorted.
    for (let i = 0; i < deadlines.length; i++) {
      if (this.tick(deadlines[i]) < ring.cur) {
        ring.sorted = false
        slots.length = 0
        deadlines.length = 0
        return
      }
    }
    const order = Array.from(slots.keys()).sort((a, b) => deadlines[a] - deadlines[b])
    const own = indexOf(ring.cur, 0)
    const links = this.links
    const stride = this.stride
    const n = order.length
    ring.sorted = true
    ring.sortedMax = n === 0 ? -Infinity : deadlines[order[n - 1]]
    ring.head[own] = n === 0 ? NIL : slots[order[0]]
    ring.tail[own] = n === 0 ? NIL : slots[order[n - 1]]
    for (let i = 0; i < n; i++) {
      const base = slots[order[i]] * stride
      links[base + this.prev] = i === 0 ? NIL : slots[order[i - 1]]
      links[base + this.next] = i + 1 < n ? slots[order[i + 1]] : NIL
    }
    slots.length = 0
    deadlines.length = 0
  }

  /**
   * Nothing is due at `now`: each ring whose earliest bucket starts after `now` (or that is
   * empty) moves its cursor up to `now`'s tick. The Rust `Wheel::catch_up`.
   */
  private catchUp(now: number): void {
    const t = this.tick(now)
    for (let cls = 0; cls < 2; cls++) {
      const ring = this.rings[cls]
      if ((!this.find(ring) || this.foundKind === LATER || this.foundKind === OVERFLOWING) && t > ring.cur) ring.cur = t
    }
  }

  /**
   * The eviction candidate of class `cls`, or NIL: the first slot of the earliest bucket whose
   * deadline is still in that bucket's span (those that moved later are re-filed on the way),
   * else the first slot without a deadline. The cursor does not move. The Rust
   * `Wheel::candidate`, step for step; amortized O(1).
   */
  candidate(cls: number): number {
    const ring = this.rings[cls]
    const links = this.links
    const stride = this.stride
    for (;;) {
      if (!this.find(ring)) return ring.head[NEVER]
      let end: number
      switch (this.foundKind) {
        case OVERFLOWING:
          return ring.head[OVERFLOW]
        case PENDING: {
          // Finish the cascade that a sliced sweep left half done.
          let slot = ring.head[this.foundBucket]
          while (slot !== NIL) {
            const next = links[slot * stride + this.next]
            this.cascade(slot, cls, this.deadline(slot))
            slot = next
          }
          continue
        }
        case CURRENT:
          end = ring.cur + 1
          break
        default:
          end = this.foundStart + SPAN[Math.floor(this.foundBucket / SLOTS)]
      }
      const bucket = this.foundBucket
      let slot = ring.head[bucket]
      while (slot !== NIL) {
        const next = links[slot * stride + this.next]
        const deadline = this.deadline(slot)
        if (this.tick(deadline) < end) return slot
        this.cascade(slot, cls, deadline)
        slot = next
      }
    }
  }

  /**
   * Checks every structural invariant (tests call it after each step): list links, occupancy
   * bits, classes, that every attached slot is filed once and none after its deadline.
   * Throws an Error naming the first broken one.
   */
  check(attachedSlots: readonly number[], classOf: (slot: number) => number): void {
    const links = this.links
    const stride = this.stride
    let filed = 0
    const attached = new Set(attachedSlots)
    for (let cls = 0; cls < 2; cls++) {
      const ring = this.rings[cls]
      let pending = 0
      for (let level = 1; level < LEVELS; level++) if (this.bit(ring, level, indexOf(ring.cur, level))) pending++
      if (pending > 1) throw new Error(`class ${cls}: ${pending} partly cascaded buckets`)
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        let prev = NIL
        let length = 0
        for (let slot = ring.head[bucket]; slot !== NIL; slot = links[slot * stride + this.next]) {
          if (++length > attached.size) throw new Error(`class ${cls} bucket ${bucket}: the list loops`)
          const base = slot * stride
          if (links[base + this.bucket] !== cls * BUCKETS + bucket || links[base + this.prev] !== prev) {
            throw new Error(`slot ${slot} in class ${cls} bucket ${bucket} has a wrong link`)
          }
          if (!attached.has(slot)) throw new Error(`filed slot ${slot} is not attached`)
          if (classOf(slot) !== cls) throw new Error(`slot ${slot} is filed in class ${cls}`)
          this.checkPlace(ring, slot, bucket)
          prev = slot
        }
        if (ring.tail[bucket] !== prev) throw new Error(`class ${cls} bucket ${bucket}: tail is not the last slot`)
        if (bucket < OVERFLOW && this.bit(ring, Math.floor(bucket / SLOTS), bucket % SLOTS) !== length > 0) {
          throw new Error(`class ${cls} bucket ${bucket}: occupancy bit is wrong`)
        }
        filed += length
      }
    }
    if (filed !== attached.size) throw new Error(`${filed} filed slots, ${attached.size} attached sessions`)
  }

  private checkPlace(ring: Ring, slot: number, bucket: number): void {
    const deadline = this.deadline(slot)
    const fail = (why: string): never => {
      throw new Error(`slot ${slot} (deadline ${deadline}) in bucket ${bucket}: ${why}`)
    }
    if (bucket === NEVER) {
      if (deadline !== Infinity) fail('has a deadline')
      return
    }
    if (deadline === Infinity) fail('has no deadline')
    if (bucket === indexOf(ring.cur, 0)) {
      if (deadline < ring.curFloor) fail('below the current floor')
      return
    }
    let start: number
    if (bucket === OVERFLOW) {
      start = (Math.floor(ring.cur / SPAN[LEVELS]) + 1) * SPAN[LEVELS]
    } else {
      const level = Math.floor(bucket / SLOTS)
      const index = bucket % SLOTS
      const own = indexOf(ring.cur, level)
      if (level > 0 && index === own) start = ring.cur
      else if (index < own) return fail('behind the cursor')
      else start = Math.floor(ring.cur / SPAN[level + 1]) * SPAN[level + 1] + index * SPAN[level]
    }
    if (this.tick(deadline) < start) fail('filed after its deadline')
  }
}
