// A save of a framework's session record (express-session's JSON) as a change of what the
// request loaded, for SessionkeeperStore: two overlapping requests of one session keep each
// other's changes to different top-level properties. Not exported from a package entry.

/**
 * @internal SessionkeeperStore's. `stored` with the top-level properties that `saved` changed
 * from `loaded` (set, replaced, deleted) put over it: another request's save between the two
 * keeps what it changed. All three are records as JSON text; the result keeps `stored`'s
 * order, with new properties last.
 */
export function mergeChanges(loaded: string, stored: string, saved: string): string {
  const before = JSON.parse(loaded) as Record<string, unknown>
  const merged = JSON.parse(stored) as Record<string, unknown>
  const after = JSON.parse(saved) as Record<string, unknown>
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const value = Object.hasOwn(after, key) ? after[key] : undefined
    if (JSON.stringify(Object.hasOwn(before, key) ? before[key] : undefined) === JSON.stringify(value)) continue
    // Defined rather than assigned: a property named __proto__ (JSON.parse makes one) stays data.
    if (Object.hasOwn(after, key)) Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true })
    else delete merged[key]
  }
  return JSON.stringify(merged)
}
