/**
 * CPU per request of one kind of bench/redis/server.ts, per request type of the mix: reads
 * (`GET /` with a session), writes (`POST /cart`) and anonymous (`GET /public`), each alone, so
 * the mix's cost can be attributed. One server process, one redis-server, kinds run in turn
 * (rounds alternate them, for A/B on a loaded machine):
 *
 *   [SPLIT_KINDS=bare-express,redis-middleware] [SPLIT_ROUNDS=2] [SPLIT_SECONDS=3] [SPLIT_PHASES=writes,anonymous] node --import tsx bench/redis/split.ts
 *
 * (reads always run; SPLIT_PHASES picks the others, both by default.) With BENCH_CPU_PROF=dir the
 * server writes a CPU profile of the phase SPLIT_PROFILE names (reads by default) into dir.
 *
 * Prints, per kind and round, server CPU µs per request of each phase (process.cpuUsage of the
 * server, user + system, over its own request count) and the req/s autocannon saw.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { RedisServer } from '../../__test__/redis-fixtures'
import { REDIS_BENCH_KINDS, type RedisBenchKind } from './server'

const SESSIONS = 500
const CONNECTIONS = 8

async function text(base: string, method: string, path: string, cookie?: string): Promise<{ body: string; cookie: string | undefined }> {
  const response = await fetch(base + path, { method, headers: cookie === undefined ? {} : { cookie } })
  return { body: await response.text(), cookie: response.headers.getSetCookie()[0]?.split(';')[0] }
}

async function runKind(kind: RedisBenchKind, redis: RedisServer, seconds: number): Promise<Record<string, { cpu: number; rps: number }>> {
  const admin = redis.client()
  await admin.connect()
  await admin.flushAll()
  await admin.close()
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'server.ts'), kind, redis.url, 'split:'], { cwd: join(__dirname, '..', '..'), stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve))
    const base = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`
    const cookies: string[] = []
    for (let index = 0; index < SESSIONS; index++) {
      const login = await text(base, 'POST', '/login')
      cookies.push(kind === 'bare-express' ? `sid=${'a'.repeat(22)}.${'b'.repeat(43)}` : login.cookie as string)
    }
    const any = () => cookies[Math.floor(Math.random() * cookies.length)]
    const read = () => ({ method: 'GET', path: '/', cookie: any() })
    const shape = (next: { method: string; path: string; cookie?: string }) => (req: any) => {
      req.method = next.method
      req.path = next.path
      req.headers = next.cookie === undefined ? {} : { cookie: next.cookie }
      return req
    }
    const run = async (pick: () => { method: string; path: string; cookie?: string }) => {
      const before = JSON.parse((await text(base, 'GET', '/bench-counts')).body) as { requests: number; cpuMicros: number }
      const result = await autocannon({ url: base, connections: CONNECTIONS, duration: seconds, requests: [{ setupRequest: (req: any) => shape(pick())(req) }] })
      const after = JSON.parse((await text(base, 'GET', '/bench-counts')).body) as { requests: number; cpuMicros: number }
      if (process.env.BENCH_CPU_PROF !== undefined) process.stdout.write(`${kind}: ${after.requests - before.requests - 1} requests\n`)
      return { cpu: (after.cpuMicros - before.cpuMicros) / (after.requests - before.requests - 1), rps: result.requests.average }
    }
    await run(read) // warm-up: JIT, and every session in the near cache
    // BENCH_CPU_PROF (as run.ts): the server profiles the reads phase alone.
    // BENCH_CPU_PROF (as run.ts): the server profiles one phase alone, SPLIT_PROFILE (reads by default).
    const profiled = process.env.BENCH_CPU_PROF === undefined ? undefined : process.env.SPLIT_PROFILE ?? 'reads'
    const phase = async (name: string, pick: () => { method: string; path: string; cookie?: string }) => {
      if (profiled === name) await text(base, 'POST', '/bench-profile/start')
      const figures = await run(pick)
      if (profiled === name) await text(base, 'POST', '/bench-profile/stop')
      return figures
    }
    const phases = process.env.SPLIT_PHASES?.split(',') ?? ['writes', 'anonymous']
    return {
      reads: await phase('reads', read),
      ...(phases.includes('writes') ? { writes: await phase('writes', () => ({ method: 'POST', path: '/cart', cookie: any() })) } : {}),
      ...(phases.includes('anonymous') ? { anonymous: await phase('anonymous', () => ({ method: 'GET', path: '/public' })) } : {}),
    }
  } finally {
    child.stdin?.end()
  }
}

async function main(): Promise<void> {
  const kinds = (process.env.SPLIT_KINDS?.split(',') ?? ['bare-express', 'redis-middleware-no-context', 'redis-middleware']) as RedisBenchKind[]
  for (const kind of kinds) if (!REDIS_BENCH_KINDS.includes(kind)) throw new Error(`unknown kind ${kind}`)
  const rounds = Number(process.env.SPLIT_ROUNDS ?? 2)
  const seconds = Number(process.env.SPLIT_SECONDS ?? 3)
  const redis = await RedisServer.start()
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of kinds) {
        const figures = await runKind(kind, redis, seconds)
        const cells = Object.entries(figures).map(([name, { cpu, rps }]) => `${name} ${cpu.toFixed(1)} µs (${Math.round(rps)}/s)`)
        process.stdout.write(`round ${round + 1} ${kind}: ${cells.join(', ')}\n`)
      }
    }
  } finally {
    await redis.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
