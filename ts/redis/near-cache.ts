import type { SessionRecord } from './record'

/** A record held for reuse, with what decides whether it may still be served. */
export interface CachedRecord {
  record: SessionRecord
  /** The invalidation sequence number Redis had reached when the record was read. */
  seq: number
  /** Local monotonic time (performance.now()) of the read. */
  readAt: number
}

/** Most per-id invalidation marks kept before they are folded into one floor. */
const MARK_LIMIT = 4096

/**
 * The process's copies of recently read records, and the bookkeeping that keeps them coherent
 * with Redis. A record enters only if it was read while the invalidation subscription was
 * confirmed (`epoch` unchanged since the read was sent) and no invalidation of its id newer
 * than the read has arrived; any invalidation from another process removes the id's copy; a
 * gap in sequence numbers, a wipe of Redis (see `invalidate`), a lost subscription, a reconnect
 * or a call given up on (RedisCore.run: Redis may still run it) drops every copy.
 */
export class NearCache {
  readonly #max: number
  readonly #entries = new Map<string, CachedRecord>()
  /** Sequence number of the latest invalidation of each id (from other processes). */
  readonly #marks = new Map<string, number>()
  /** What a forgotten mark may have been: the highest sequence number folded away. */
  #floor = 0
  #lastSeq: number | undefined
  /** The highest sequence number a kept copy was read at since the last flush. */
  #highestRead = 0
  /** Bumped whenever coherence is lost; a read sent in an earlier epoch is not cached. */
  epoch = 0
  /** True while the subscription is confirmed: only then are copies served or kept. */
  subscribed = false
  /** Copies dropped whole (reconnects, gaps, wipes, calls given up on), for stats. */
  flushes = 0

  constructor(max: number) {
    this.#max = max
  }

  get size(): number {
    return this.#entries.size
  }

  /** A servable copy of `id`, or undefined. */
  get(id: string): CachedRecord | undefined {
    return this.subscribed ? this.#entries.get(id) : undefined
  }

  /** Keeps `record` of `id`, read at `seq` by a call sent in `epoch`, unless that would be stale. */
  offer(id: string, record: SessionRecord, seq: number, epoch: number, readAt: number): void {
    if (this.#max === 0 || !this.subscribed || epoch !== this.epoch) return
    if ((this.#marks.get(id) ?? this.#floor) > seq) return
    this.#entries.delete(id)
    this.#entries.set(id, { record, seq, readAt })
    if (seq > this.#highestRead) this.#highestRead = seq
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string
      this.#entries.delete(oldest)
    }
  }

  /**
   * Keeps `record` of `id` as of invalidation `seq`, which has just been applied in order (the
   * record a write left, carried by its message): no read of this id can be newer. `ownMessage`
   * is false for a message another manager of this process received first (RedisCore's
   * siblings), which may run ahead of this cache's own sequence: such a copy tells nothing of a
   * wipe (see `invalidate`).
   */
  replace(id: string, record: SessionRecord, seq: number, readAt: number, ownMessage = true): void {
    if (this.#max === 0 || !this.subscribed) return
    this.#entries.delete(id)
    this.#entries.set(id, { record, seq, readAt })
    if (ownMessage && seq > this.#highestRead) this.#highestRead = seq
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string)
  }

  delete(id: string): void {
    this.#entries.delete(id)
  }

  /**
   * An invalidation: removes the copies of `ids` when it comes from another process, and checks
   * the sequence. Returns false when a gap showed that messages were lost, or number 1 that the
   * counter was made again (everything dropped).
   */
  invalidate(seq: number, ids: readonly string[], foreign: boolean): boolean {
    let coherent = true
    // A gap: messages were lost. Number 1 after a number seen or a copy read past 1: the counter
    // was made again (FLUSHDB, FLUSHALL, its key deleted), and the records went with it: no copy
    // may outlive them, nor may older marks refuse new reads. Not by comparing with the last
    // number alone: a process may have received none since it subscribed or flushed. Copies read
    // at 0 (no counter yet: a new deployment's first change is number 1) are kept, and so are
    // those at 1: a read overtaking message 1, or the record message 1 itself carried, which a
    // manager of this process sharing the channel may hand over first (RedisCore's siblings).
    const reset = seq === 1 && ((this.#lastSeq ?? 0) >= 1 || this.#highestRead > 1)
    if (reset || (this.#lastSeq !== undefined && seq !== this.#lastSeq + 1 && seq > this.#lastSeq)) {
      this.flush()
      coherent = false
    }
    if (this.#lastSeq === undefined || seq > this.#lastSeq) this.#lastSeq = seq
    if (foreign) {
      for (const id of ids) {
        this.#entries.delete(id)
        this.#marks.set(id, seq)
      }
      if (this.#marks.size > MARK_LIMIT) {
        for (const mark of this.#marks.values()) this.#floor = Math.max(this.#floor, mark)
        this.#marks.clear()
      }
    }
    return coherent
  }

  /**
   * Drops the copies of `ids` as invalidation `seq` would, without taking part in this cache's
   * sequence: another manager of this process received the message first (RedisCore's
   * `siblings`). A read sent before `seq` can no longer put a copy back.
   */
  drop(seq: number, ids: readonly string[]): void {
    for (const id of ids) {
      this.#entries.delete(id)
      if ((this.#marks.get(id) ?? 0) < seq) this.#marks.set(id, seq)
    }
    if (this.#marks.size > MARK_LIMIT) {
      for (const mark of this.#marks.values()) this.#floor = Math.max(this.#floor, mark)
      this.#marks.clear()
    }
  }

  /** Drops every copy and starts a new epoch: nothing read before is kept. */
  flush(): void {
    this.#entries.clear()
    this.#marks.clear()
    this.#floor = 0
    this.#lastSeq = undefined
    this.#highestRead = 0
    this.epoch++
    this.flushes++
  }
}
