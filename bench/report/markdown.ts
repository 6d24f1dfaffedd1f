/** One run's results as the Markdown page bench/results/latest.md. */
import { STORE_KINDS, STORE_LABELS, type BenchResults, type MassExpiry, type StoreFigures } from '../results-schema'
import { formatBytes, formatCount, formatInteger, formatMs, formatSize } from './format'
import { jsonDataSection, usersSection } from './json-data'
import { growthSection } from './growth'
import { persistSection } from './persist'
import { REFERENCE_SIZE } from './sizes'

export function renderMarkdown(results: BenchResults): string {
  const sections = [
    header(results),
    ...storeSizes(results).map((size) => sizeSection(results, size)),
    servingSection(results),
    massExpirySection(results),
    wheelSection(results),
    jsonDataSection(results),
    usersSection(results),
    persistSection(results),
    growthSection(results),
    httpSection(results),
    targetsSection(results),
    notesSection(results),
    packagesLine(results),
  ]
  return `${sections.filter((section) => section !== '').join('\n\n')}\n`
}

function header(results: BenchResults): string {
  const { machine } = results
  return [
    '# sessionkeeper benchmark',
    '',
    `${results.date} · profile **${results.profile}** · ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} ${machine.arch} · Node ${results.node}`,
  ].join('\n')
}

function table(head: readonly string[], rows: readonly (readonly string[])[], align: readonly ('l' | 'r')[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`
  return [line(head), `|${align.map((side) => side === 'r' ? '---:' : '---').join('|')}|`, ...rows.map(line)].join('\n')
}

/** Store notes and mechanisms are free text: a pipe or newline would break the table. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

function storeSizes(results: BenchResults): number[] {
  return [...new Set(results.stores.map((figures) => figures.size))].sort((a, b) => a - b)
}

/** Stores in the order STORE_KINDS lists them, whatever order the run wrote them in. */
function inStoreOrder(figures: readonly StoreFigures[]): StoreFigures[] {
  return [...figures].sort((a, b) => STORE_KINDS.indexOf(a.store) - STORE_KINDS.indexOf(b.store))
}

function sizeSection(results: BenchResults, size: number): string {
  const rows = inStoreOrder(results.stores.filter((figures) => figures.size === size)).map((figures) => [
    STORE_LABELS[figures.store],
    formatCount(figures.createOpsPerSec),
    formatCount(figures.getOpsPerSec),
    formatCount(figures.destroyOpsPerSec),
    formatBytes(figures.heapBytesPerSession),
    formatBytes(figures.rssBytesPerSession),
    formatMs(figures.fullGcMs),
  ])
  const runs = [...new Set(results.stores.filter((figures) => figures.size === size).map((figures) => figures.runs))].join('/')
  const floor = results.floor.find((candidate) => candidate.size === size)
  return [
    `## ${formatSize(size)} live sessions`,
    '',
    `Operations per second (median of ${runs} runs; get-and-renew visits the sessions in a random order of its own in each run), memory after two full GCs with every session live.`,
    '',
    table(
      ['store', 'create', 'get-and-renew', 'destroy', 'heap B/session', 'RSS B/session', 'full GC ms'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    ...(floor ? ['', `Floor (a bare binding call copying a fresh id): ${formatCount(floor.opsPerSec)} ops/s.`] : []),
  ].join('\n')
}

function servingSection(results: BenchResults): string {
  const serving = inStoreOrder(results.stores).flatMap((figures) => figures.serving ? [{ store: figures.store, serving: figures.serving }] : [])
  if (serving.length === 0) return ''
  return [
    '## Serving',
    '',
    'get-and-renew in event-loop-friendly batches; event-loop delay from `monitorEventLoopDelay`.',
    '',
    table(
      ['store', 'sessions', 'event-loop p99 ms', 'event-loop max ms', 'ops/s', 'duration s'],
      serving.map(({ store, serving: figures }) => [
        STORE_LABELS[store],
        formatSize(figures.sessions),
        formatMs(figures.eventLoopDelayP99Ms),
        formatMs(figures.eventLoopDelayMaxMs),
        formatCount(figures.opsPerSec),
        (figures.durationMs / 1000).toFixed(1),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
  ].join('\n')
}

function massExpirySection(results: BenchResults): string {
  const expiries = inStoreOrder(results.stores).flatMap((figures) => figures.massExpiry ? [{ store: figures.store, expiry: figures.massExpiry }] : [])
  if (expiries.length === 0) return ''
  return [
    '## Mass expiry',
    '',
    'Every session due at once: how long until the store holds none of them, and the longest event-loop block meanwhile.',
    '',
    table(
      ['store', 'sessions', 'all gone ms', 'longest block ms', 'mechanism'],
      expiries.map(({ store, expiry }) => [
        STORE_LABELS[store],
        formatSize(expiry.sessions),
        allGone(expiry),
        formatMs(expiry.longestBlockMs),
        expiry.mechanism,
      ]),
      ['l', 'r', 'r', 'r', 'l'],
    ),
  ].join('\n')
}

function wheelSection(results: BenchResults): string {
  const wheel = results.wheel ?? []
  if (wheel.length === 0) return ''
  return [
    '## Per-session timeouts (the deadline wheel)',
    '',
    'Sessions that each have their own idle timeout against the same number sharing one, all due at once and expired by the manager\'s background timer; and `session.idleTimeout = value` among live sessions.',
    '',
    table(
      ['engine', 'sessions', 'distinct: all gone ms', 'distinct: longest block ms', 'shared: all gone ms', 'shared: longest block ms', 'setter ns', 'setter at sessions'],
      wheel.map((figures) => [
        STORE_LABELS[figures.store],
        formatSize(figures.distinct.sessions),
        allGone(figures.distinct),
        formatMs(figures.distinct.longestBlockMs),
        allGone(figures.shared),
        formatMs(figures.shared.longestBlockMs),
        formatCount(figures.setterNs),
        formatSize(figures.setterSessions),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  ].join('\n')
}

function allGone(expiry: MassExpiry): string {
  return expiry.allGoneMs === null ? `never (${expiry.mechanism})` : formatMs(expiry.allGoneMs)
}

function httpSection(results: BenchResults): string {
  if (results.http.length === 0) return ''
  const failing = results.http.filter((figures) => figures.errors > 0 || figures.non2xx > 0)
  return [
    '## HTTP',
    '',
    table(
      ['server', 'req/s', 'p50 ms', 'p99 ms', 'sessions', 'duration s', 'connections'],
      results.http.map((figures) => [
        figures.label,
        formatCount(figures.requestsPerSec),
        formatMs(figures.latencyP50Ms),
        formatMs(figures.latencyP99Ms),
        formatSize(figures.sessions),
        String(figures.durationSeconds),
        String(figures.connections),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    // A server that answered with errors may look fast for the wrong reason.
    ...failing.map((figures) => `\n⚠️ ${figures.label}: ${formatInteger(figures.errors)} errors, ${formatInteger(figures.non2xx)} non-2xx responses.`),
  ].join('\n')
}

function targetsSection(results: BenchResults): string {
  if (results.targets.length === 0) return ''
  const met = results.targets.filter((target) => target.met).length
  return [
    '## Targets',
    '',
    `${met} of ${results.targets.length} met, read at ${formatSize(REFERENCE_SIZE)} sessions unless the measurement names another size.`,
    '',
    table(
      ['target', 'measured', 'met'],
      results.targets.map((target) => [target.name, target.measured, target.met ? '✅' : '❌']),
      ['l', 'l', 'l'],
    ),
  ].join('\n')
}

function notesSection(results: BenchResults): string {
  const blocks = STORE_KINDS.flatMap((store) => {
    const notes = [...new Set(results.stores.filter((figures) => figures.store === store).flatMap((figures) => figures.notes))]
    return notes.length > 0 ? [[`**${STORE_LABELS[store]}**`, ...notes.map((note) => `- ${note.replace(/\r?\n/g, ' ')}`)].join('\n')] : []
  })
  return blocks.length > 0 ? ['## Notes', '', blocks.join('\n\n')].join('\n') : ''
}

function packagesLine(results: BenchResults): string {
  const packages = Object.entries(results.packages).map(([name, version]) => `${name} ${version}`)
  return packages.length > 0 ? `Packages: ${packages.join(', ')}.` : ''
}
