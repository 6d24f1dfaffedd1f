/**
 * npm run bench (BENCH_PROFILE full, quick or smoke; full by default): this package's two
 * engines and the session stores users pick today, side by side, each at each size in a fresh
 * process so heaps never mix; then the HTTP servers; then the targets and the report. Progress
 * goes to stderr, the markdown report to stdout.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, cpus, release, totalmem, type as osType } from 'node:os'
import { join } from 'node:path'
import { runGrowth } from './growth'
import { runHttpBench } from './http/run-http'
import type { JsonDataFigures, PersistFigures, UserIndexFigures } from './results-schema'
import { PROFILES, type ProfileName, profileNamed } from './profiles'
import { evaluateTargets, renderMarkdown, writeReport } from './report'
import { type BenchResults, type FloorFigures, type HttpFigures, OWN_STORES, STORE_KINDS, type StoreFigures, type StoreKind, type WheelFigures } from './results-schema'

const ROOT = join(__dirname, '..')
const RESULTS_DIR = join(ROOT, 'bench', 'results')
/** Libraries whose versions the results record, this package first. */
const PACKAGES = ['sessionkeeper', 'lru-cache', '@isaacs/ttlcache', 'express-session', 'memorystore', 'node-cache', 'express', 'autocannon']
/** No single worker should come near this, even at 10^7 sessions. */
const WORKER_TIMEOUT_MS = 30 * 60_000

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1)

type Job = { kind: StoreKind | 'floor' | 'wheel-native' | 'wheel-js'; size: number }

function jobs(profileName: ProfileName): Job[] {
  const profile = PROFILES[profileName]
  const list: Job[] = []
  for (const size of profile.sizes) {
    for (const kind of STORE_KINDS) list.push({ kind, size })
    list.push({ kind: 'floor', size })
  }
  for (const size of profile.ownStoreSizes) {
    for (const kind of OWN_STORES) list.push({ kind, size })
    list.push({ kind: 'floor', size })
  }
  // The deadline wheel under per-session timeouts, sized by the profile's `wheel`.
  list.push({ kind: 'wheel-native', size: profile.wheel.setterSessions }, { kind: 'wheel-js', size: profile.wheel.setterSessions })
  return list
}

/** Heap room for the worker: a JsEngine at 10^7 sessions holds several GiB. */
function maxOldSpaceMb(size: number): number {
  return size > 1_000_000 ? 16384 : 4096
}

function runWorker({ kind, size }: Job, profile: ProfileName): Promise<{ store?: StoreFigures; floor?: FloorFigures; wheel?: WheelFigures }> {
  const args = [
    '--expose-gc', `--max-old-space-size=${maxOldSpaceMb(size)}`, '--import', 'tsx',
    join(__dirname, 'store-worker.ts'), kind, String(size), profile,
  ]
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: WORKER_TIMEOUT_MS, maxBuffer: 16 << 20 }, (error, stdout) => {
      if (error) {
        reject(new Error(`${kind} at ${size}: ${error.message}`))
        return
      }
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line))
      } catch {
        reject(new Error(`${kind} at ${size} printed no figures: ${JSON.stringify(stdout.slice(-500))}`))
      }
    })
    child.stderr?.pipe(process.stderr)
  })
}

/** One engine's figures from a bench script that prints `{ [key]: figures }` last, in its own process. */
function runEngineScript<T>(script: string, key: string, engine: 'native' | 'js', profile: ProfileName): Promise<T> {
  const args = ['--expose-gc', '--import', 'tsx', join(__dirname, script), engine, profile]
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: WORKER_TIMEOUT_MS }, (error, stdout) => {
      if (error) {
        reject(new Error(`${script} on ${engine}: ${error.message}`))
        return
      }
      try {
        resolve((JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, T>)[key])
      } catch {
        reject(new Error(`${script} on ${engine} printed no figures: ${JSON.stringify(stdout.slice(-500))}`))
      }
    })
    child.stderr?.pipe(process.stderr)
  })
}

/** The cost of JSON session data (bench/json-data.ts) on one engine, in its own process. */
function runJsonData(engine: 'native' | 'js', profile: ProfileName): Promise<JsonDataFigures> {
  return runEngineScript<JsonDataFigures>('json-data.ts', 'jsonData', engine, profile)
}

function packageVersion(name: string): string {
  const path = name === 'sessionkeeper' ? join(ROOT, 'package.json') : join(ROOT, 'node_modules', name, 'package.json')
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version
}

function machine(): BenchResults['machine'] {
  const processors = cpus()
  return {
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${osType()} ${release()}`,
    arch: arch(),
  }
}

async function main(): Promise<void> {
  const started = new Date()
  const profileName = profileNamed(process.env.BENCH_PROFILE)
  const profile = PROFILES[profileName]
  const planned = jobs(profileName)
  log(`sessionkeeper benchmark, profile ${profileName}: ${planned.length} store processes, then HTTP`)

  const stores: StoreFigures[] = []
  const floor: FloorFigures[] = []
  const wheel: WheelFigures[] = []
  const failures: string[] = []
  for (const [index, job] of planned.entries()) {
    log(`[${index + 1}/${planned.length}] ${job.kind} at ${job.size.toLocaleString('en')} sessions`)
    const jobStarted = Date.now()
    try {
      const figures = await runWorker(job, profileName)
      if (figures.store) stores.push(figures.store)
      if (figures.floor) floor.push(figures.floor)
      if (figures.wheel) wheel.push(figures.wheel)
      log(`  (${seconds(jobStarted)} s)`)
    } catch (error) {
      // One store failing (e.g. out of memory) must not lose every other store's figures.
      failures.push((error as Error).message)
      log(`FAILED: ${(error as Error).message}`)
    }
  }

  const jsonData: JsonDataFigures[] = []
  for (const engine of OWN_STORES as readonly ('native' | 'js')[]) {
    log(`JSON session data: get and set, string vs an object of five fields, on ${engine}`)
    try {
      jsonData.push(await runJsonData(engine, profileName))
    } catch (error) {
      failures.push((error as Error).message)
      log(`FAILED: ${(error as Error).message}`)
    }
  }

  const users: UserIndexFigures[] = []
  for (const engine of OWN_STORES as readonly ('native' | 'js')[]) {
    log(`Per-user index: closeUser, and its cost on create and get, on ${engine}`)
    try {
      users.push(await runEngineScript<UserIndexFigures>('users.ts', 'users', engine, profileName))
    } catch (error) {
      failures.push((error as Error).message)
      log(`FAILED: ${(error as Error).message}`)
    }
  }

  const persist: PersistFigures[] = []
  for (const engine of OWN_STORES as readonly ('native' | 'js')[]) {
    log(`Persistence: ${profile.persist.sessions.toLocaleString('en')} sessions with and without persist, compaction, close and load, on ${engine}`)
    try {
      persist.push(await runEngineScript<PersistFigures>('persist.ts', 'persist', engine, profileName))
    } catch (error) {
      failures.push((error as Error).message)
      log(`FAILED: ${(error as Error).message}`)
    }
  }

  const growth = await runGrowth(profile, log, failures)

  log(`HTTP: ${profile.http.sessions.toLocaleString('en')} sessions, ${profile.http.durationSeconds} s, ${profile.http.connections} connections per server`)
  const httpStarted = Date.now()
  let http: HttpFigures[] = []
  try {
    http = await runHttpBench({ ...profile.http, log })
    log(`  (HTTP: ${seconds(httpStarted)} s)`)
  } catch (error) {
    failures.push(`HTTP: ${(error as Error).message}`)
    log(`FAILED: HTTP: ${(error as Error).message}`)
  }

  const measured: Omit<BenchResults, 'targets'> = {
    schema: 1,
    date: started.toISOString(),
    profile: profileName,
    machine: machine(),
    node: process.version,
    packages: Object.fromEntries(PACKAGES.map((name) => [name, packageVersion(name)])),
    stores,
    floor,
    http,
    jsonData,
    users,
    persist,
    growth,
    wheel,
  }
  const results: BenchResults = { ...measured, targets: evaluateTargets(measured) }
  const json = `${JSON.stringify(results, null, 2)}\n`

  // Only a complete full run may replace the committed figures.
  if (profileName === 'full' && failures.length === 0) {
    mkdirSync(RESULTS_DIR, { recursive: true })
    const file = join(RESULTS_DIR, `${results.date.slice(0, 10)}.json`)
    writeFileSync(file, json)
    const written = writeReport(results, RESULTS_DIR)
    log(`wrote ${[file, ...written].join(', ')}`)
  } else {
    const dir = join(RESULTS_DIR, 'tmp')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `${profileName}-${results.date.replace(/[:.]/g, '-')}.json`)
    writeFileSync(file, json)
    log(`wrote ${file}`)
  }
  process.stdout.write(renderMarkdown(results))
  log(`done in ${seconds(started.getTime())} s`)
  if (failures.length > 0) {
    log(`${failures.length} part(s) failed, so the committed figures were left alone:\n${failures.join('\n')}`)
    process.exitCode = 1
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
