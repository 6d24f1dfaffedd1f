/**
 * The Redis benchmark: express over HTTP, two server processes sharing one redis-server (the
 * Debian package, started here on a free port in a temp dir), for each kind of
 * bench/redis/server.ts: express with no session middleware (the ceiling, measured in the same
 * run), sessionMiddleware + RedisSessionManager, express-session + connect-redis, and
 * express-session + SessionkeeperStore in Redis mode.
 *
 * Per kind: `sessions` logins spread over both servers, each session read once on each server
 * (what a long-running server has done already) and a second of reads, then
 *   1. reads only (`GET /` with a live session's cookie) on both servers: Redis commands per
 *      request, from `INFO commandstats` (every command Redis ran meanwhile, sweeps included);
 *   2. the mix of the in-process HTTP benchmark, 80% reads / 10% writes (`POST /cart`) / 10%
 *      anonymous (`GET /public`), autocannon on both servers at once: req/s (sum) and latency
 *      (the worse p99 of the two);
 *   3. logout-to-invisible: log out through server A, then ask server B until it no longer
 *      serves the session; the time from A's response to B's first anonymous answer.
 *
 *   BENCH_PROFILE=full|quick|smoke [BENCH_KINDS=bare-express,redis-middleware] [BENCH_CPU_PROF=dir] node --import tsx bench/redis/run.ts
 *
 * BENCH_KINDS runs only those kinds (and writes no results file); BENCH_CPU_PROF writes each
 * server process's CPU profile of the mix into that directory (<kind>-<pid>.cpuprofile).
 *
 * Prints a Markdown table and writes it, with the JSON figures, to bench/results/redis-latest.{md,json}.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { RedisServer } from '../../__test__/redis-fixtures'
import { REDIS_BENCH_KINDS, type RedisBenchKind } from './server'

const PROFILES = {
  full: { sessions: 2000, readSeconds: 5, mixSeconds: 10, connections: 32, logouts: 200 },
  quick: { sessions: 500, readSeconds: 2, mixSeconds: 4, connections: 16, logouts: 50 },
  smoke: { sessions: 50, readSeconds: 1, mixSeconds: 1, connections: 4, logouts: 5 },
} as const
const LABELS: Record<RedisBenchKind, string> = {
  'bare-express': 'express without sessions (ceiling)',
  'redis-middleware': 'sessionMiddleware + RedisSessionManager',
  'redis-middleware-no-context': 'the same, asyncContext: false',
  'connect-redis': 'express-session + connect-redis',
  'redis-store': 'express-session + SessionkeeperStore (Redis mode)',
}
const SERVER_ENTRY = join(__dirname, 'server.ts')
const REPO_ROOT = join(__dirname, '..', '..')

interface Figures {
  kind: RedisBenchKind
  label: string
  readRequests: number
  commandsPerRead: number
  mixRequestsPerSecond: number
  mixLatencyP50: number
  mixLatencyP99: number
  mixErrors: number
  mixNon2xx: number
  sessionMisses: number
  /** Redis round trips per request of the mix (INFO commandstats; see roundTrips). */
  commandsPerMixRequest: number
  /** CPU time (user + system) per request of the mix: both server processes, and redis-server (µs). */
  serverCpuPerRequest: number
  redisCpuPerRequest: number
  logoutToInvisibleP50: number
  logoutToInvisibleP99: number
  logoutToInvisibleMax: number
  /** Requests to server B after the logout that still served the session (must be 0 where ordering holds). */
  staleAfterLogout: number
}

async function startServer(kind: RedisBenchKind, url: string, prefix: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_ENTRY, kind, url, prefix], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start`)), 60_000)
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)))
    createInterface({ input: child.stdout! }).once('line', (text) => {
      clearTimeout(timer)
      resolve(text)
    })
  })
  return { child, base: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}` }
}

async function request(base: string, method: string, path: string, cookie?: string): Promise<{ text: string; cookie: string | undefined }> {
  const response = await fetch(base + path, { method, headers: cookie === undefined ? {} : { cookie } })
  return { text: await response.text(), cookie: response.headers.getSetCookie()[0]?.split(';')[0] }
}

/** Requests served and CPU µs so far: both servers (their own count) and redis-server (INFO cpu). */
async function cpuCounts(bases: string[], admin: ReturnType<RedisServer['client']>): Promise<{ requests: number; serverMicros: number; redisMicros: number }> {
  let requests = 0
  let serverMicros = 0
  for (const base of bases) {
    const counts = JSON.parse((await request(base, 'GET', '/bench-counts')).text) as { requests: number; cpuMicros: number }
    requests += counts.requests
    serverMicros += counts.cpuMicros
  }
  const info = await admin.info('cpu')
  const seconds = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? NaN)
  return { requests, serverMicros, redisMicros: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6 }
}

async function commandCalls(admin: ReturnType<RedisServer['client']>): Promise<number> {
  const info = await admin.info('commandstats')
  let calls = 0
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info' && match[1] !== 'config|resetstat') calls += Number(match[2])
  }
  return calls
}

/**
 * Commands the servers sent since the last reset, a script counting as one: commandstats also
 * counts the commands a script calls, and in the mix sessionkeeper's processes send nothing
 * but scripts, so where scripts ran only they are counted.
 */
async function roundTrips(admin: ReturnType<RedisServer['client']>): Promise<number> {
  const info = await admin.info('commandstats')
  let scripts = 0
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) scripts += Number(match[2])
  return scripts > 0 ? scripts : commandCalls(admin)
}

function cannon(base: string, connections: number, seconds: number, pick: () => { method: string; path: string; cookie?: string }) {
  return autocannon({
    url: base,
    connections,
    duration: seconds,
    requests: [{
      setupRequest: (req: any) => {
        const next = pick()
        req.method = next.method
        req.path = next.path
        req.headers = next.cookie === undefined ? {} : { cookie: next.cookie }
        return req
      },
    }],
  })
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function runKind(kind: RedisBenchKind, redis: RedisServer, profile: (typeof PROFILES)[keyof typeof PROFILES]): Promise<Figures> {
  const admin = redis.client()
  await admin.connect()
  await admin.flushAll()
  const prefix = 'bench:'
  const servers = [await startServer(kind, redis.url, prefix), await startServer(kind, redis.url, prefix)]
  try {
    const [a, b] = servers.map((server) => server.base)
    const cookies: string[] = []
    for (let index = 0; index < profile.sessions; index++) {
      const login = await request(index % 2 === 0 ? a : b, 'POST', '/login')
      // Bare express sets no cookie: its requests carry one of the same length as a signed
      // session cookie, so every kind parses the same headers.
      if (kind === 'bare-express') cookies.push(`sid=${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`)
      else if (login.cookie === undefined) throw new Error(`${kind}: login set no cookie`)
      else cookies.push(login.cookie)
    }
    const anyCookie = () => cookies[Math.floor(Math.random() * cookies.length)]
    // Warm-up: each server reads each session once (what a long-running server has done
    // already), then a second of the read load.
    for (const server of servers) {
      for (let from = 0; from < cookies.length; from += 16) {
        await Promise.all(cookies.slice(from, from + 16).map((cookie) => request(server.base, 'GET', '/', cookie)))
      }
    }
    await Promise.all(servers.map((server) => cannon(server.base, profile.connections / 2, 1, () => ({ method: 'GET', path: '/', cookie: anyCookie() }))))

    await admin.configResetStat()
    const reads = await Promise.all(servers.map((server) => cannon(server.base, profile.connections / 2, profile.readSeconds, () => ({ method: 'GET', path: '/', cookie: anyCookie() }))))
    const readRequests = reads.reduce((sum, result) => sum + result.requests.total, 0)
    const commandsPerRead = (await commandCalls(admin)) / readRequests

    const profiling = process.env.BENCH_CPU_PROF !== undefined
    if (profiling) for (const server of servers) await request(server.base, 'POST', '/bench-profile/start')
    await admin.configResetStat()
    const before = await cpuCounts(servers.map((server) => server.base), admin)
    const mix = await Promise.all(servers.map((server) => cannon(server.base, profile.connections / 2, profile.mixSeconds, () => {
      const roll = Math.random()
      if (roll < 0.8) return { method: 'GET', path: '/', cookie: anyCookie() }
      if (roll < 0.9) return { method: 'POST', path: '/cart', cookie: anyCookie() }
      return { method: 'GET', path: '/public' }
    })))
    const mixCommands = await roundTrips(admin)
    const after = await cpuCounts(servers.map((server) => server.base), admin)
    if (profiling) for (const server of servers) await request(server.base, 'POST', '/bench-profile/stop')
    const mixServed = after.requests - before.requests
    let sessionMisses = 0
    for (const server of servers) sessionMisses += (JSON.parse((await request(server.base, 'GET', '/bench-counts')).text) as { misses: number }).misses

    const latencies: number[] = []
    let staleAfterLogout = 0
    for (let round = 0; round < (kind === 'bare-express' ? 0 : profile.logouts); round++) {
      const login = await request(a, 'POST', '/login')
      const cookie = login.cookie as string
      await request(b, 'GET', '/', cookie)
      await request(b, 'GET', '/', cookie)
      await request(a, 'POST', '/logout', cookie)
      const loggedOut = performance.now()
      for (let attempt = 0; attempt < 10_000; attempt++) {
        if ((await request(b, 'GET', '/', cookie)).text === 'hello anonymous') break
        staleAfterLogout++
      }
      latencies.push(performance.now() - loggedOut)
    }
    return {
      kind,
      label: LABELS[kind],
      readRequests,
      commandsPerRead,
      mixRequestsPerSecond: mix.reduce((sum, result) => sum + result.requests.total, 0) / profile.mixSeconds,
      mixLatencyP50: Math.max(...mix.map((result) => result.latency.p50)),
      mixLatencyP99: Math.max(...mix.map((result) => result.latency.p99)),
      mixErrors: mix.reduce((sum, result) => sum + result.errors + result.timeouts, 0),
      mixNon2xx: mix.reduce((sum, result) => sum + result.non2xx, 0),
      sessionMisses,
      commandsPerMixRequest: mixCommands / mixServed,
      serverCpuPerRequest: (after.serverMicros - before.serverMicros) / mixServed,
      redisCpuPerRequest: (after.redisMicros - before.redisMicros) / mixServed,
      logoutToInvisibleP50: percentile(latencies, 50),
      logoutToInvisibleP99: percentile(latencies, 99),
      logoutToInvisibleMax: latencies.length === 0 ? NaN : Math.max(...latencies),
      staleAfterLogout,
    }
  } finally {
    for (const server of servers) server.child.stdin?.end()
    await admin.close().catch(() => {})
  }
}

function markdown(figures: Figures[], profileName: string): string {
  const baseline = figures.find((row) => row.kind === 'connect-redis')
  const ceiling = figures.find((row) => row.kind === 'bare-express')
  const ratio = (row: Figures, of: Figures | undefined) => (of === undefined ? '' : `${(row.mixRequestsPerSecond / of.mixRequestsPerSecond).toFixed(2)}x`)
  const ms = (value: number) => (Number.isNaN(value) ? '–' : value.toFixed(2))
  const lines = [
    `# Redis: two express processes sharing one redis-server (${profileName} profile)`,
    '',
    `${new Date().toISOString()}; ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}); Node ${process.version}; redis-server from the Debian package.`,
    '',
    '| server | req/s (80/10/10 mix) | vs connect-redis | of the ceiling | p50 ms | p99 ms | CPU µs per request: servers / redis-server | Redis commands per request: reads / mix (a script as one) | logout to invisible p50 / p99 / max ms | served after logout | errors / non-2xx / session misses |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...figures.map((row) => `| ${row.label} | ${Math.round(row.mixRequestsPerSecond)} | ${ratio(row, baseline)} | ${ratio(row, ceiling)} | ${row.mixLatencyP50} | ${row.mixLatencyP99} | ${Math.round(row.serverCpuPerRequest)} / ${Math.round(row.redisCpuPerRequest)} | ${row.commandsPerRead.toFixed(3)} / ${row.commandsPerMixRequest.toFixed(3)} | ${ms(row.logoutToInvisibleP50)} / ${ms(row.logoutToInvisibleP99)} / ${ms(row.logoutToInvisibleMax)} | ${row.staleAfterLogout} | ${row.mixErrors} / ${row.mixNon2xx} / ${row.sessionMisses} |`),
    '',
    'CPU per request: CPU time (user + system) the two server processes and redis-server spent during the mix, divided by the requests served; unlike req/s it hardly depends on what else the machine runs. The ceiling: the same express app, servers and load with no session middleware at all (its requests carry a cookie of the same length), measured in the same run. Commands per read request: every command Redis ran during the read-only phase (INFO commandstats, sweeps and renewals included) divided by the read requests both servers answered. Logout to invisible: from server A\'s logout response to server B\'s first answer without the session (B had read the session just before).',
    '',
  ]
  return lines.join('\n')
}

async function main(): Promise<void> {
  const profileName = (process.env.BENCH_PROFILE ?? 'quick') as keyof typeof PROFILES
  const profile = PROFILES[profileName]
  if (profile === undefined) throw new Error(`BENCH_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`)
  const redis = await RedisServer.start()
  const figures: Figures[] = []
  try {
    const only = process.env.BENCH_KINDS?.split(',')
    for (const kind of REDIS_BENCH_KINDS) {
      if (only !== undefined && !only.includes(kind)) continue
      process.stderr.write(`redis bench: ${kind}...\n`)
      figures.push(await runKind(kind, redis, profile))
    }
  } finally {
    await redis.stop()
  }
  const report = markdown(figures, profileName)
  process.stdout.write(report)
  if (profileName !== 'smoke' && process.env.BENCH_KINDS === undefined) {
    writeFileSync(join(REPO_ROOT, 'bench', 'results', 'redis-latest.md'), report)
    writeFileSync(join(REPO_ROOT, 'bench', 'results', 'redis-latest.json'), `${JSON.stringify({ profile: profileName, figures }, null, 2)}\n`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
