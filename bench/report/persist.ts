/**
 * The report's section on persistence (bench/persist.ts) and the goals of issue 13: each goal,
 * the figure measured on each engine, and met or missed.
 */
import { STORE_LABELS, type BenchResults, type PersistFigures, type Target } from '../results-schema'
import { formatMs, formatSize } from './format'

type Figures = Omit<BenchResults, 'targets'>

const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)}%`


interface Goal {
  name: string
  measured: (f: PersistFigures) => string
  met: (f: PersistFigures) => boolean
}

const GOALS: readonly Goal[] = [
  {
    name: "create/s with persist ('everysec') ≥ 60% of without",
    measured: (f) => `${percent(f.createPerSecPersist, f.createPerSecPlain)} (${Math.round(f.createPerSecPersist).toLocaleString('en')} vs ${Math.round(f.createPerSecPlain).toLocaleString('en')}/s)`,
    met: (f) => f.createPerSecPersist >= 0.6 * f.createPerSecPlain,
  },
  {
    name: 'get-and-renew/s with persist ≥ 80% of without',
    measured: (f) => `${percent(f.getPerSecPersist, f.getPerSecPlain)} (${Math.round(f.getPerSecPersist).toLocaleString('en')} vs ${Math.round(f.getPerSecPlain).toLocaleString('en')}/s)`,
    met: (f) => f.getPerSecPersist >= 0.8 * f.getPerSecPlain,
  },
  {
    name: 'load at construction ≤ 1 s',
    measured: (f) => `${formatMs(f.loadMs)} ms (${formatMs(f.loadCpuMs)} ms CPU) for ${formatSize(f.loaded)} sessions`,
    met: (f) => f.loadMs <= 1000,
  },
  {
    name: 'file after compaction ≤ 1.5x the data + 64 B per session',
    measured: (f) => `${f.fileBytesPerSession.toFixed(0)} B after close() (its compacted snapshot; limit ${(1.5 * f.dataBytesPerSession + 64).toFixed(0)} B for ${f.dataBytesPerSession.toFixed(0)} B of data)`,
    met: (f) => f.fileBytesPerSession <= 1.5 * f.dataBytesPerSession + 64,
  },
  {
    name: 'longest event-loop block during a background compaction ≤ 5 ms',
    measured: (f) => f.compactionMs === null
      ? `no compaction (a file under 1 MiB is never compacted); ${formatMs(f.compactionMaxBlockMs)} ms while destroying`
      : `${formatMs(f.compactionMaxBlockMs)} ms (the same destroys without persist: ${formatMs(f.baselineMaxBlockMs)} ms${f.compactionLongestStepMs === undefined ? '' : `; the compaction's own longest step: ${formatMs(f.compactionLongestStepMs)} ms`}${laterCompaction(f)})`,
    met: (f) => f.compactionMs !== null && f.compactionMaxBlockMs <= 5,
  },
]

/** A later compaction's block in the same process, beside the first's (the goal's). */
function laterCompaction(f: PersistFigures): string {
  if (f.laterCompactionMaxBlockMs === undefined || f.laterCompactionMs === null || f.laterCompactionMs === undefined) return ''
  return `; a later compaction in the same process: ${formatMs(f.laterCompactionMaxBlockMs)} ms, the same destroys without persist ${formatMs(f.laterBaselineMaxBlockMs ?? NaN)} ms`
}

/** Each goal on each engine measured, as targets of the run. */
export function persistTargets(results: Figures): Target[] {
  return (results.persist ?? []).flatMap((f) => GOALS.map((goal) => ({
    name: `${STORE_LABELS[f.store]}: ${goal.name}`,
    measured: `${goal.measured(f)} at ${formatSize(f.sessions)} sessions`,
    met: goal.met(f),
  })))
}

export function persistSection(results: BenchResults): string {
  const figures = results.persist ?? []
  if (figures.length === 0) return ''
  const first = figures[0]
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  const head = ['goal', ...figures.map((f) => STORE_LABELS[f.store])]
  const rows = GOALS.map((goal) => line([goal.name, ...figures.map((f) => `${goal.met(f) ? 'met' : '**missed**'}: ${goal.measured(f)}`)]))
  const reported = [
    line(["one create under fsync 'always' (waits for fdatasync)", ...figures.map((f) => `${formatMs(f.alwaysCreateMs)} ms`)]),
    line(["longest change → fdatasync lag under 'everysec'", ...figures.map((f) => `${formatMs(f.fsyncLagMaxMs)} ms`)]),
    line(['file right after the later background compaction, with the destroys made during it, per session', ...figures.map((f) => f.compactionMs === null ? 'none' : `${f.compactedBytesPerSession.toFixed(0)} B`)]),
    line(['compaction after destroying 60%, start to end', ...figures.map((f) => f.compactionMs === null ? 'none' : `${formatMs(f.compactionMs)} ms`)]),
  ]
  return [
    '## Persistence',
    '',
    `${formatSize(first.sessions)} sessions of ~${first.dataBytesPerSession.toFixed(0)} B of data, \`persist: { path, fsync: 'everysec' }\` against no persistence, each in a process of its own (\`npm run bench:persist\` prints the same). The load is of the file close() saved with every session; the compaction's block is read while 60% of the sessions are destroyed in small chunks after that load, and the same destroys without persistence show the machine's own noise; then again for a later compaction in the same process (60% of the rest destroyed), whose code V8 has compiled by then.`,
    '',
    line(head),
    `|---|${head.slice(1).map(() => '---').join('|')}|`,
    ...rows,
    ...reported,
  ].join('\n')
}
