type Listener = (...args: never[]) => unknown

interface Entry {
  listener: Listener
  once: boolean
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
    this.#lists.set(event, [...list, { listener: listener as Listener, once }])
  }

  /** Removes the most recently added registration of `listener`; false when there was none. */
  remove<E extends keyof Events>(event: E, listener: (...args: Events[E]) => unknown): boolean {
    const list = this.#lists.get(event)
    if (list === undefined) return false
    const index = list.map((entry) => entry.listener).lastIndexOf(listener as Listener)
    if (index < 0) return false
    const rest = list.filter((_, position) => position !== index)
    if (rest.length === 0) this.#lists.delete(event)
    else this.#lists.set(event, rest)
    return true
  }

  count(event: keyof Events): number {
    return this.#lists.get(event)?.length ?? 0
  }

  emit<E extends keyof Events>(event: E, args: Events[E], onError: (error: unknown) => void): void {
    const list = this.#lists.get(event)
    if (list === undefined) return
    for (const entry of list) {
      if (entry.once) this.remove(event, entry.listener as (...args: Events[E]) => unknown)
      try {
        const result = (entry.listener as (...args: Events[E]) => unknown)(...args)
        if (result instanceof Promise) result.catch(onError)
      } catch (error) {
        onError(error)
      }
    }
  }
}
