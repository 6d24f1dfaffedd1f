import { catchRejection } from './listeners'

/** Disposes an owned object; called with the object when it is replaced, removed or its session closes. */
export type Disposer<T = unknown> = (value: T) => unknown

interface Owned {
  value: unknown
  dispose: Disposer | undefined
}

/**
 * Live JS values owned by sessions, kept here (never in the engines) and only for sessions that
 * hold any, so that a session without objects costs nothing on the JS heap.
 */
export class OwnedObjects {
  #bySession = new Map<number, Map<string, Owned>>()

  get sessionsHoldingObjects(): number {
    return this.#bySession.size
  }

  get(handle: number, key: string): unknown {
    return this.#bySession.get(handle)?.get(key)?.value
  }

  keys(handle: number): string[] {
    return [...(this.#bySession.get(handle)?.keys() ?? [])]
  }

  /** Stores `value`; an object it replaces is disposed unless it is the same value. */
  put(handle: number, key: string, value: unknown, dispose: Disposer | undefined, onError: (error: unknown) => void): void {
    let owned = this.#bySession.get(handle)
    if (owned === undefined) {
      owned = new Map()
      this.#bySession.set(handle, owned)
    }
    const previous = owned.get(key)
    owned.set(key, { value, dispose })
    if (previous !== undefined && previous.value !== value) disposeOne(previous, onError)
  }

  /** Removes and disposes; false when there was nothing under `key`. */
  remove(handle: number, key: string, onError: (error: unknown) => void): boolean {
    const owned = this.#bySession.get(handle)
    const previous = owned?.get(key)
    if (owned === undefined || previous === undefined) return false
    owned.delete(key)
    if (owned.size === 0) this.#bySession.delete(handle)
    disposeOne(previous, onError)
    return true
  }

  /** Disposes everything a closing session holds, in insertion order; each failure is reported. */
  disposeAll(handle: number, onError: (error: unknown) => void): void {
    const owned = this.#bySession.get(handle)
    if (owned === undefined) return
    this.#bySession.delete(handle)
    for (const entry of owned.values()) disposeOne(entry, onError)
  }
}

function disposeOne({ value, dispose }: Owned, onError: (error: unknown) => void): void {
  try {
    let result: unknown
    if (dispose !== undefined) result = dispose(value)
    else if (isObject(value)) result = (value[Symbol.dispose] ?? value[Symbol.asyncDispose])?.call(value)
    catchRejection(result, onError)
  } catch (error) {
    onError(error)
  }
}

function isObject(value: unknown): value is Record<symbol, undefined | (() => unknown)> {
  return (typeof value === 'object' && value !== null) || typeof value === 'function'
}
