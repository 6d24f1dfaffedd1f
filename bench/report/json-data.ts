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

function table(rows: string[][]): string {
  const head = ['engine', 'get string', 'get object', 'JSON per get', 'set string', 'set object', 'JSON per set']
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(head), `|---|${head.slice(1).map(() => '---:').join('|')}|`, ...rows.map(line)].join('\n')
}
