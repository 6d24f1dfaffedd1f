/**
 * The report's section on growth and memory (bench/growth.ts) and the goals of issue 15 it reads:
 * the slowest create while filling, RSS after a mass expiry, managers dropped without close(),
 * and full GCs started by the engine's memory reports.
 */
import type { BenchResults, GrowthFigures, GrowthFill, Target } from '../results-schema'
import { formatMs, formatSize } from './format'

type Figures = Omit<BenchResults, 'targets'>

const FILL_GOAL = 10_000_000
const EXPIRE_GOAL = 4_000_000
const DROPPED_GOAL = { managers: 3000, sessions: 1000 }
const mib = (value: number) => `${value.toFixed(0)} MiB`

/** What a fill measured: the longest run, the slowest wall time, percentiles, the warm-up. */
function describeFill(fill: GrowthFill): string {
  return (fill.longestRunMs === undefined ? '' :
    `${formatMs(fill.longestRunMs)} ms, the longest one create ran (the lesser of its wall and CPU time)${fill.longestRunAt === undefined ? '' : ` at ${fill.longestRunAt.toLocaleString('en')} sessions`}; the slowest wall time `) +
    `${formatMs(fill.slowestCreateMs)} ms${fill.slowestCpuMs === undefined ? '' : ` (${formatMs(fill.slowestCpuMs)} ms CPU)`}${fill.slowestAt === undefined ? '' : ` at ${fill.slowestAt.toLocaleString('en')} sessions`} (the most CPU one create took: ${formatMs(fill.mostCpuCreateMs)} ms; p99.99 ${fill.p9999Us.toFixed(1)} µs) filling to ${formatSize(fill.sessions)}` +
    (fill.warmupCreates === undefined || fill.firstCreateMs === undefined || fill.slowestWarmupCreateMs === undefined ? '' :
      `, after ${fill.warmupCreates.toLocaleString('en')} creates on another manager (compiling the create path: the process's first create ${formatMs(fill.firstCreateMs)} ms, the slowest ${formatMs(fill.slowestWarmupCreateMs)} ms${fill.warmupLongestRunMs === undefined ? '' : `, the longest run ${formatMs(fill.warmupLongestRunMs)} ms`})`)
}

interface Goal {
  name: string
  /** The sentence and whether it is met; undefined when the part was not measured. */
  read: (growth: GrowthFigures) => { measured: string; met: boolean } | undefined
}

const GOALS: readonly Goal[] = [
  {
    name: `native: slowest single create while filling to ${formatSize(FILL_GOAL)} ≤ 5 ms (the longest one ran: the lesser of its wall and CPU time, after a warm-up on another manager)`,
    read: ({ fill }) => fill === null ? undefined : {
      measured: describeFill(fill) + (fill.sessions < FILL_GOAL ? `; not read at ${formatSize(FILL_GOAL)}` : ''),
      met: fill.sessions >= FILL_GOAL && (fill.longestRunMs ?? fill.slowestCreateMs) <= 5,
    },
  },
  {
    name: `native: RSS after ${formatSize(EXPIRE_GOAL)} sessions expire within 2x of the RSS before they were made`,
    read: ({ expire }) => expire === null ? undefined : {
      measured: `${mib(expire.rssAfterMiB)} after, ${mib(expire.rssBeforeMiB)} before (${(expire.rssAfterMiB / expire.rssBeforeMiB).toFixed(2)}x; ${mib(expire.rssFullMiB)} full, ${mib(expire.rssAfterSweepMiB)} right after the sweep) for ${formatSize(expire.sessions)} sessions` +
        (expire.sessions < EXPIRE_GOAL ? `; not read at ${formatSize(EXPIRE_GOAL)}` : ''),
      met: expire.sessions >= EXPIRE_GOAL && expire.rssAfterMiB <= 2 * expire.rssBeforeMiB,
    },
  },
  {
    name: `${DROPPED_GOAL.managers.toLocaleString('en')} managers of ${DROPPED_GOAL.sessions.toLocaleString('en')} sessions dropped without close(), no gc(): native RSS within 2x of the JsEngine's`,
    read: ({ dropped }) => dropped === null ? undefined : {
      measured: `${mib(dropped.nativeFinalRssMiB)} native against ${mib(dropped.jsFinalRssMiB)} JsEngine after the last (${(dropped.nativeFinalRssMiB / dropped.jsFinalRssMiB).toFixed(2)}x; peaks ${mib(dropped.nativePeakRssMiB)} and ${mib(dropped.jsPeakRssMiB)})` +
        (dropped.managers < DROPPED_GOAL.managers ? `; ${dropped.managers.toLocaleString('en')} managers, not ${DROPPED_GOAL.managers.toLocaleString('en')}` : ''),
      met: dropped.managers >= DROPPED_GOAL.managers && dropped.nativeFinalRssMiB <= 2 * dropped.jsFinalRssMiB,
    },
  },
  {
    name: `native: no mark-compact started by the engine's memory reports while creating ${formatSize(EXPIRE_GOAL)} sessions`,
    read: ({ externalGc }) => externalGc === null ? undefined : {
      measured: `${externalGc.byMemoryReports} of ${externalGc.markCompacts} mark-compacts for ${formatSize(externalGc.sessions)} sessions` +
        (externalGc.sessions < EXPIRE_GOAL ? `; not read at ${formatSize(EXPIRE_GOAL)}` : ''),
      met: externalGc.sessions >= EXPIRE_GOAL && externalGc.byMemoryReports === 0,
    },
  },
]

/** Each goal, when the run measured growth at all. */
export function growthTargets(results: Figures): Target[] {
  const growth = results.growth
  if (growth === undefined) return []
  return GOALS.map((goal) => {
    const read = goal.read(growth)
    return { name: goal.name, measured: read?.measured ?? 'not measured', met: read?.met ?? false }
  })
}

export function growthSection(results: BenchResults): string {
  const growth = results.growth
  if (growth === undefined) return ''
  const rows = GOALS.map((goal) => {
    const read = goal.read(growth)
    return `| ${goal.name} | ${read === undefined ? 'not measured' : `${read.met ? 'met' : '**missed**'}: ${read.measured}`} |`
  })
  // Reported beside the goals, not one of them: the goal is the engine's; this adds the facade's
  // per-user index (its pages and 256 name tables) and a JS string per user for V8 to collect.
  if (growth.fillUsers !== undefined && growth.fillUsers !== null) {
    rows.push(`| native, each session with a user of its own (\`fill-users\`; reported, not a goal) | ${describeFill(growth.fillUsers)} |`)
  }
  return [
    '## Growth and memory',
    '',
    'One native manager filled one create at a time (`bench/growth-stall.ts fill`; `fill-users` gives each session a user of its own), its sessions expired by `sweep()` on a jumped clock and RSS read after 0.5 s of a trickle of new sessions (`expire`), managers dropped without `close()` on each engine with no `gc()` (`bench/dropped-managers.ts`), and mark-compacts counted while one manager grows (`bench/external-gc.ts`); each in processes of its own.',
    '',
    '| goal | measured |',
    '|---|---|',
    ...rows,
  ].join('\n')
}
