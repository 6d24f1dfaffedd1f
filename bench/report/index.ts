/** Turns one results file into bench/results/latest.md and its charts. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchResults } from '../results-schema'
import { expiryBlockChart, fullGcChart, heapChart, httpChart, httpP99Chart, rssChart, throughputChart } from './charts'
import { renderMarkdown } from './markdown'

export { evaluateTargets } from './targets'
export { renderMarkdown } from './markdown'

/** Writes the Markdown report and every chart the results have figures for; returns their paths. */
export function writeReport(results: BenchResults, dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  const files: [string, string | undefined][] = [
    ['latest.md', renderMarkdown(results)],
    ['throughput.svg', throughputChart(results)],
    ['heap-per-session.svg', heapChart(results)],
    ['expiry-block.svg', expiryBlockChart(results)],
    ['http.svg', httpChart(results)],
    ['full-gc.svg', fullGcChart(results)],
    ['rss-per-session.svg', rssChart(results)],
    ['http-p99.svg', httpP99Chart(results)],
  ]
  const written: string[] = []
  for (const [name, content] of files) {
    if (content === undefined) continue
    const path = join(dir, name)
    writeFileSync(path, content)
    written.push(path)
  }
  return written
}
