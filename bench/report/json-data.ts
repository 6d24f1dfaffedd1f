/** The report's section on the cost of JSON session data (bench/json-data.ts). */
import { STORE_LABELS, type BenchResults } from '../results-schema'
import { formatSize } from './format'

const ns = (value: number) => value.toFixed(0)

export function jsonDataSection(results: BenchResults): string {
  const figures = results.jsonData ?? []
  if (figures.length === 0) return ''
  const first = figures[0]
  return [
    '## JSON session data',
    '',
    `Median ns per call, \`session.get(key)\` and \`session.set(key, value)\`, of a string value (stored as itself) and of an object of five fields (stored as JSON text; ${first.valueBytes} bytes, the string is as long), on ${formatSize(first.sessions)} sessions with ~200 bytes of string data each, ${formatSize(first.calls)} calls per run.`,
    '',
    table(figures.map((entry) => [
      STORE_LABELS[entry.store],
      ns(entry.getStringNs),
      ns(entry.getJsonNs),
      `+${ns(entry.getJsonNs - entry.getStringNs)}`,
      ns(entry.setStringNs),
      ns(entry.setJsonNs),
      `+${ns(entry.setJsonNs - entry.setStringNs)}`,
    ])),
  ].join('\n')
}

/** The report's section on the per-user index (bench/users.ts). */
export function usersSection(results: BenchResults): string {
  const figures = results.users ?? []
  if (figures.length === 0) return ''
  const first = figures[0]
  const share = (value: number | undefined) => value === undefined ? 'n/a' : `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`
  const head = ['engine', 'closeUser median µs', 'p99 µs', 'create + close at once: with / without index ns', 'index', 'kept, then closed: with / without ns', 'index', 'the same, users of 1 session', 'index', 'get, user ns', 'get, anonymous ns']
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [
    '## Per-user index',
    '',
    `${formatSize(first.sessions)} live sessions, a tenth of them users' sessions (${first.perUser} per user). \`closeUser\` of a user with ${first.perUser} sessions, each call timed alone (goal ≤ 50 µs). What the index adds to a \`create({ user, data })\` (~200 bytes of data) and its \`close()\` (goal ≤ 5%, in the Targets table): runs with the index against runs with its methods made no-ops, alternating, ${first.abPairs ?? 'n/a'} pairs, ns of ${first.abClock ?? 'wall'} time per create and close (medians) and the median of the pairs' ratios; closed at once, and kept while the rest of a batch of creates is made, then closed oldest first (sessions that outlive each other, as real ones do); and the same with each session its user's only one (most users have one or two sessions; the table's users have ${first.perUser}). Renewing \`get\` of users' sessions against anonymous ones, alternating runs (the index is not on the get path).`,
    '',
    line(head),
    `|---|${head.slice(1).map(() => '---:').join('|')}|`,
    ...figures.map((entry) => line([
      STORE_LABELS[entry.store],
      entry.closeUserUs.toFixed(1),
      entry.closeUserP99Us.toFixed(1),
      `${ns(entry.createWithUserNs)} / ${entry.createWithoutIndexNs === undefined ? 'n/a' : ns(entry.createWithoutIndexNs)}`,
      share(entry.indexShare),
      `${entry.keptWithUserNs === undefined ? 'n/a' : ns(entry.keptWithUserNs)} / ${entry.keptWithoutIndexNs === undefined ? 'n/a' : ns(entry.keptWithoutIndexNs)}`,
      share(entry.keptIndexShare),
      `${entry.freshWithUserNs === undefined ? 'n/a' : ns(entry.freshWithUserNs)} / ${entry.freshWithoutIndexNs === undefined ? 'n/a' : ns(entry.freshWithoutIndexNs)}`,
      share(entry.freshIndexShare),
      ns(entry.getWithUserNs),
      ns(entry.getAnonymousNs),
    ])),
  ].join('\n')
}

function table(rows: string[][]): string {
  const head = ['engine', 'get string', 'get object', 'JSON per get', 'set string', 'set object', 'JSON per set']
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(head), `|---|${head.slice(1).map(() => '---:').join('|')}|`, ...rows.map(line)].join('\n')
}
