/**
 * Issue 17, item 6: every chart renders, and no text is cut. Each SVG (the committed ones in
 * bench/results/ and a report written from synthetic figures with long labels) is rendered with
 * resvg, and each of its text elements is measured on its own, as drawn in the chart's font
 * (DejaVu Sans here, the usual sans-serif on Linux and the widest of the fallbacks): every one
 * must lie inside the canvas and overlap no other.
 */
import { Resvg } from '@resvg/resvg-js'
import test from 'ava'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeReport } from '../bench/report/index'
import type { BenchResults } from '../bench/results-schema'

const RESULTS = join(__dirname, '..', 'bench', 'results')
const FONT = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }

interface Box { text: string; x: number; y: number; width: number; height: number }

function measureTexts(svg: string): { width: number; height: number; boxes: Box[] } {
  const root = /<svg ([^>]*)>/.exec(svg)
  if (root === null) throw new Error('no <svg> element')
  const width = Number(/width="([\d.]+)"/.exec(root[1])?.[1])
  const height = Number(/height="([\d.]+)"/.exec(root[1])?.[1])
  const boxes: Box[] = []
  for (const match of svg.matchAll(/<text [^>]*>[^<]*<\/text>/g)) {
    const alone = `<svg ${root[1]}>${match[0]}</svg>`
    const box = new Resvg(alone, { font: FONT }).getBBox()
    const content = />([^<]*)</.exec(match[0])?.[1] ?? ''
    if (box === undefined) {
      if (content.trim() !== '') throw new Error(`text "${content}" drew nothing`)
      continue
    }
    boxes.push({ text: content, x: box.x, y: box.y, width: box.width, height: box.height })
  }
  return { width, height, boxes }
}

function checkChart(t: import('ava').ExecutionContext, name: string, svg: string): void {
  const png = new Resvg(svg, { font: FONT }).render().asPng()
  t.true(png.length > 1000, `${name} renders`)
  const { width, height, boxes } = measureTexts(svg)
  t.true(boxes.length > 3, `${name} has text`)
  for (const box of boxes) {
    t.true(box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height,
      `${name}: "${box.text}" is cut: ${box.x.toFixed(1)}..${(box.x + box.width).toFixed(1)} × ${box.y.toFixed(1)}..${(box.y + box.height).toFixed(1)} in ${width} × ${height}`)
  }
  for (const [index, a] of boxes.entries()) {
    for (const b of boxes.slice(index + 1)) {
      const overlap = a.x < b.x + b.width - 1 && b.x < a.x + a.width - 1 && a.y < b.y + b.height - 1 && b.y < a.y + a.height - 1
      t.false(overlap, `${name}: "${a.text}" overlaps "${b.text}"`)
    }
  }
  t.notRegex(svg, />-\d[\d.]* B</, `${name} prints no negative size`)
}

const committed = readdirSync(RESULTS).filter((file) => file.endsWith('.svg'))

test('the committed charts include full-GC pauses, RSS per session and HTTP p99', (t) => {
  for (const file of ['throughput.svg', 'heap-per-session.svg', 'expiry-block.svg', 'http.svg', 'full-gc.svg', 'rss-per-session.svg', 'http-p99.svg']) {
    t.true(committed.includes(file), file)
  }
})

for (const file of committed) {
  test(`bench/results/${file} renders with no text cut or overlapping`, (t) => {
    checkChart(t, file, readFileSync(join(RESULTS, file), 'utf8'))
  })
}

test('charts of the committed results, re-rendered with labels twice as long, cut nothing either', (t) => {
  const results = JSON.parse(readFileSync(join(RESULTS, '2026-11-23.json'), 'utf8')) as BenchResults
  const long = {
    ...results,
    http: results.http.map((figures) => ({ ...figures, label: `${figures.label} behind a proxy, WWW` })),
    stores: results.stores.map((figures) => ({ ...figures, heapBytesPerSession: figures.store === 'native' ? -0.2 : figures.heapBytesPerSession })),
  }
  const dir = mkdtempSync(join(tmpdir(), 'sk-charts-'))
  try {
    const written = writeReport(long, dir).filter((path) => path.endsWith('.svg'))
    t.is(written.length, 7)
    for (const path of written) checkChart(t, path.slice(dir.length + 1), readFileSync(path, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
