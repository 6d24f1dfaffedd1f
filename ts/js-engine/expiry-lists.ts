const NIL = -1

/** One doubly linked list of slots that share a timeout value, oldest at the head. */
export interface ExpiryList {
  readonly timeout: number
  head: number
  tail: number
}

/**
 * The lists of one kind (idle or absolute), kept in order of creation: that order breaks ties in
 * sweeps and eviction, so both engines must keep it identically. A list that empties is removed
 * (the rest keep their order); renewing never removes or re-creates a list, only moves a slot to
 * its tail. Links live in typed arrays indexed by slot.
 */
export class ExpiryLists {
  #prev = new Int32Array(0)
  #next = new Int32Array(0)
  #listOf: (ExpiryList | undefined)[] = []
  readonly #byTimeout = new Map<number, ExpiryList>()
  /** Lists in creation order. */
  readonly order: ExpiryList[] = []

  grow(capacity: number): void {
    const prev = new Int32Array(capacity)
    const next = new Int32Array(capacity)
    prev.set(this.#prev)
    next.set(this.#next)
    this.#prev = prev
    this.#next = next
  }

  /** The list a slot is filed in, if any. */
  listOf(slot: number): ExpiryList | undefined {
    return this.#listOf[slot]
  }

  pushBack(slot: number, timeout: number): void {
    const list = this.#listFor(timeout)
    this.#insertAfter(slot, list, list.tail)
  }

  /** Files `slot` after the last entry (walking from the tail) whose key is <= its own. */
  insertSorted(slot: number, timeout: number, keyOf: (slot: number) => number): void {
    const list = this.#listFor(timeout)
    const own = keyOf(slot)
    let cursor = list.tail
    while (cursor !== NIL && keyOf(cursor) > own) cursor = this.#prev[cursor]
    this.#insertAfter(slot, list, cursor)
  }

  /** Unfiles `slot` (no-op when unfiled), removing its list if that empties it. */
  unlink(slot: number): void {
    const list = this.#listOf[slot]
    if (list === undefined) return
    this.#spliceOut(slot, list)
    if (list.head === NIL) {
      this.#byTimeout.delete(list.timeout)
      this.order.splice(this.order.indexOf(list), 1)
    }
  }

  moveToTail(slot: number): void {
    const list = this.#listOf[slot]
    if (list === undefined || this.#next[slot] === NIL) return
    this.#spliceOut(slot, list)
    this.#insertAfter(slot, list, list.tail)
  }

  #listFor(timeout: number): ExpiryList {
    let list = this.#byTimeout.get(timeout)
    if (list === undefined) {
      list = { timeout, head: NIL, tail: NIL }
      this.#byTimeout.set(timeout, list)
      this.order.push(list)
    }
    return list
  }

  #insertAfter(slot: number, list: ExpiryList, after: number): void {
    const next = after === NIL ? list.head : this.#next[after]
    this.#prev[slot] = after
    this.#next[slot] = next
    if (after === NIL) list.head = slot
    else this.#next[after] = slot
    if (next === NIL) list.tail = slot
    else this.#prev[next] = slot
    this.#listOf[slot] = list
  }

  #spliceOut(slot: number, list: ExpiryList): void {
    const prev = this.#prev[slot]
    const next = this.#next[slot]
    if (prev === NIL) list.head = next
    else this.#next[prev] = next
    if (next === NIL) list.tail = prev
    else this.#prev[next] = prev
    this.#listOf[slot] = undefined
  }
}

export { NIL }
