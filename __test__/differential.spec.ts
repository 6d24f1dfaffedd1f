import test from 'ava'
import fc from 'fast-check'
import { Session, SessionManager, type SessionManagerOptions } from '../ts/index'
import { FakeClock } from './helpers'

/**
 * The JsEngine is the executable specification: random operation sequences run through a
 * manager on each engine with the same fake clock, and every observable result must agree.
 * Sessions are named by creation order, since ids are random.
 */
type Command =
  | { op: 'create'; idle: number | undefined; absolute: number | undefined; key: number; user: boolean }
  | { op: 'get' | 'peek' | 'has' | 'destroy' | 'getOrCreate'; target: number }
  | { op: 'touch' | 'regenerate' | 'close' | 'read'; target: number }
  | { op: 'set'; target: number; key: string; value: string }
  | { op: 'delete'; target: number; key: string }
  | { op: 'setIdle' | 'setAbsolute'; target: number; timeout: number }
  | { op: 'advance'; ms: number }
  | { op: 'sweep' }
  | { op: 'iterate' }

// Few distinct timeouts, so sessions share lists and setters refile into busy ones.
const timeout = fc.constantFrom(0, 5, 20, 60)
const dataKey = fc.constantFrom('a', 'b', 'é', 'long-key')
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('create' as const), idle: fc.option(timeout, { nil: undefined }), absolute: fc.option(timeout, { nil: undefined }), key: fc.nat(6), user: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'peek' as const, 'has' as const, 'destroy' as const, 'getOrCreate' as const), target: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('touch' as const, 'regenerate' as const, 'close' as const, 'read' as const), target: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), target: fc.nat(30), key: dataKey, value: fc.string({ maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), target: fc.nat(30), key: dataKey }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('setIdle' as const, 'setAbsolute' as const), target: fc.nat(30), timeout }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.nat(25) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('iterate' as const) }) },
)

class Driver {
  readonly clock: FakeClock
  readonly manager: SessionManager
  readonly sessions: Session[] = []
  readonly indexById = new Map<string, number>()
  events: string[] = []

  constructor(engine: 'native' | 'js', options: SessionManagerOptions, clock: FakeClock) {
    this.clock = clock
    this.manager = new SessionManager({ ...options, engine, clock: clock.read })
    this.manager.on('close', (session, reason) => this.events.push(`close ${this.name(session)} ${reason}`))
    this.manager.on('regenerate', (session) => this.events.push(`regenerate ${this.name(session)}`))
  }

  name(session: Session | undefined): string {
    return session === undefined ? 'none' : `#${this.indexById.get(session.id) ?? '?'}`
  }

  adopt(session: Session): string {
    if (!this.indexById.has(session.id)) {
      this.indexById.set(session.id, this.sessions.length)
      this.sessions.push(session)
    }
    return this.name(session)
  }

  idOf(target: number): string {
    return this.sessions[target % Math.max(this.sessions.length, 1)]?.id ?? 'AAAAAAAAAAAAAAAAAAAAAA'
  }

  run(command: Command, caller: boolean): unknown {
    this.events = []
    const result = attempt(() => this.step(command, caller))
    return { result, events: this.events, size: this.manager.size }
  }

  step(command: Command, caller: boolean): unknown {
    const { manager } = this
    const session = 'target' in command ? this.sessions[command.target % Math.max(this.sessions.length, 1)] : undefined
    switch (command.op) {
      case 'create': {
        const init = {
          idleTimeout: command.idle, absoluteTimeout: command.absolute, user: command.user ? 'u' : undefined,
          ...(caller ? { key: `key-${command.key}` } : {}),
        }
        return this.adopt(manager.create(init))
      }
      case 'get': return this.name(manager.get(this.idOf(command.target)))
      case 'peek': return this.name(manager.peek(this.idOf(command.target)))
      case 'has': return manager.has(this.idOf(command.target))
      case 'destroy': return manager.destroy(this.idOf(command.target))
      case 'getOrCreate': {
        const id = caller ? `key-${command.target % 7}` : this.idOf(command.target)
        return this.adopt(manager.getOrCreate(id))
      }
      case 'touch': return session?.touch()
      case 'regenerate': {
        if (session === undefined) return undefined
        const oldIndex = this.indexById.get(session.id)
        const newId = session.regenerate(caller ? `key-${command.target % 9}-r` : undefined)
        if (oldIndex !== undefined) this.indexById.set(newId, oldIndex)
        return 'regenerated'
      }
      case 'close': return session?.close()
      case 'read':
        return session === undefined ? undefined : {
          closed: session.closed, createdAt: session.createdAt, lastActivity: session.lastActivity,
          expiresAt: session.expiresAt, idle: session.idleTimeout, absolute: session.absoluteTimeout,
          user: session.user, keys: session.keys(), values: session.keys().map((key) => session.get(key)),
        }
      case 'set': return session === undefined ? undefined : (session.set(command.key, command.value), session.keys())
      case 'delete': return session?.delete(command.key)
      case 'setIdle': if (session !== undefined) session.idleTimeout = command.timeout; return session?.expiresAt
      case 'setAbsolute': if (session !== undefined) session.absoluteTimeout = command.timeout; return session?.expiresAt
      case 'advance': this.clock.advance(command.ms); return undefined
      case 'sweep': return manager.sweep()
      case 'iterate': return [...manager].map((found) => this.name(found))
    }
  }
}

function attempt(step: () => unknown): unknown {
  try {
    return step()
  } catch (error) {
    const failure = error as Error & { code?: string }
    return `throws ${failure.name} ${failure.code ?? ''}`
  }
}

function compareEngines(options: SessionManagerOptions, commands: Command[], caller: boolean): void {
  const clockNative = new FakeClock()
  const clockJs = new FakeClock()
  const native = new Driver('native', options, clockNative)
  const js = new Driver('js', options, clockJs)
  commands.forEach((command, index) => {
    const expected = js.run(command, caller)
    const actual = native.run(command, caller)
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      throw new Error(`step ${index} ${JSON.stringify(command)}: native ${JSON.stringify(actual)} vs js ${JSON.stringify(expected)}`)
    }
  })
  native.manager.close()
  js.manager.close()
  if (JSON.stringify(native.events) !== JSON.stringify(js.events)) {
    throw new Error(`shutdown: native ${JSON.stringify(native.events)} vs js ${JSON.stringify(js.events)}`)
  }
}

const managerOptions = fc.record({
  idleTimeout: timeout,
  absoluteTimeout: timeout,
  maxSessions: fc.constantFrom(3, 8, Infinity),
  whenFull: fc.constantFrom('evict' as const, 'reject' as const),
  maxDataBytes: fc.constantFrom(12, 40, Infinity),
})

test('both engines agree on random operation sequences (random ids)', (t) => {
  fc.assert(fc.property(managerOptions, fc.array(command, { maxLength: 80 }), (options, commands) => {
    compareEngines(options, commands, false)
  }), { numRuns: 400 })
  t.pass()
})

test("both engines agree on random operation sequences (keys: 'caller')", (t) => {
  fc.assert(fc.property(managerOptions, fc.array(command, { maxLength: 80 }), (options, commands) => {
    compareEngines({ ...options, keys: 'caller' }, commands, true)
  }), { numRuns: 400 })
  t.pass()
})
