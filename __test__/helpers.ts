import type { Buffer } from 'node:buffer'
import { SessionManager, type SessionManagerOptions } from '../ts/index'

export const ENGINES = ['native', 'js'] as const
export type EngineName = (typeof ENGINES)[number]

/** A clock the test moves by hand; starts far from 0 like Date.now(). */
export class FakeClock {
  now = 1_700_000_000_000
  read = (): number => this.now
  advance(ms: number): void {
    this.now += ms
  }
}

export function makeManager(engine: EngineName, options: SessionManagerOptions = {}) {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, ...options })
  return { clock, manager }
}

/** Runs `body` once per engine as its own ava test. */
export function forEachEngine(
  test: typeof import('ava').default,
  title: string,
  body: (t: import('ava').ExecutionContext, engine: EngineName) => void | Promise<void>,
): void {
  for (const engine of ENGINES) test(`${title} [${engine}]`, (t) => body(t, engine))
}

/**
 * Runs `body` with process.emitWarning captured: returns what it returned and the codes of the
 * warnings it emitted (the message when a warning has no code).
 */
export function withWarnings<T>(body: () => T): { result: T; warnings: string[] } {
  const warnings: string[] = []
  const original = process.emitWarning
  process.emitWarning = ((warning: string | Error, options?: { code?: string }) => {
    warnings.push(typeof options === 'object' && options?.code ? options.code : String(warning))
  }) as typeof process.emitWarning
  try {
    return { result: body(), warnings }
  } finally {
    process.emitWarning = original
  }
}

/**
 * Writes a packed Session record's tail at `at` (no user, no roles, one entry `k` = `value`), as
 * a session file holds it; returns its end.
 */
export function writeSessionTail(out: Buffer, at: number, value: string): number {
  at = out.writeUInt8(0, at)
  at = out.writeUInt32LE(0, at)
  at = out.writeUInt32LE(1, at)
  at = out.writeUInt32LE(1, at)
  at += out.write('k', at)
  at = out.writeUInt32LE(value.length, at)
  return at + out.write(value, at)
}
