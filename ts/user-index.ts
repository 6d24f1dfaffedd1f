import { SLOT_SPACE } from './engine'

/**
 * Which sessions belong to which user, kept in the facade rather than in either engine: the
 * engines stay as they are (issue 15 rewrites the native one), the index is one definition for
 * both, and a session without a user never enters it, so anonymous sessions pay nothing but one
 * `size` test when they close.
 *
 * Entries are engine handles, which name one session for its whole life (a regenerate keeps the
 * handle; a reused slot gets a new generation), so ids may change under the index freely. A
 * handle is in the index from the moment its session is given a user until it is detached (the
 * Registry removes it before the close listeners run) or its user is cleared or changed. A
 * session past its deadline stays until the sweep (or the next call that meets it) closes it:
 * readers check liveness.
 *
 * Per slot, typed arrays hold the user's number, the handle filed, and the links of a list per
 * user (in the order its sessions joined): no JS object per session, nothing for the garbage
 * collector to trace, and filing or dropping a session costs one Map lookup by the user's name
 * and a few array writes. Those are cache misses inside a create (the Map's entry and the keys
 * of its chain, the user's list ends, the list's last session): `bench/users.ts` measures what
 * they add with an A/B (README, Users: about 11-14%, and more for a user's first session). The arrays are allocated when the first session is given a user, and
 * grow to the highest slot that had one (20 bytes a slot). Each user with sessions has a number
 * (its name, list ends and count); a user left with none gives its number back.
 *
 * @internal Shared by the manager, its Session handles and the Registry; not public API.
 */
export class UserIndex {
  /** Per slot: the number of the user of the session filed there, 0 for none. */
  #userNumber = new Int32Array(0)
  /** Per slot: the handle filed there (a slot's later sessions have other handles). */
  #handleAt = new Float64Array(0)
  /** Per slot: 1 + the next and previous slots of the same user's list, 0 at its ends. */
  #next = new Int32Array(0)
  #previous = new Int32Array(0)
  /** By user number: the name, 1 + the first and last slots of its list, and its length. */
  #names: (string | undefined)[] = [undefined]
  #first: number[] = [0]
  #last: number[] = [0]
  #counts: number[] = [0]
  readonly #numbers = new Map<string, number>()
  readonly #freeNumbers: number[] = []
  #size = 0

  /** Sessions indexed (those with a user and not yet detached). */
  get size(): number {
    return this.#size
  }

  /** Users with at least one indexed session. */
  get users(): number {
    return this.#numbers.size
  }

  userOf(handle: number): string | undefined {
    return this.#names[this.#numberOf(handle)]
  }

  /** Files `handle` under `user` (undefined: under none), leaving any user it had. */
  set(handle: number, user: string | undefined): void {
    const current = this.#numberOf(handle)
    if (current !== 0) {
      if (this.#names[current] === user) return
      this.#leave(handle, current)
    }
    if (user === undefined) return
    let number = this.#numbers.get(user)
    if (number === undefined) {
      number = this.#freeNumbers.pop() ?? this.#names.length
      this.#names[number] = user
      this.#first[number] = 0
      this.#last[number] = 0
      this.#counts[number] = 0
      this.#numbers.set(user, number)
    }
    const slot = handle % SLOT_SPACE
    if (slot >= this.#userNumber.length) this.#grow(slot)
    this.#userNumber[slot] = number
    this.#handleAt[slot] = handle
    const last = this.#last[number]
    this.#previous[slot] = last
    this.#next[slot] = 0
    if (last === 0) this.#first[number] = slot + 1
    else this.#next[last - 1] = slot + 1
    this.#last[number] = slot + 1
    this.#counts[number]++
    this.#size++
  }

  /** Drops `handle` (its session is closing); nothing when it had no user. */
  remove(handle: number): void {
    const number = this.#numberOf(handle)
    if (number !== 0) this.#leave(handle, number)
  }

  /** How many sessions are filed under `user` (expired ones the sweep has not reached included). */
  count(user: string): number {
    const number = this.#numbers.get(user)
    return number === undefined ? 0 : this.#counts[number]
  }

  /** `user`'s handles in the order they joined, as a copy: callers close sessions while they walk it. */
  handles(user: string): number[] {
    const number = this.#numbers.get(user)
    if (number === undefined) return []
    const handles = new Array<number>(this.#counts[number])
    let at = 0
    for (let link = this.#first[number]; link !== 0; link = this.#next[link - 1]) handles[at++] = this.#handleAt[link - 1]
    return handles
  }

  /** Calls `visit` with each user and how many sessions are filed under it. */
  forEachUser(visit: (user: string, count: number) => void): void {
    for (const [user, number] of this.#numbers) visit(user, this.#counts[number])
  }

  clear(): void {
    this.#userNumber = new Int32Array(0)
    this.#handleAt = new Float64Array(0)
    this.#next = new Int32Array(0)
    this.#previous = new Int32Array(0)
    this.#names = [undefined]
    this.#first = [0]
    this.#last = [0]
    this.#counts = [0]
    this.#numbers.clear()
    this.#freeNumbers.length = 0
    this.#size = 0
  }

  /** The number of the user `handle` is filed under; 0 when none (or another handle holds the slot). */
  #numberOf(handle: number): number {
    const slot = handle % SLOT_SPACE
    return slot < this.#userNumber.length && this.#handleAt[slot] === handle ? this.#userNumber[slot] : 0
  }

  #leave(handle: number, number: number): void {
    const slot = handle % SLOT_SPACE
    this.#userNumber[slot] = 0
    const next = this.#next[slot]
    const previous = this.#previous[slot]
    if (previous === 0) this.#first[number] = next
    else this.#next[previous - 1] = next
    if (next === 0) this.#last[number] = previous
    else this.#previous[next - 1] = previous
    this.#size--
    if (--this.#counts[number] > 0) return
    // An emptied user leaves nothing behind: a million one-off users must not stay as garbage.
    this.#numbers.delete(this.#names[number] as string)
    this.#names[number] = undefined
    this.#freeNumbers.push(number)
  }

  #grow(slot: number): void {
    const length = Math.min(SLOT_SPACE, Math.max(1024, slot + 1, this.#userNumber.length * 2))
    const grown = <T extends Int32Array | Float64Array>(from: T, to: T): T => {
      to.set(from)
      return to
    }
    this.#userNumber = grown(this.#userNumber, new Int32Array(length))
    this.#handleAt = grown(this.#handleAt, new Float64Array(length))
    this.#next = grown(this.#next, new Int32Array(length))
    this.#previous = grown(this.#previous, new Int32Array(length))
  }
}
