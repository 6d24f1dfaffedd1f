/** The "no slot" / "no list" link value. */
export const NIL = -1

/** One doubly linked list of slots that share a timeout value, oldest at the head. */
export interface ExpiryList {
  readonly id: number
  readonly timeout: number
  head: number
  tail: number
}

/**
 * The lists of one kind (idle or absolute), kept in order of creation: that order breaks ties in
 * sweeps and eviction, so both engines must keep it identically. A list that empties is removed
 * (the rest keep their order); renewing never removes or re-creates a list, only moves a slot to
 * its tail.
 *
 * The links live in the engine's per-slot records (an Int32Array with `stride` ints per slot);
 * this registry owns the three ints at `offset`: previous, next, list id (NIL when unfiled).
 * The engine calls `attach` again whenever it grows the records.
 */
export class ExpiryLists {
  private links: Int32Array = new Int32Array(0)
  /** Lists by id; ids of removed lists are reused. */
  private readonly byId: (ExpiryList | undefined)[] = []
  private readonly spareIds: number[] = []
  private readonly byTimeout = new Map<number, ExpiryList>()
  /** Lists in creation order. */
  readonly order: ExpiryList[] = []
  private readonly prev: number
  private readonly next: number
  private readonly list: number

  constructor(private readonly stride: number, offset: number) {
    this.prev = offset
    this.next = offset + 1
    this.list = offset + 2
  }

  attach(links: Int32Array): void {
    this.links = links
  }

  /** Marks `slot` unfiled (for a fresh record). */
  clear(slot: number): void {
    this.links[slot * this.stride + this.list] = NIL
  }

  /** The list id of `slot`, NIL when unfiled. */
  listOf(slot: number): number {
    return this.links[slot * this.stride + this.list]
  }

  pushBack(slot: number, timeout: number): void {
    const list = this.listFor(timeout)
    this.insertAfter(slot, list, list.tail)
  }

  /** Files `slot` after the last entry (walking from the tail) whose key is <= its own. */
  insertSorted(slot: number, timeout: number, keys: Float64Array, keyStride: number, keyOffset: number): void {
    const list = this.listFor(timeout)
    const own = keys[slot * keyStride + keyOffset]
    let cursor = list.tail
    while (cursor !== NIL && keys[cursor * keyStride + keyOffset] > own) {
      cursor = this.links[cursor * this.stride + this.prev]
    }
    this.insertAfter(slot, list, cursor)
  }

  /** Unfiles `slot` (no-op when unfiled), removing its list if that empties it. */
  unlink(slot: number): void {
    const id = this.links[slot * this.stride + this.list]
    if (id === NIL) return
    const list = this.byId[id]!
    this.spliceOut(slot, list)
    if (list.head === NIL) {
      this.byTimeout.delete(list.timeout)
      this.order.splice(this.order.indexOf(list), 1)
      this.byId[id] = undefined
      this.spareIds.push(id)
    }
  }

  /** Moves a filed slot to the tail of its list (renew). */
  moveToTail(slot: number): void {
    const links = this.links
    const base = slot * this.stride
    const next = links[base + this.next]
    if (next === NIL) return // already the tail (or unfiled, which renew never sees)
    const list = this.byId[links[base + this.list]]!
    const stride = this.stride
    const prev = links[base + this.prev]
    // splice out
    if (prev === NIL) list.head = next
    else links[prev * stride + this.next] = next
    links[next * stride + this.prev] = prev
    // append
    const tail = list.tail
    links[base + this.prev] = tail
    links[base + this.next] = NIL
    links[tail * stride + this.next] = slot
    list.tail = slot
  }

  private listFor(timeout: number): ExpiryList {
    let list = this.byTimeout.get(timeout)
    if (list === undefined) {
      const id = this.spareIds.length > 0 ? this.spareIds.pop()! : this.byId.length
      list = { id, timeout, head: NIL, tail: NIL }
      this.byId[id] = list
      this.byTimeout.set(timeout, list)
      this.order.push(list)
    }
    return list
  }

  private insertAfter(slot: number, list: ExpiryList, after: number): void {
    const links = this.links
    const stride = this.stride
    const base = slot * stride
    const next = after === NIL ? list.head : links[after * stride + this.next]
    links[base + this.prev] = after
    links[base + this.next] = next
    links[base + this.list] = list.id
    if (after === NIL) list.head = slot
    else links[after * stride + this.next] = slot
    if (next === NIL) list.tail = slot
    else links[next * stride + this.prev] = slot
  }

  private spliceOut(slot: number, list: ExpiryList): void {
    const links = this.links
    const stride = this.stride
    const base = slot * stride
    const prev = links[base + this.prev]
    const next = links[base + this.next]
    if (prev === NIL) list.head = next
    else links[prev * stride + this.next] = next
    if (next === NIL) list.tail = prev
    else links[next * stride + this.prev] = prev
    links[base + this.list] = NIL
  }
}
