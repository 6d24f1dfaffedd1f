import { IncomingMessage, ServerResponse } from 'node:http'

/**
 * V8 before 13 (Node 22 and older) gives each request and response that went through express
 * a hidden class of its own: express sets their prototype (`app.request`, `app.response`) and
 * then adds properties, after which no two requests share one (seen with V8's %HaveSameMap on
 * Node 20 and 22; on Node 24 and 26 they do). Each property added to such an object then copies
 * its hidden class, about 1.5-2 µs on Node 20, and each read of one misses V8's caches.
 */
const UNSHARED_HIDDEN_CLASSES = Number(process.versions.v8.split('.')[0]) < 13

/** Added and deleted again: deleting from an object with a hidden class of its own puts it in dictionary mode. */
const scratch = Symbol('sessionkeeper.dictionary-mode')

/**
 * Call before the session layer's first property added to a request or response. Where V8
 * gives that object a hidden class of its own (above), it goes to dictionary mode: a property
 * added and deleted again does that, after which each property added is a hash insertion and a
 * read no longer misses V8's caches. Objects whose prototype is Node's own (node:http without
 * express) share hidden classes and are left as they are, as is everything on V8 13 and later,
 * where this is a check of a constant.
 */
export function beforeAddingProperties(target: object): void {
  if (UNSHARED_HIDDEN_CLASSES && hasExpressLikePrototype(target)) {
    const record = target as Record<symbol, unknown>
    record[scratch] = undefined
    delete record[scratch]
  }
}

/** True for an object whose prototype was set to one derived from Node's request or response prototype. */
function hasExpressLikePrototype(target: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(target)
  if (prototype === IncomingMessage.prototype || prototype === ServerResponse.prototype || typeof prototype !== 'object' || prototype === null) return false
  return IncomingMessage.prototype.isPrototypeOf(prototype) || ServerResponse.prototype.isPrototypeOf(prototype)
}
