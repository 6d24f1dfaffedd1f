import test from 'ava'
import fc from 'fast-check'
import { type JsonValue, Session, SessionManager, type SessionManagerOptions } from '../ts/index'
import { FakeClock } from './helpers'

/**
 * The JsEngine is the executable specification: random operation sequences run through a
 * manager on each engine with the same fake clock, and every observable result must agree.
 * Sessions are named by creation order, since ids are random.
 */
type Command =
  | { op: 'create'; idle: number | undefined; absolute: number | undefined; key: number; user: boolean; data?: Record<string, JsonValue> }
  | { op: 'get' | 'peek' | 'has' | 'destroy' | 'getOrCreate'; target: number }
  | { op: 'touch' | 'regenerate' | 'close' | 'read'; target: number }
  | { op: 'set'; target: number; key: string; value: JsonValue }
  | { op: 'delete'; target: number; key: string }
  | { op: 'setIdle' | 'setAbsolute'; target: number; timeout: number }
  | { op: 'advance'; ms: number }
  | { op: 'stepBack'; ms: number }
  | { op: 'badReading'; reading: Reading }
  | { op: 'sweep' }
  | { op: 'iterate' }

/** What a broken clock returns once: each must be reported and replaced by the latest good reading. */
type Reading = 'NaN' | 'Infinity' | '2^53+1' | 'string' | 'throws'
const badReading = fc.constantFrom<Reading>('NaN', 'Infinity', '2^53+1', 'string', 'throws')

// Few distinct timeouts, so sessions share lists and setters refile into busy ones.
const timeout = fc.constantFrom(0, 5, 20, 60)
const dataKey = fc.constantFrom('a', 'b', 'é', 'long-key')
/**
 * Data values: plain strings (the fast path), strings that start with the sentinel U+0000 (stored
 * escaped), and the other JSON values, small enough that some fit the data caps below.
 */
const dataValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ maxLength: 8 }).map((rest) => `\u0000${rest}`),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>,
)
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('create' as const), idle: fc.option(timeout, { nil: undefined }), absolute: fc.option(timeout, { nil: undefined }), key: fc.nat(6), user: fc.boolean(), data: fc.option(fc.dictionary(dataKey, dataValue, { maxKeys: 3 }), { nil: undefined }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'peek' as const, 'has' as const, 'destroy' as const, 'getOrCreate' as const), target: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('touch' as const, 'regenerate' as const, 'close' as const, 'read' as const), target: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), target: fc.nat(30), key: dataKey, value: dataValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), target: fc.nat(30), key: dataKey }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('setIdle' as const, 'setAbsolute' as const), target: fc.nat(30), timeout }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.nat(25) }) },
  // Steps back as large as every timeout: an NTP correction while sessions are being made.
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stepBack' as const), ms: fc.integer({ min: 1, max: 90 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('badReading' as const), reading: badReading }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('iterate' as const) }) },
)

/** A fake clock that can step back and return one bad reading on demand. */
class UnreliableClock extends FakeClock {
  #next: Reading | undefined

  override read = (): number => {
    const bad = this.#next
    if (bad === undefined) return this.now
    this.#next = undefined
    switch (bad) {
      case 'NaN': return Number.NaN
      case 'Infinity': return Number.POSITIVE_INFINITY
      case '2^53+1': return 2 ** 53 + 2
      case 'string': return String(this.now) as unknown as number
      case 'throws': throw new Error('clock failure')
    }
  }

  failNextRead(reading: Reading): void {
    this.#next = reading
  }
}

class Driver {
  readonly clock: UnreliableClock
  readonly manager: SessionManager
  readonly sessions: Session[] = []
  readonly indexById = new Map<string, number>()
  events: string[] = []

  constructor(engine: 'native' | 'js', options: SessionManagerOptions, clock: UnreliableClock) {
    this.clock = clock
    this.manager = new SessionManager({ ...options, engine, clock: clock.read })
    this.manager.on('error', (error) => this.events.push(`error ${(error as Error).name}`))
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
          idleTimeout: command.idle, absoluteTimeout: command.absolute, user: command.user ? 'u' : undefined, data: command.data,
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
        if (oldIndex !== undefined && newId !== undefined) this.indexById.set(newId, oldIndex)
        return 'regenerated'
      }
      case 'close': return session?.close()
      case 'read':
        return session === undefined ? undefined : {
          closed: session.closed, createdAt: session.createdAt, lastActivity: session.lastActivity,
          expiresAt: session.expiresAt, idle: session.idleTimeout, absolute: session.absoluteTimeout,
          user: session.user, keys: session.keys(), values: session.keys().map((key) => session.get(key)),
        }
      case 'set': return session === undefined ? undefined : (session.set(command.key, command.value), [session.keys(), session.get(command.key)])
      case 'delete': return session?.delete(command.key)
      case 'setIdle': if (session !== undefined) session.idleTimeout = command.timeout; return session?.expiresAt
      case 'setAbsolute': if (session !== undefined) session.absoluteTimeout = command.timeout; return session?.expiresAt
      case 'advance': this.clock.advance(command.ms); return undefined
      case 'stepBack': this.clock.advance(-command.ms); return undefined
      case 'badReading': this.clock.failNextRead(command.reading); return manager.stats().clockErrors
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
  const clockNative = new UnreliableClock()
  const clockJs = new UnreliableClock()
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
  for (const driver of [native, js]) {
    // Whatever the clock did, close() leaves no session stranded: each created one closed once.
    const { created, closed, live } = driver.manager.stats()
    const closes = closed.destroyed + closed.expired + closed.evicted + closed.shutdown
    if (live !== 0 || closes !== created) {
      throw new Error(`${driver.manager.engine}: ${created} created, ${closes} closed, ${live} left after close()`)
    }
  }
}

const managerOptions = fc.record({
  idleTimeout: timeout,
  absoluteTimeout: timeout,
  maxSessions: fc.constantFrom(3, 8, Infinity),
  whenFull: fc.constantFrom('evict' as const, 'reject' as const),
  maxDataBytes: fc.constantFrom(12, 40, Infinity),
  // 1 ms wheel slots order sweeps and eviction by deadline; 1000 ms puts every session in one slot.
  resolution: fc.constantFrom(1, 7, 1000),
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

/** Creates, renewals and reads between clock moves that go both ways: where a wheel filing a session after its deadline would strand it. */
const clockCommand: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('create' as const), idle: fc.constant(undefined), absolute: fc.constant(undefined), key: fc.nat(6), user: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'touch' as const, 'read' as const), target: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.nat(12) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('stepBack' as const), ms: fc.integer({ min: 1, max: 70 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('badReading' as const), reading: badReading }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const) }) },
)

// Short nonzero timeouts, so sessions made before and after a step back expire within a few moves.
const clockOptions = fc.record({
  idleTimeout: fc.constantFrom(5, 20),
  absoluteTimeout: fc.constantFrom(0, 20),
  maxSessions: fc.constantFrom(8, Infinity),
})

test('both engines agree, and close() strands nothing, while the clock steps back and misreads', (t) => {
  fc.assert(fc.property(clockOptions, fc.array(clockCommand, { maxLength: 40 }), fc.boolean(), (options, commands, caller) => {
    compareEngines(caller ? { ...options, keys: 'caller' } : options, commands, caller)
  }), { numRuns: 400 })
  t.pass()
})
