/**
 * What the HTTP runner and its server children agree on, kept apart from server.ts so that the
 * runner does not load express, the stores and the native binding into its own process.
 */
import type { HttpServerKind } from '../results-schema'

/** Every server kind, in the order the runner measures them and tables list them. */
export const HTTP_SERVER_KINDS: readonly HttpServerKind[] = [
  'express-bare',
  'middleware-native',
  'middleware-js',
  'express-session-memory',
  'express-session-memorystore',
  'express-session-sessionkeeper',
]

/** What a server prints, as one JSON line on stdout, once it is listening and filled. */
export interface ServerReady {
  port: number
  /** Cookie header values (`name=value`) of live sessions. */
  cookies: string[]
}
