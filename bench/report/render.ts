/**
 * Re-renders a results file: node --import tsx bench/report/render.ts <results.json> [outDir]
 * Writes latest.md and the charts (into the file's directory unless outDir is given) and prints
 * the Markdown. Targets stored in the file are kept; a file without any gets them evaluated.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { BenchResults } from '../results-schema'
import { evaluateTargets, renderMarkdown, writeReport } from './index'

const [file, outDir] = process.argv.slice(2)
if (!file) {
  console.error('usage: node --import tsx bench/report/render.ts <results.json> [outDir]')
  process.exit(2)
}

const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults
if (results.schema !== 1) {
  console.error(`${file}: results schema ${String(results.schema)} is not 1`)
  process.exit(1)
}
if (!Array.isArray(results.targets) || results.targets.length === 0) results.targets = evaluateTargets(results)

const written = writeReport(results, resolve(outDir ?? dirname(file)))
process.stdout.write(renderMarkdown(results))
console.error(`wrote ${written.join(', ')}`)
