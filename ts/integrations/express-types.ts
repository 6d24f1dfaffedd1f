// `sessionkeeper/express/types`: an opt-in declaration of `req.session` and `req.startSession`
// on express's Request, for apps that do not use @types/express-session (which declares its own
// `req.session`: the two cannot be merged, so apps with it use `sessionOf(req)` instead).
//
//   import type {} from 'sessionkeeper/express/types'      // once, anywhere in the program
//   app.get('/', (req, res) => { req.session?.user })       // no cast
//
// Nothing here runs: the module's JavaScript is empty.
import type { JsonValue } from '../data-codec'
import type { Session } from '../session'
import type { StartSessionInit } from './http'

/**
 * The session data type of `req.session` under this entry, by declaration merging; empty means
 * any key holds any JSON value:
 *
 * ```ts
 * declare module 'sessionkeeper/express/types' {
 *   interface RequestSessionData { visits: number; theme?: 'dark' | 'light' }
 * }
 * ```
 */
export interface RequestSessionData {}

/** `RequestSessionData`, or any JSON by key while it is empty. */
export type RequestData = keyof RequestSessionData extends never ? Record<string, JsonValue> : RequestSessionData

declare global {
  namespace Express {
    interface Request {
      /** The request's live session (renewed by `sessionMiddleware`), or undefined. Updated by `startSession`. */
      session?: Session<RequestData>
      /** A login: closes the request's session, if any, and starts a fresh one from `init` alone (`init.keep`: data keys to carry over). */
      startSession(init?: StartSessionInit<RequestData>): Session<RequestData>
    }
  }
}
