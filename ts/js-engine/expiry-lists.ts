const NIL = -1

/** One doubly linked list of slots that share a timeout value, oldest at the head. */
export interface ExpiryList {
  readonly id: number
  readonly timeout: number
  head: number
  tail: number
}

/** Per slot: previous, next, list id (NIL when unfiled), padding; one cache line holds 4 slots. */
const STRIDE = 4
const PREV = 0
const NEXT = 1
const LIST = 2

/**
 * The lists of one kind (idle or absolute), kept in order of creation: that order breaks ties in
 * sweeps and eviction, so both engines must keep it identically. A list that empties is removed
 * (the rest keep their order); renewing never removes or re-creates a list, only moves a slot to
 * its tail. Links live in typed arrays indexed by slot.
 */
export class ExpiryLists {
  #links = new Int32Array(0)
  /** Lists by id; ids of removed lists are reused. */
  readonly #byId: (ExpiryList | undefined)[] = []
  readonly #spareIds: number[] = []
  readonly #byTimeout = new Map<number, ExpiryList>()
  /** Lists in creation order. */
  readonly order: ExpiryList[] = []

  grow(capacity: number): void {
    const links = new Int32Array(capacity * STRIDE).fill(NIL)
    links.set(this.#links)
    this.#links = links
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
    while (cursor !== NIL && keyOf(cursor) > own) cursor = this.#links[cursor * STRIDE + PREV]
    this.#insertAfter(slot, list, cursor)
  }

  /** Unfiles `slot` (no-op when unfiled), removing its list if that empties it. */
  unlink(slot: number): void {
    const list = this.#byId[this.#links[slot * STRIDE + LIST]]
    if (list === undefined) return
    this.#spliceOut(slot, list)
    if (list.head === NIL) {
      this.#byTimeout.delete(list.timeout)
      this.order.splice(this.order.indexOf(list), 1)
      this.#byId[list.id] = undefined
      this.#spareIds.push(list.id)
    }
  }

  moveToTail(slot: number): void {
    const base = slot * STRIDE
    const list = this.#byId[this.#links[base + LIST]]
    if (list === undefined || this.#links[base + NEXT] === NIL) return
    this.#spliceOut(slot, list)
    this.#insertAfter(slot, list, list.tail)
  }

  #listFor(timeout: number): ExpiryList {
    let list = this.#byTimeout.get(timeout)
    if (list === undefined) {
      const id = this.#spareIds.pop() ?? this.#byId.length
      list = { id, timeout, head: NIL, tail: NIL }
      this.#byId[id] = list
      this.#byTimeout.set(timeout, list)
      this.order.push(list)
    }
    return list
  }

  #insertAfter(slot: number, list: ExpiryList, after: number): void {
    const links = this.#links
    const base = slot * STRIDE
    const next = after === NIL ? list.head : links[after * STRIDE + NEXT]
    links[base + PREV] = after
    links[base + NEXT] = next
    links[base + LIST] = list.id
    if (after === NIL) list.head = slot
    else links[after * STRIDE + NEXT] = slot
    if (next === NIL) list.tail = slot
    else links[next * STRIDE + PREV] = slot
  }

  #spliceOut(slot: number, list: ExpiryList): void {
    const links = this.#links
    const base = slot * STRIDE
    const prev = links[base + PREV]
    const next = links[base + NEXT]
    if (prev === NIL) list.head = next
    else links[prev * STRIDE + NEXT] = next
    if (next === NIL) list.tail = prev
    else links[next * STRIDE + PREV] = prev
    links[base + LIST] = NIL
  }
}

export { NIL }
