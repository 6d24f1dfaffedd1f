import test from 'ava'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { evaluateTargets, renderMarkdown, writeReport } from '../bench/report/index'
import { growthTargets } from '../bench/report/growth'
import { renderBarChart } from '../bench/report/svg-chart'
import { STORE_KINDS, STORE_LABELS, type BenchResults, type StoreFigures, type StoreKind } from '../bench/results-schema'

// Synthetic figures, made up for these tests only: never a measurement.
const GET_OPS: Record<StoreKind, number> = {
  native: 3_000_000,
  js: 2_100_000,
  'lru-cache': 1_000_000,
  ttlcache: 800_000,
  'express-session-memory': 300_000,
  memorystore: 250_000,
  'node-cache': 400_000,
}

function storeFigures(store: StoreKind, size: number, overrides: Partial<StoreFigures> = {}): StoreFigures {
  const own = store === 'native' || store === 'js'
  return {
    store,
    size,
    runs: 5,
    createOpsPerSec: store === 'native' ? 1_600_000 : 1_000_000,
    getOpsPerSec: GET_OPS[store],
    destroyOpsPerSec: 1_200_000,
    heapBytesPerSession: store === 'native' ? 2.5 : 420,
    rssBytesPerSession: 310,
    fullGcMs: store === 'native' ? 1.2 : 85,
    serving: own ? { sessions: size, durationMs: 5000, opsPerSec: 900_000, eventLoopDelayP99Ms: 1.1, eventLoopDelayMaxMs: 3.4 } : null,
    massExpiry: {
      sessions: size,
      allGoneMs: store === 'node-cache' ? null : 1500,
      longestBlockMs: own ? 0.8 : 640,
      mechanism: store === 'node-cache' ? 'explicit flush | purge call' : 'background timer',
    },
    notes: [`synthetic ${store} note`],
    ...overrides,
  }
}

function syntheticResults(sizes = [100_000, 1_000_000], stores: readonly StoreKind[] = STORE_KINDS): Omit<BenchResults, 'targets'> {
  return {
    schema: 1,
    date: '2000-01-01T00:00:00.000Z',
    profile: 'smoke',
    machine: { cpuModel: 'Synthetic CPU', cores: 4, memoryGiB: 16, os: 'linux', arch: 'x64' },
    node: 'v0.0.0-synthetic',
    packages: { sessionkeeper: '0.0.0', 'lru-cache': '0.0.0' },
    stores: sizes.flatMap((size) => stores.map((store) => storeFigures(store, size))),
    floor: sizes.map((size) => ({ size, opsPerSec: 4_000_000 })),
    http: [
      { server: 'middleware-native', label: 'middleware <native> & co', sessions: 10_000, durationSeconds: 10, connections: 50, requestsPerSec: 40_000, latencyP50Ms: 1, latencyP99Ms: 3, errors: 0, non2xx: 0 },
      { server: 'express-session-memory', label: 'express-session MemoryStore', sessions: 10_000, durationSeconds: 10, connections: 50, requestsPerSec: 20_000, latencyP50Ms: 2, latencyP99Ms: 6, errors: 0, non2xx: 0 },
    ],
  }
}

function withTargets(results: Omit<BenchResults, 'targets'>): BenchResults {
  return { ...results, targets: evaluateTargets(results) }
}

function target(results: Omit<BenchResults, 'targets'>, nameStart: string) {
  const found = evaluateTargets(results).find((candidate) => candidate.name.startsWith(nameStart))
  if (!found) throw new Error(`no target named ${nameStart}…`)
  return found
}

/** Tags balance, attributes are quoted, and every < or & in text is escaped. */
function assertWellFormed(t: import('ava').ExecutionContext, svg: string): void {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, '')
  const stack: string[] = []
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy
  let match: RegExpExecArray | null
  let consumed = 0
  while ((match = token.exec(body)) !== null) {
    consumed = token.lastIndex
    const [, closing, name, attributes, selfClosing, text] = match
    const escapable = text ?? attributes ?? ''
    t.notRegex(escapable, /&(?!(?:lt|gt|amp|quot|apos|#\d+);)/, `unescaped & in ${escapable}`)
    if (text !== undefined) continue
    if (closing) t.is(stack.pop(), name, `</${name}> closes the wrong element`)
    else if (!selfClosing) stack.push(name)
  }
  t.is(consumed, body.length, `not markup at: ${body.slice(consumed, consumed + 60)}`)
  t.deepEqual(stack, [], 'unclosed elements')
  t.true(body.startsWith('<svg ') && body.trimEnd().endsWith('</svg>'))
}

test('ratio targets are met when the figures clear them', (t) => {
  const results = syntheticResults()
  const againstOthers = target(results, 'native get-and-renew ≥ 2.5x')
  t.true(againstOthers.met)
  t.is(againstOthers.measured, 'native 3.00M ops/s vs lru-cache 1.00M ops/s: 3.00x (needs 2.5x)')
  t.true(target(results, 'JsEngine get-and-renew ≥ 2x').met)
  t.true(target(results, 'native get-and-renew never slower').met)
  t.true(target(results, 'native create ≥ 1.5x').met)
  t.true(target(results, 'HTTP:').met)
  // 4M floor ops/s against 3M native: 1.33x the floor's time per op.
  t.true(target(results, 'native get-and-renew within 1.5x of the floor').met)
})

test('ratio targets are missed when the figures fall short', (t) => {
  const results = syntheticResults()
  const lru = results.stores.find((figures) => figures.store === 'lru-cache' && figures.size === 1_000_000)!
  lru.getOpsPerSec = 2_000_000
  const slowNativeAt100k = results.stores.find((figures) => figures.store === 'native' && figures.size === 100_000)!
  slowNativeAt100k.getOpsPerSec = 1_000_000
  results.floor[1].opsPerSec = 6_000_000
  results.http[0].latencyP99Ms = 7

  const againstOthers = target(results, 'native get-and-renew ≥ 2.5x')
  t.false(againstOthers.met)
  t.is(againstOthers.measured, 'native 3.00M ops/s vs lru-cache 2.00M ops/s: 1.50x (needs 2.5x)')
  t.false(target(results, 'JsEngine get-and-renew ≥ 2x').met)
  const neverSlower = target(results, 'native get-and-renew never slower')
  t.false(neverSlower.met, 'slower at 10⁵ even though faster at 10⁶')
  t.regex(neverSlower.measured, /0\.48x at 10⁵, 1\.43x at 10⁶/)
  t.false(target(results, 'native get-and-renew within 1.5x of the floor').met)
  t.false(target(results, 'HTTP:').met, 'faster but with a higher p99')
})

test('threshold targets compare against their limits', (t) => {
  const results = syntheticResults()
  t.true(target(results, 'native JS heap').met)
  t.true(target(results, 'native full-GC').met)
  t.true(target(results, 'native event-loop delay p99').met)
  t.true(target(results, 'native longest event-loop block').met)
  const js = results.stores.find((figures) => figures.store === 'js' && figures.size === 1_000_000)!
  js.massExpiry = { ...js.massExpiry!, longestBlockMs: 5.01 }
  t.false(target(results, 'JsEngine longest event-loop block').met)
  js.massExpiry.longestBlockMs = 5
  t.true(target(results, 'JsEngine longest event-loop block').met, 'at most 5 ms includes 5 ms')
})

test('targets without their inputs are not measured, never met', (t) => {
  const results = { ...syntheticResults([1_000_000], ['native', 'js']), http: [], floor: [] }
  for (const nameStart of ['HTTP:', 'native get-and-renew ≥ 2.5x', 'JsEngine get-and-renew ≥ 2x', 'native get-and-renew within']) {
    t.like(target(results, nameStart), { measured: 'not measured', met: false })
  }
  t.like(target({ ...results, stores: [] }, 'native JS heap'), { measured: 'not measured', met: false })
})

test('the per-user index targets: closeUser ≤ 50 µs, and the index ≤ 5% in every pattern of the A/B', (t) => {
  const users = (store: 'native' | 'js', sessions: number, shares: [number, number, number]) => ({
    store, sessions, perUser: 10, closeUserUs: 20, closeUserP99Us: 70, createWithUserNs: 2800, createWithoutIndexNs: 2600,
    indexShare: shares[0], keptWithUserNs: 3000, keptWithoutIndexNs: 2800, keptIndexShare: shares[1], freshWithUserNs: 3000,
    freshWithoutIndexNs: 2800, freshIndexShare: shares[2], abPairs: 10, abClock: 'main thread CPU' as const, getWithUserNs: 900, getAnonymousNs: 900,
  })
  const results = (figures: ReturnType<typeof users>[]) => ({ ...syntheticResults([1_000_000], ['native', 'js']), users: figures })
  const met = results([users('native', 1_000_000, [0.03, 0.05, 0.049]), users('js', 1_000_000, [0.03, 0.051, 0.02])])
  t.like(target(met, 'native: closeUser'), { met: true })
  t.like(target(met, 'native: the per-user index'), { met: true })
  t.like(target(met, 'JsEngine: the per-user index'), { met: false })
  t.regex(target(met, 'JsEngine: the per-user index').measured, /kept \+5\.1%/)
  const short = results([users('native', 100_000, [0, 0, 0])])
  t.like(target(short, 'native: the per-user index'), { met: false })
  t.regex(target(short, 'native: closeUser').measured, /at 10⁵ sessions, not 10⁶/)
  t.like(target(short, 'JsEngine: closeUser'), { measured: 'not measured', met: false })
  t.like(target(results([{ ...users('native', 1_000_000, [0, 0, 0]), closeUserUs: 51 }]), 'native: closeUser'), { met: false })
})

test('a profile without 10⁶ figures is read at its largest size and says so', (t) => {
  const results = syntheticResults([2_000, 100_000, 10_000_000])
  t.regex(target(results, 'native get-and-renew ≥ 2.5x').measured, /at 10⁵ sessions/)
  t.regex(target(results, 'native JS heap').measured, /at 10⁵ sessions/)
  t.regex(target(results, 'native get-and-renew never slower').measured, /at 10⁷/)
})

test('every chart is well-formed SVG and escapes its text', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'))
  try {
    const written = writeReport(withTargets(syntheticResults()), dir)
    t.deepEqual(written.map((path) => path.slice(dir.length + 1)), ['latest.md', 'throughput.svg', 'heap-per-session.svg', 'expiry-block.svg', 'http.svg', 'full-gc.svg', 'rss-per-session.svg', 'http-p99.svg'])
    for (const path of written.filter((file) => file.endsWith('.svg'))) assertWellFormed(t, readFileSync(path, 'utf8'))
    t.true(readFileSync(join(dir, 'http.svg'), 'utf8').includes('middleware &lt;native&gt; &amp; co'))
    t.false(writeReport(withTargets({ ...syntheticResults(), http: [] }), dir).some((path) => path.endsWith('http.svg') || path.endsWith('http-p99.svg')))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const chart = renderBarChart({
    title: 'a <b> & "c"',
    rows: [{ label: '<&', values: [1, null], highlight: true }, { label: "o'k", values: [0.001, 1e6] }],
    series: ['x & y', 'z'],
    logScale: true,
  })
  assertWellFormed(t, chart)
  t.true(chart.includes('&lt;&amp;'))
})

test('the markdown names every store and marks each target', (t) => {
  const results = withTargets(syntheticResults())
  const markdown = renderMarkdown(results)
  for (const store of STORE_KINDS) t.true(markdown.includes(STORE_LABELS[store]), STORE_LABELS[store])
  t.true(markdown.includes('| sessionkeeper (native) | 1.60M | 3.00M | 1.20M | 2.5 | 310 | 1.20 |'))
  t.true(markdown.includes('never (explicit flush \\| purge call)'), 'a null allGoneMs prints why, pipes escaped')
  t.true(markdown.includes('Floor (a bare binding call copying a fresh id): 4.00M ops/s.'))
  t.is(markdown.match(/✅|❌/g)?.length, results.targets.length)
  t.true(markdown.includes('- synthetic node-cache note'))
})

test('the markdown shows the cost of JSON session data per get and set when measured, and nothing when not', (t) => {
  const measured = syntheticResults()
  t.false(renderMarkdown({ ...measured, targets: [] }).includes('## JSON session data'))
  const jsonData = (['native', 'js'] as const).map((store) => ({
    store, sessions: 100_000, calls: 1_000_000, valueBytes: 154, getStringNs: 400, getJsonNs: 1500, setStringNs: 600, setJsonNs: 2100,
  }))
  const markdown = renderMarkdown({ ...measured, jsonData, targets: [] })
  t.true(markdown.includes('## JSON session data'))
  t.true(markdown.includes('| sessionkeeper (native) | 400 | 1500 | +1100 | 600 | 2100 | +1500 |'))
  t.true(markdown.includes('| sessionkeeper (JsEngine) | 400 | 1500 | +1100 | 600 | 2100 | +1500 |'))
})

test("issue 15's growth and memory goals are read at their sizes only, each met or missed by its own figure", (t) => {
  const full = {
    fill: { sessions: 10_000_000, slowestCreateMs: 4.2, mostCpuCreateMs: 1.1, p9999Us: 30, medianUs: 2 },
    expire: { sessions: 4_000_000, rssBeforeMiB: 83, rssFullMiB: 1545, rssAfterSweepMiB: 100, rssAfterMiB: 99, sweepMs: 1071 },
    dropped: { managers: 3000, sessions: 1000, nativeFinalRssMiB: 200, nativePeakRssMiB: 260, jsFinalRssMiB: 90, jsPeakRssMiB: 120 },
    externalGc: { sessions: 4_000_000, markCompacts: 3, byMemoryReports: 0 },
  }
  const growthOf = (growth: unknown) => growthTargets({ growth } as unknown as Omit<BenchResults, 'targets'>)
  t.deepEqual(growthOf(full).map((target) => target.met), [true, true, false, true], 'dropped: 200 MiB is over 2x of 90')
  const small = growthOf({ ...full, fill: { ...full.fill, sessions: 2000 }, expire: null })
  t.false(small[0].met, 'a fill short of 10^7 is not read as met')
  t.regex(small[0].measured, /not read at 10⁷/)
  t.deepEqual([small[1].met, small[1].measured], [false, 'not measured'])
  t.deepEqual(growthTargets({} as Omit<BenchResults, 'targets'>), [], 'results made before growth have no such targets')
})

test('the slowest create is read as the longest one ran: a create descheduled past 5 ms is not a stall, one that ran 5 ms is', (t) => {
  const fill = {
    sessions: 10_000_000, slowestCreateMs: 9.5, slowestAt: 7_000_000, slowestCpuMs: 0.2, mostCpuCreateMs: 3.1, mostCpuAt: 5000,
    longestRunMs: 2.9, longestRunAt: 5000, p9999Us: 30, medianUs: 2, warmupCreates: 100_000, firstCreateMs: 2.3, slowestWarmupCreateMs: 6.1,
  }
  const [descheduled] = growthTargets({ growth: { fill, expire: null, dropped: null, externalGc: null } } as unknown as Omit<BenchResults, 'targets'>)
  t.true(descheduled.met)
  t.regex(descheduled.measured, /^2\.90 ms, the longest one create ran .* at 5,000 sessions; the slowest wall time 9\.50 ms \(0\.20 ms CPU\) at 7,000,000 sessions/)
  t.regex(descheduled.measured, /after 100,000 creates on another manager \(compiling the create path: the process's first create 2\.30 ms, the slowest 6\.10 ms\)/)
  const [stalled] = growthTargets({ growth: { fill: { ...fill, longestRunMs: 5.2 }, expire: null, dropped: null, externalGc: null } } as unknown as Omit<BenchResults, 'targets'>)
  t.false(stalled.met)
  const [warm] = growthTargets({ growth: { fill: { ...fill, warmupLongestRunMs: 4.4, slowestCpuMs: undefined }, expire: null, dropped: null, externalGc: null } } as unknown as Omit<BenchResults, 'targets'>)
  t.regex(warm.measured, /the slowest wall time 9\.50 ms at 7,000,000/, 'a CPU time not read is not shown as 0')
  t.regex(warm.measured, /the slowest 6\.10 ms, the longest run 4\.40 ms\)/)
  const [before] = growthTargets({ growth: { fill: { sessions: 10_000_000, slowestCreateMs: 7.31, mostCpuCreateMs: 7.32, p9999Us: 173.6, medianUs: 1.37 }, expire: null, dropped: null, externalGc: null } } as unknown as Omit<BenchResults, 'targets'>)
  t.false(before.met, 'results from before the longest-run reading are read by their wall time')
})
