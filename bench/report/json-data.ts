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
  const head = ['engine', 'closeUser median µs', 'p99 µs', 'create({ user, data }) + close ns', 'index ns', 'index share', 'get, user ns', 'get, anonymous ns']
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [
    '## Per-user index',
    '',
    `${formatSize(first.sessions)} live sessions, a tenth of them users' sessions (${first.perUser} per user). \`closeUser\` of a user with ${first.perUser} sessions, each call timed alone (goal ≤ 50 µs); what the index adds to a create with a user (its own work per session, filing and dropping, against the whole create with ~200 bytes of data and close, alternating runs; goal ≤ 5%); renewing \`get\` of users' sessions against anonymous ones, alternating runs (the index is not on the get path).`,
    '',
    line(head),
    `|---|${head.slice(1).map(() => '---:').join('|')}|`,
    ...figures.map((entry) => line([
      STORE_LABELS[entry.store],
      entry.closeUserUs.toFixed(1),
      entry.closeUserP99Us.toFixed(1),
      ns(entry.createWithUserNs),
      ns(entry.indexNs),
      `${((entry.indexNs / entry.createWithUserNs) * 100).toFixed(1)}%`,
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
