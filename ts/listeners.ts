type Listener = (...args: never[]) => unknown

interface Entry {
  listener: Listener
  once: boolean
  /** A `once` entry that has run; a nested emit must not run it again. */
  spent: boolean
}

/**
 * Event listeners whose failures are contained: every listener runs even when an earlier one
 * throws, and each failure goes to `onError` instead of out of the manager call that emitted.
 * Lists are replaced, never mutated, so an emit iterates a stable array without copying it.
 */
export class Listeners<Events extends { [E in keyof Events]: unknown[] }> {
  #lists = new Map<keyof Events, readonly Entry[]>()

  add<E extends keyof Events>(event: E, listener: (...args: Events[E]) => unknown, once: boolean): void {
    const list = this.#lists.get(event) ?? []
    this.#lists.set(event, [...list, { listener: listener as Listener, once, spent: false }])
  }

  /** Removes the most recently added registration of `listener`; false when there was none. */
  remove<E extends keyof Events>(event: E, listener: (...args: Events[E]) => unknown): boolean {
    const list = this.#lists.get(event)
    if (list === undefined) return false
    const index = list.map((entry) => entry.listener).lastIndexOf(listener as Listener)
    if (index < 0) return false
    this.#removeEntry(event, list[index])
    return true
  }

  #removeEntry(event: keyof Events, entry: Entry): void {
    const rest = (this.#lists.get(event) ?? []).filter((other) => other !== entry)
    if (rest.length === 0) this.#lists.delete(event)
    else this.#lists.set(event, rest)
  }

  count(event: keyof Events): number {
    return this.#lists.get(event)?.length ?? 0
  }

  emit<E extends keyof Events>(event: E, args: Events[E], onError: (error: unknown) => void): void {
    const list = this.#lists.get(event)
    if (list === undefined) return
    for (const entry of list) {
      if (entry.once) {
        if (entry.spent) continue
        entry.spent = true
        this.#removeEntry(event, entry)
      }
      try {
        catchRejection((entry.listener as (...args: Events[E]) => unknown)(...args), onError)
      } catch (error) {
        onError(error)
      }
    }
  }
}

/** Routes the rejection of any thenable a listener or disposer returns to `onError`. */
export function catchRejection(result: unknown, onError: (error: unknown) => void): void {
  if (result !== null && (typeof result === 'object' || typeof result === 'function') &&
    typeof (result as PromiseLike<unknown>).then === 'function') {
    Promise.resolve(result as PromiseLike<unknown>).then(undefined, onError)
  }
}
