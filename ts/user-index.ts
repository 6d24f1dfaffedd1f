import { SLOT_SPACE, slotOf } from './engine'
import { addPage, PAGE_BITS, PAGE_MASK, PAGE_SIZE } from './pages'
import { UserNumbers } from './user-numbers'

/** Int32s per slot record and their places. */
const SLOT_FIELDS = 4
const USER = 0
const GENERATION = 1
const NEXT = 2
const PREVIOUS = 3
/** Int32s per user record and their places. */
const USER_FIELDS = 4
const FIRST = 0
const LAST = 1
const COUNT = 2

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
 * Per slot, one typed array holds four int32s side by side: the user's number, the generation of
 * the handle filed, and the links of a list per user (in the order its sessions joined); per
 * user number, another holds the list's ends and its length. No JS object per session, nothing
 * for the garbage collector to trace, and filing a session costs one lookup of the user's name
 * (UserNumbers, a hash table in typed arrays) and a few array writes; dropping one reads no name
 * unless it was its user's last. Those are cache misses inside a create: the name's bucket (and
 * the name itself, to compare it), the session's 16 bytes, the user's 16, and the list's last
 * session (the neighbours' links on a drop). Kept in separate arrays (user numbers, handles as doubles, next links,
 * previous links, first, last, counts), the same writes touched up to seven lines; `bench/users.ts`
 * measures what the index adds with an A/B (README, Users). The records live in pages of 4,096
 * (16 bytes a record), each made when the first session of its slots is given a user (or its
 * first user number is given): one array doubled in place copied 64 MiB inside the create that
 * gave slot 2^22 a user (34 ms, native engine). Each user with sessions has a number (its name,
 * list ends and count); a user left with none gives its number back.
 *
 * @internal Shared by the manager, its Session handles and the Registry; not public API.
 */
export class UserIndex {
  /**
   * Pages of per-slot records (slot >>> PAGE_BITS; undefined until one of its slots gets a user),
   * SLOT_FIELDS int32s a slot: the number of the user of the session filed there (0 for none),
   * the generation of its handle (a slot's later sessions have other ones), and 1 + the next and
   * previous slots of the same user's list (0 at its ends).
   */
  #slotPages: (Int32Array | undefined)[] = []
  /** Pages of per-number records, USER_FIELDS int32s a user number: 1 + the first and last slots of its list, and its length. */
  #userPages: (Int32Array | undefined)[] = []
  /** Each user's name and number. */
  readonly #numbers = new UserNumbers()
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
    return this.#numbers.nameOf(this.#numberOf(handle))
  }

  /** Files `handle` under `user` (undefined: under none), leaving any user it had. */
  set(handle: number, user: string | undefined): void {
    const current = this.#numberOf(handle)
    if (current !== 0) {
      if (this.#numbers.nameOf(current) === user) return
      this.#leave(slotOf(handle), current)
    }
    if (user === undefined) return
    // A new number is one never used or one given back, which was left with an empty list and a
    // count of 0.
    const number = this.#numbers.findOrAdd(user)
    const users = this.#userPages[number >>> PAGE_BITS] ?? addPage(this.#userPages, number, new Int32Array(PAGE_SIZE * USER_FIELDS))
    const at = (number & PAGE_MASK) * USER_FIELDS
    const slot = slotOf(handle)
    const slots = this.#slotPages[slot >>> PAGE_BITS] ?? addPage(this.#slotPages, slot, new Int32Array(PAGE_SIZE * SLOT_FIELDS))
    const base = (slot & PAGE_MASK) * SLOT_FIELDS
    const last = users[at + LAST]
    slots[base + USER] = number
    slots[base + GENERATION] = (handle - slot) / SLOT_SPACE
    slots[base + NEXT] = 0
    slots[base + PREVIOUS] = last
    if (last === 0) users[at + FIRST] = slot + 1
    else this.#slotPages[(last - 1) >>> PAGE_BITS]![((last - 1) & PAGE_MASK) * SLOT_FIELDS + NEXT] = slot + 1
    users[at + LAST] = slot + 1
    users[at + COUNT]++
    this.#size++
  }

  /** Drops `handle` (its session is closing); nothing when it had no user. */
  remove(handle: number): void {
    const number = this.#numberOf(handle)
    if (number !== 0) this.#leave(slotOf(handle), number)
  }

  /** How many sessions are filed under `user` (expired ones the sweep has not reached included). */
  count(user: string): number {
    const number = this.#numbers.find(user)
    return number === 0 ? 0 : this.#userRecords(number)[(number & PAGE_MASK) * USER_FIELDS + COUNT]
  }

  /** `user`'s handles in the order they joined, as a copy: callers close sessions while they walk it. */
  handles(user: string): number[] {
    const number = this.#numbers.find(user)
    if (number === 0) return []
    const users = this.#userRecords(number)
    const handles = new Array<number>(users[(number & PAGE_MASK) * USER_FIELDS + COUNT])
    let at = 0
    for (let link = users[(number & PAGE_MASK) * USER_FIELDS + FIRST]; link !== 0;) {
      const slot = link - 1
      const base = (slot & PAGE_MASK) * SLOT_FIELDS
      const slots = this.#slotPages[slot >>> PAGE_BITS]!
      handles[at++] = slot + slots[base + GENERATION] * SLOT_SPACE
      link = slots[base + NEXT]
    }
    return handles
  }

  /** Calls `visit` with each user and how many sessions are filed under it. */
  forEachUser(visit: (user: string, count: number) => void): void {
    this.#numbers.forEach((user, number) => visit(user, this.#userRecords(number)[(number & PAGE_MASK) * USER_FIELDS + COUNT]))
  }

  clear(): void {
    this.#slotPages = []
    this.#userPages = []
    this.#numbers.clear()
    this.#size = 0
  }

  /** The number of the user `handle` is filed under; 0 when none (or another handle holds the slot). */
  #numberOf(handle: number): number {
    const slot = slotOf(handle)
    const slots = this.#slotPages[slot >>> PAGE_BITS]
    if (slots === undefined) return 0
    const base = (slot & PAGE_MASK) * SLOT_FIELDS
    // The handle rebuilt from the record must be `handle` itself (JsEngine's slotOf says why).
    return slots[base + GENERATION] * SLOT_SPACE + slot === handle ? slots[base + USER] : 0
  }

  /** The page of a user number that has one (every number findOrAdd gave). */
  #userRecords(number: number): Int32Array {
    return this.#userPages[number >>> PAGE_BITS]!
  }

  #leave(slot: number, number: number): void {
    const slots = this.#slotPages
    const users = this.#userRecords(number)
    const page = slots[slot >>> PAGE_BITS]!
    const base = (slot & PAGE_MASK) * SLOT_FIELDS
    const at = (number & PAGE_MASK) * USER_FIELDS
    page[base + USER] = 0
    const next = page[base + NEXT]
    const previous = page[base + PREVIOUS]
    if (previous === 0) users[at + FIRST] = next
    else slots[(previous - 1) >>> PAGE_BITS]![((previous - 1) & PAGE_MASK) * SLOT_FIELDS + NEXT] = next
    if (next === 0) users[at + LAST] = previous
    else slots[(next - 1) >>> PAGE_BITS]![((next - 1) & PAGE_MASK) * SLOT_FIELDS + PREVIOUS] = previous
    this.#size--
    if (--users[at + COUNT] > 0) return
    // An emptied user leaves nothing behind: a million one-off users must not stay as garbage.
    this.#numbers.remove(number)
  }
}
