import { RedisUnavailableError } from './errors'
import type { Script } from './scripts'

/**
 * What a RedisSessionManager needs of a node-redis v5 client (`createClient()` from `redis`):
 * the user's own client, connected by the manager if it is not yet. A duplicate of it carries
 * the invalidation subscription.
 */
export interface RedisClientLike {
  readonly isOpen: boolean
  readonly isReady: boolean
  connect(): Promise<unknown>
  sendCommand(args: readonly string[]): Promise<unknown>
  duplicate(): RedisClientLike
  subscribe(channel: string, listener: (message: string, channel: string) => unknown): Promise<unknown>
  unsubscribe(channel?: string): Promise<unknown>
  on(event: string, listener: (...args: any[]) => unknown): unknown
  off(event: string, listener: (...args: any[]) => unknown): unknown
  close?(): Promise<unknown>
  quit?(): Promise<unknown>
  destroy?(): unknown
}

/**
 * Whether `error` is a call Redis refused for want of memory (maxmemory under noeviction): its
 * reply starts with the code `OOM`. Known by the message, not by node-redis's ErrorReply class,
 * whose name a minifier rewrites in a bundled server. The scripts take care that such a refusal
 * comes before their first write (scripts.ts, admit_growth): nothing ran.
 */
export function refusedForMemory(error: unknown): boolean {
  const cause = error instanceof RedisUnavailableError ? error.cause : error
  return cause instanceof Error && cause.message.startsWith('OOM ')
}

/**
 * Runs scripts on the user's client with a deadline: a call that Redis does not answer in
 * `timeout` ms (the client offline, reconnecting, or Redis stalled) rejects with
 * RedisUnavailableError, as does any failure of the client. Scripts go by EVALSHA, and by EVAL
 * when Redis does not know them (after a restart).
 */
export class Connection {
  readonly client: RedisClientLike
  readonly #timeout: number
  /** Commands sent to Redis (a script Redis did not know costs two: EVALSHA, then EVAL). */
  roundTrips = 0

  constructor(client: RedisClientLike, timeout: number) {
    this.client = client
    this.#timeout = timeout
  }

  async run(action: string, script: Script, argv: readonly string[]): Promise<unknown> {
    if (!this.client.isReady) throw new RedisUnavailableError(action)
    try {
      return await this.#deadline(action, this.#evaluate(script, argv))
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error
      throw new RedisUnavailableError(action, { cause: error })
    }
  }

  /** One plain command, with the same deadline and errors as a script. */
  async command(action: string, args: readonly string[]): Promise<unknown> {
    if (!this.client.isReady) throw new RedisUnavailableError(action)
    try {
      this.roundTrips++
      return await this.#deadline(action, this.client.sendCommand(args))
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error
      throw new RedisUnavailableError(action, { cause: error })
    }
  }

  async #evaluate(script: Script, argv: readonly string[]): Promise<unknown> {
    try {
      this.roundTrips++
      return await this.client.sendCommand(['EVALSHA', script.sha, '0', ...argv])
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      this.roundTrips++
      return this.client.sendCommand(['EVAL', script.source, '0', ...argv])
    }
  }

  #deadline<T>(action: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(action, { cause: new Error(`no reply within ${this.#timeout} ms`) })), this.#timeout)
      timer.unref()
    })
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
  }
}
