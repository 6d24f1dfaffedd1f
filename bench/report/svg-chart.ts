/**
 * A horizontal bar chart as a self-contained SVG string, with no dependencies, so the report can
 * be rendered anywhere the benchmark runs. Drawn on its own white background: GitHub shows SVGs
 * as images, so a transparent chart would put dark text on a dark page in dark mode.
 */

export interface BarChartRow {
  label: string
  /** One value per series; null where this row was not measured. */
  values: readonly (number | null)[]
  /** Drawn in the highlight colours: this package's own stores. */
  highlight?: boolean
}

export interface BarChartOptions {
  title: string
  /** A smaller line under the title: unit, size, which way is better. */
  subtitle?: string
  rows: readonly BarChartRow[]
  /** Names of the series when rows hold more than one value each; shown as a legend. */
  series?: readonly string[]
  /** Legend text for highlighted rows and for the rest. */
  highlightName?: string
  otherName?: string
  /** For values spanning orders of magnitude; non-positive values then draw no bar. */
  logScale?: boolean
  formatValue?: (value: number) => string
  width?: number
}

const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'
const TEXT = '#1f2328'
const MUTED = '#59636e'
const GRID = '#d1d9e0'
/** Shades per series index: orange for highlighted rows, blue for the rest. */
const HIGHLIGHT_COLOURS = ['#bc4c00', '#f0883e', '#ffb77c']
const OTHER_COLOURS = ['#0969da', '#4493f8', '#9ecbff']

const PADDING = 16
const BAR_HEIGHT = 18
const BAR_GAP = 3
const ROW_GAP = 12
const MAX_LABEL_CHARS = 48

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[char]};`)
}

export function renderBarChart(options: BarChartOptions): string {
  const width = options.width ?? 820
  const seriesCount = Math.max(1, options.series?.length ?? 1, ...options.rows.map((row) => row.values.length))
  const formatValue = options.formatValue ?? defaultFormat
  const values = options.rows.flatMap((row) => row.values).filter((value): value is number => value !== null && Number.isFinite(value))
  const scale = options.logScale ? logScale(values) ?? linearScale(values) : linearScale(values)

  const labels = options.rows.map((row) => truncate(row.label, MAX_LABEL_CHARS))
  const labelWidth = Math.max(60, ...options.rows.map((row, index) => textWidth(labels[index], 13, row.highlight === true))) + 12
  const valueTexts = options.rows.map((row) => row.values.map((value) => value === null ? 'not measured' : formatValue(value)))
  const valueWidth = Math.max(40, ...valueTexts.flat().map((text) => textWidth(text, 12, false))) + 10
  const plotLeft = PADDING + labelWidth
  const plotWidth = Math.max(120, width - plotLeft - valueWidth - PADDING)

  const parts: string[] = []
  let y = PADDING + 16
  parts.push(text(PADDING, y, options.title, { size: 16, weight: 'bold' }))
  if (options.subtitle) {
    y += 20
    parts.push(text(PADDING, y, options.subtitle, { size: 12, fill: MUTED }))
  }
  const legend = legendItems(options, seriesCount)
  if (legend.length > 0) {
    y += 22
    parts.push(renderLegend(legend, PADDING, y))
  }

  const plotTop = y + 16
  const groupHeight = seriesCount * BAR_HEIGHT + (seriesCount - 1) * BAR_GAP
  const plotHeight = options.rows.length * (groupHeight + ROW_GAP) + ROW_GAP / 2
  for (const tick of scale.ticks) {
    const x = plotLeft + scale.position(tick) * plotWidth
    parts.push(`<line x1="${r(x)}" y1="${r(plotTop)}" x2="${r(x)}" y2="${r(plotTop + plotHeight)}" stroke="${GRID}" stroke-width="1"/>`)
    parts.push(text(x, plotTop + plotHeight + 14, scale.label(tick), { size: 11, fill: MUTED, anchor: 'middle' }))
  }

  options.rows.forEach((row, rowIndex) => {
    const groupTop = plotTop + ROW_GAP / 2 + rowIndex * (groupHeight + ROW_GAP)
    const labelStyle = row.highlight ? { size: 13, weight: 'bold', fill: HIGHLIGHT_COLOURS[0] } : { size: 13 }
    parts.push(text(plotLeft - 10, groupTop + groupHeight / 2 + 4.5, labels[rowIndex], { ...labelStyle, anchor: 'end' }))
    for (let seriesIndex = 0; seriesIndex < seriesCount; seriesIndex++) {
      const value = row.values[seriesIndex] ?? null
      const barTop = groupTop + seriesIndex * (BAR_HEIGHT + BAR_GAP)
      const textY = barTop + BAR_HEIGHT / 2 + 4
      if (value === null) {
        parts.push(text(plotLeft + 6, textY, 'not measured', { size: 12, fill: MUTED, italic: true }))
        continue
      }
      const barLength = Math.max(0, Math.min(1, scale.position(value))) * plotWidth
      const colour = (row.highlight ? HIGHLIGHT_COLOURS : OTHER_COLOURS)[seriesIndex % HIGHLIGHT_COLOURS.length]
      const barTitle = `${row.label}${options.series?.[seriesIndex] ? ` (${options.series[seriesIndex]})` : ''}: ${valueTexts[rowIndex][seriesIndex]}`
      parts.push(`<rect x="${r(plotLeft)}" y="${r(barTop)}" width="${r(barLength)}" height="${BAR_HEIGHT}" fill="${colour}"><title>${escapeXml(barTitle)}</title></rect>`)
      parts.push(text(plotLeft + barLength + 5, textY, valueTexts[rowIndex][seriesIndex], { size: 12 }))
    }
  })
  parts.push(`<line x1="${r(plotLeft)}" y1="${r(plotTop)}" x2="${r(plotLeft)}" y2="${r(plotTop + plotHeight)}" stroke="${MUTED}" stroke-width="1"/>`)

  const height = Math.ceil(plotTop + plotHeight + 22 + PADDING)
  // A title, subtitle or legend longer than the width widens the chart rather than run off it.
  const headWidth = Math.max(
    textWidth(options.title, 16, true),
    options.subtitle ? textWidth(options.subtitle, 12, false) : 0,
    legendWidth(legend),
  ) + 2 * PADDING
  if (headWidth > width) return renderBarChart({ ...options, width: Math.ceil(headWidth) })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="${FONT}">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n')
}

interface Scale {
  /** Where a value falls along the plot, 0 at its left edge and 1 at its right. */
  position(value: number): number
  ticks: number[]
  label(tick: number): string
}

function linearScale(values: readonly number[]): Scale {
  const max = Math.max(0, ...values)
  const step = niceStep((max > 0 ? max : 1) / 5)
  const top = Math.max(step, Math.ceil(max / step) * step)
  const ticks: number[] = []
  for (let index = 0; index * step <= top * (1 + 1e-9); index++) ticks.push(index * step)
  return { position: (value) => value / top, ticks, label: defaultFormat }
}

function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough))
  const fraction = rough / magnitude
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
}

/** Decade gridlines from the decade below the smallest value, so even the smallest bar shows. */
function logScale(values: readonly number[]): Scale | undefined {
  const positive = values.filter((value) => value > 0)
  if (positive.length === 0) return undefined
  const low = Math.ceil(Math.log10(Math.min(...positive))) - 1
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(...positive))))
  const ticks: number[] = []
  for (let exponent = low; exponent <= high; exponent++) ticks.push(10 ** exponent)
  return {
    position: (value) => value > 0 ? (Math.log10(value) - low) / (high - low) : 0,
    ticks,
    label: defaultFormat,
  }
}

/** Compact axis and value text: 0.01, 2.5, 812k, 1.2M. */
function defaultFormat(value: number): string {
  const magnitude = Math.abs(value)
  for (const [factor, suffix] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (magnitude >= factor) return `${Number((value / factor).toPrecision(3))}${suffix}`
  }
  return String(Number(value.toPrecision(3)))
}

interface LegendItem {
  colours: string[]
  label: string
}

/** Series are told apart by shade, highlighted rows by hue, so a series' swatch shows both hues. */
function legendItems(options: BarChartOptions, seriesCount: number): LegendItem[] {
  const hasHighlighted = options.rows.some((row) => row.highlight)
  const hasOthers = options.rows.some((row) => !row.highlight)
  const huesOf = (index: number) => [
    ...(hasHighlighted ? [HIGHLIGHT_COLOURS[index % HIGHLIGHT_COLOURS.length]] : []),
    ...(hasOthers ? [OTHER_COLOURS[index % OTHER_COLOURS.length]] : []),
  ]
  if (seriesCount > 1) {
    const items = Array.from({ length: seriesCount }, (_, index) => ({ colours: huesOf(index), label: options.series?.[index] ?? `series ${index + 1}` }))
    if (hasHighlighted && hasOthers) items.push({ colours: [], label: `orange: ${options.highlightName ?? 'highlighted'}, blue: ${options.otherName ?? 'others'}` })
    return items
  }
  if (!hasHighlighted) return []
  return [
    { colours: [HIGHLIGHT_COLOURS[0]], label: options.highlightName ?? 'highlighted' },
    ...(hasOthers ? [{ colours: [OTHER_COLOURS[0]], label: options.otherName ?? 'others' }] : []),
  ]
}

function renderLegend(items: readonly LegendItem[], left: number, baseline: number): string {
  const parts: string[] = []
  let x = left
  for (const item of items) {
    for (const colour of item.colours) {
      parts.push(`<rect x="${r(x)}" y="${r(baseline - 10)}" width="12" height="12" fill="${colour}"/>`)
      x += 14
    }
    x += item.colours.length > 0 ? 4 : 0
    parts.push(text(x, baseline, item.label, { size: 12 }))
    x += textWidth(item.label, 12, false) + 18
  }
  return `<g>${parts.join('')}</g>`
}

function legendWidth(items: readonly LegendItem[]): number {
  return items.reduce((sum, item) => sum + item.colours.length * 14 + (item.colours.length > 0 ? 4 : 0) + textWidth(item.label, 12, false) + 18, 0)
}

/**
 * The width `content` takes at `size` px, estimated per character from DejaVu Sans, the widest
 * of the fonts the chart's font-family falls back to (Linux's usual sans-serif): too wide a
 * guess leaves some white space on other systems, too narrow a one cut labels at the edge.
 * __test__/bench-charts.spec.ts renders every chart and measures its text.
 */
export function textWidth(content: string, size: number, bold: boolean): number {
  let ems = 0
  for (const char of content) ems += charEms(char)
  return ems * size * (bold ? 1.13 : 1) * 1.04
}

function charEms(char: string): number {
  if (/[ijl.,:;'!|\s]/.test(char)) return 0.33
  if (/[ftr()[\]\-/]/.test(char)) return 0.42
  if (/[mwMW%]/.test(char)) return 0.98
  if (/[A-Z]/.test(char)) return 0.74
  if (/[0-9]/.test(char)) return 0.64
  if (/[a-z]/.test(char)) return 0.62
  if (/[+=<>×~^]/.test(char)) return 0.84
  return 0.75
}

interface TextStyle {
  size: number
  weight?: string
  fill?: string
  anchor?: 'start' | 'middle' | 'end'
  italic?: boolean
}

function text(x: number, y: number, content: string, style: TextStyle): string {
  const attributes = [
    `x="${r(x)}"`,
    `y="${r(y)}"`,
    `font-size="${style.size}"`,
    `fill="${style.fill ?? TEXT}"`,
    ...(style.weight ? [`font-weight="${style.weight}"`] : []),
    ...(style.anchor && style.anchor !== 'start' ? [`text-anchor="${style.anchor}"`] : []),
    ...(style.italic ? ['font-style="italic"'] : []),
  ]
  return `<text ${attributes.join(' ')}>${escapeXml(content)}</text>`
}

function truncate(label: string, maxChars: number): string {
  return label.length <= maxChars ? label : `${label.slice(0, maxChars - 1)}…`
}

/** Coordinates to a tenth of a pixel keep the file small and diffs quiet. */
function r(value: number): string {
  return String(Math.round(value * 10) / 10)
}
