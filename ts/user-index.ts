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
 * @internal Shared by the manager, its Session handles and the Registry; not public API.
 */
export class UserIndex {
  /** user -> handles of that user's sessions, in the order they became the user's. */
  readonly #byUser = new Map<string, Set<number>>()
  /** handle -> user, so a close finds its entry without asking the engine. */
  readonly #userOf = new Map<number, string>()

  /** Sessions indexed (those with a user and not yet detached). */
  get size(): number {
    return this.#userOf.size
  }

  /** Users with at least one indexed session. */
  get users(): number {
    return this.#byUser.size
  }

  userOf(handle: number): string | undefined {
    return this.#userOf.get(handle)
  }

  /** Files `handle` under `user` (undefined: under none), leaving any user it had. */
  set(handle: number, user: string | undefined): void {
    const previous = this.#userOf.get(handle)
    if (previous === user) return
    if (previous !== undefined) this.#leave(handle, previous)
    if (user === undefined) return
    this.#userOf.set(handle, user)
    const handles = this.#byUser.get(user)
    if (handles === undefined) this.#byUser.set(user, new Set([handle]))
    else handles.add(handle)
  }

  /** Drops `handle` (its session is closing); nothing when it had no user. */
  remove(handle: number): void {
    const user = this.#userOf.get(handle)
    if (user !== undefined) this.#leave(handle, user)
  }

  /** How many sessions are filed under `user` (expired ones the sweep has not reached included). */
  count(user: string): number {
    return this.#byUser.get(user)?.size ?? 0
  }

  /** A copy of `user`'s handles: callers close sessions while they walk it. */
  handles(user: string): number[] {
    const handles = this.#byUser.get(user)
    return handles === undefined ? [] : Array.from(handles)
  }

  /** Calls `visit` with each user and how many sessions are filed under it. */
  forEachUser(visit: (user: string, count: number) => void): void {
    for (const [user, handles] of this.#byUser) visit(user, handles.size)
  }

  clear(): void {
    this.#byUser.clear()
    this.#userOf.clear()
  }

  #leave(handle: number, user: string): void {
    this.#userOf.delete(handle)
    const handles = this.#byUser.get(user)
    if (handles === undefined) return
    handles.delete(handle)
    // An emptied user leaves no entry behind: a million one-off users must not stay as garbage.
    if (handles.size === 0) this.#byUser.delete(user)
  }
}
