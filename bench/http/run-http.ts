/**
 * The HTTP end-to-end benchmark: autocannon against each express server of bench/http/server.ts,
 * every one filled with the same number of live sessions, under the same request mix:
 *
 * - 80% `GET /` with the cookie of a live session (read the session),
 * - 10% `POST /cart` with the cookie of a live session (write one value),
 * - 10% `GET /public` without a cookie (anonymous).
 *
 * Each server runs in a child process of its own; autocannon runs here, in this process. After
 * each run the server's own counts prove that every request with a cookie found its session: a
 * server that silently made fresh sessions would measure something else.
 *
 * CLI, for a quick look: node --import tsx bench/http/run-http.ts [sessions] [seconds] [connections]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import autocannon from 'autocannon'
import type { HttpFigures, HttpServerKind } from '../results-schema'
import { HTTP_SERVER_KINDS, type ServerReady } from './kinds'

export const HTTP_SERVER_LABELS: Record<HttpServerKind, string> = {
  'express-bare': 'express, no session middleware (the ceiling)',
  'middleware-native': 'express + sessionMiddleware (native)',
  'middleware-js': 'express + sessionMiddleware (JsEngine)',
  'express-session-memory': 'express-session + MemoryStore',
  'express-session-memorystore': 'express-session + memorystore',
  'express-session-sessionkeeper': 'express-session + SessionkeeperStore',
}

const REPO_ROOT = join(__dirname, '..', '..')
const SERVER_ENTRY = join(__dirname, 'server.ts')
const WARM_UP_SECONDS = 1
/** Filling 10^5 or more sessions into express-session's stores takes seconds on a busy machine. */
const SERVER_START_TIMEOUT_MS = 120_000
const SERVER_EXIT_TIMEOUT_MS = 3_000
/** Shares of the request mix; the rest is anonymous `GET /public`. */
const READ_SHARE = 0.8
const WRITE_SHARE = 0.1

/** The server's counts of session-route requests that found their session, and that did not. */
interface SessionCounts {
  hits: number
  misses: number
}

interface RunningServer {
  child: ChildProcess
  ready: ServerReady
}

/** Starts the server child and waits for its JSON line; kills it if it never comes. */
async function startServer(kind: HttpServerKind, sessions: number): Promise<RunningServer> {
  // stdin stays a pipe: the child exits when it closes, so it cannot outlive this process.
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER_ENTRY, kind, String(sessions)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  try {
    const ready = await new Promise<ServerReady>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! })
      const timer = setTimeout(() => reject(new Error(`${kind} server did not start within ${SERVER_START_TIMEOUT_MS} ms`)), SERVER_START_TIMEOUT_MS)
      const settle = () => {
        clearTimeout(timer)
        lines.close()
        child.off('exit', onExit)
        child.off('error', reject)
      }
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        settle()
        reject(new Error(`${kind} server exited before it was ready (code ${code}, signal ${signal})`))
      }
      child.once('exit', onExit)
      child.once('error', (error) => {
        settle()
        reject(error)
      })
      lines.once('line', (line) => {
        settle()
        try {
          resolve(JSON.parse(line) as ServerReady)
        } catch {
          reject(new Error(`${kind} server printed ${JSON.stringify(line.slice(0, 200))} instead of its JSON line`))
        }
      })
    })
    if (ready.cookies.length === 0) throw new Error(`${kind} server handed out no session cookies`)
    return { child, ready }
  } catch (error) {
    await stopServer(child)
    throw error
  }
}

/** Ends the child: SIGTERM, then SIGKILL if it is still there after a while. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), SERVER_EXIT_TIMEOUT_MS) })
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL')
    await exited
  }
  clearTimeout(timer)
}

async function sessionCounts(port: number): Promise<SessionCounts> {
  const response = await fetch(`http://127.0.0.1:${port}/bench-counts`)
  if (!response.ok) throw new Error(`GET /bench-counts answered ${response.status}`)
  return (await response.json()) as SessionCounts
}

/** What one load run measured: autocannon's result and every response's latency in ms. */
interface LoadRun {
  result: autocannon.Result
  latenciesMs: Float64Array
}

/**
 * One autocannon run of the request mix, each request with a cookie picked at random.
 * autocannon's own latency histogram keeps whole milliseconds, too coarse for servers that answer
 * in one or two; its 'response' event gives each latency as measured (hrtime, fractional ms), so
 * they are kept here and the percentiles computed from them exactly.
 */
function load(port: number, cookies: string[], seconds: number, connections: number): Promise<LoadRun> {
  const pickCookie = () => cookies[Math.floor(Math.random() * cookies.length)]
  let latencies = new Float64Array(1 << 16)
  let count = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration: seconds,
      // One request template rebuilt before every send (autocannon calls setupRequest each time
      // when it is a function), so every request draws its kind and cookie afresh.
      requests: [{
        setupRequest: (request) => {
          const draw = Math.random()
          if (draw < READ_SHARE) return { ...request, method: 'GET', path: '/', headers: { ...request.headers, cookie: pickCookie() } }
          if (draw < READ_SHARE + WRITE_SHARE) return { ...request, method: 'POST', path: '/cart', headers: { ...request.headers, cookie: pickCookie() } }
          return { ...request, method: 'GET', path: '/public' }
        },
      }],
    }, (error, result) => (error ? reject(error) : resolve({ result, latenciesMs: latencies.subarray(0, count) })))
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2)
        grown.set(latencies)
        latencies = grown
      }
      latencies[count++] = responseTimeMs
    })
  })
}

/** The nearest-rank percentile `p` (0 to 100) of `values` (sorted in place), to the microsecond. */
function percentile(values: Float64Array, p: number): number {
  values.sort()
  const rank = Math.max(1, Math.ceil((p / 100) * values.length))
  return Math.round(values[rank - 1] * 1000) / 1000
}

/** Throws when a run failed requests: a benchmark that fails requests measures nothing. */
function checkClean(label: string, phase: string, result: autocannon.Result): void {
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${label} ${phase}: ${result.errors} errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx responses of ${result.requests.total}`)
  }
  if (result.requests.total === 0) throw new Error(`${label} ${phase}: no request completed`)
}

async function measure(kind: HttpServerKind, options: { sessions: number; durationSeconds: number; connections: number }): Promise<HttpFigures> {
  const label = HTTP_SERVER_LABELS[kind]
  const { child, ready } = await startServer(kind, options.sessions)
  try {
    checkClean(label, 'warm-up', (await load(ready.port, ready.cookies, WARM_UP_SECONDS, options.connections)).result)
    const before = await sessionCounts(ready.port)
    const { result, latenciesMs } = await load(ready.port, ready.cookies, options.durationSeconds, options.connections)
    checkClean(label, 'run', result)
    const after = await sessionCounts(ready.port)
    // Every request of the run on / and /cart carried a live cookie; each must have found it
    // (express with no session middleware finds none: it is the ceiling).
    const hits = after.hits - before.hits
    const misses = after.misses - before.misses
    if (kind !== 'express-bare' && (misses > 0 || hits === 0)) {
      throw new Error(`${label}: ${misses} requests with a live session cookie found no session (${hits} did): the cookies do not name the pre-created sessions`)
    }
    return {
      server: kind,
      label,
      sessions: options.sessions,
      durationSeconds: options.durationSeconds,
      connections: options.connections,
      requestsPerSec: result.requests.average,
      latencyP50Ms: percentile(latenciesMs, 50),
      latencyP99Ms: percentile(latenciesMs, 99),
      errors: result.errors,
      non2xx: result.non2xx,
    }
  } finally {
    await stopServer(child)
  }
}

/** Runs every server kind in turn, in the order of HTTP_SERVER_KINDS, each in a fresh child process. */
export async function runHttpBench(options: { sessions: number; durationSeconds: number; connections: number; log?: (line: string) => void }): Promise<HttpFigures[]> {
  const figures: HttpFigures[] = []
  for (const kind of HTTP_SERVER_KINDS) {
    options.log?.(`http: ${HTTP_SERVER_LABELS[kind]}, ${options.sessions} sessions, ${options.durationSeconds} s, ${options.connections} connections`)
    const measured = await measure(kind, options)
    options.log?.(`http: ${measured.label}: ${measured.requestsPerSec.toFixed(0)} req/s, p50 ${measured.latencyP50Ms} ms, p99 ${measured.latencyP99Ms} ms`)
    figures.push(measured)
  }
  return figures
}

if (require.main === module) {
  const [sessions = 10_000, durationSeconds = 3, connections = 10] = process.argv.slice(2).map(Number)
  runHttpBench({ sessions, durationSeconds, connections, log: (line) => console.error(line) })
    .then((figures) => {
      console.log(`\n${sessions} sessions, ${durationSeconds} s per server, ${connections} connections; mix 80% read, 10% write, 10% anonymous`)
      console.log('| server | req/s | p50 (ms) | p99 (ms) | errors | non-2xx |')
      console.log('|---|---|---|---|---|---|')
      for (const row of figures) {
        console.log(`| ${row.label} | ${row.requestsPerSec.toFixed(0)} | ${row.latencyP50Ms} | ${row.latencyP99Ms} | ${row.errors} | ${row.non2xx} |`)
      }
    })
    .catch((error) => {
      console.error(error)
      process.exitCode = 1
    })
}
