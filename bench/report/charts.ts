/** The report's charts, each built from one run's results as an SVG string. */
import type { BenchResults, HttpFigures, HttpServerKind, StoreFigures } from '../results-schema'
import { OWN_STORES, STORE_KINDS, STORE_LABELS } from '../results-schema'
import { formatBytes, formatCount, formatMs, formatSize } from './format'
import { renderBarChart } from './svg-chart'
import { chartSize } from './sizes'

const OWN_NAME = 'sessionkeeper'
const OTHER_NAME = 'other stores'
/** Servers whose sessions this package holds, highlighted like its own stores. */
const OWN_SERVERS: readonly HttpServerKind[] = ['middleware-native', 'middleware-js', 'express-session-sessionkeeper']

function storesAt(results: BenchResults, size: number): StoreFigures[] {
  return results.stores
    .filter((figures) => figures.size === size)
    .sort((a, b) => STORE_KINDS.indexOf(a.store) - STORE_KINDS.indexOf(b.store))
}

function storeSizes(results: BenchResults): number[] {
  return [...new Set(results.stores.map((figures) => figures.size))]
}

/** create, get-and-renew and destroy side by side; undefined when no store was measured. */
export function throughputChart(results: BenchResults): string | undefined {
  const size = chartSize(storeSizes(results))
  if (size === undefined) return undefined
  return renderBarChart({
    title: `Operations per second at ${formatSize(size)} live sessions`,
    subtitle: `${results.profile} profile, Node ${results.node}, ${results.machine.cpuModel} · higher is better`,
    series: ['create', 'get-and-renew', 'destroy'],
    rows: storesAt(results, size).map((figures) => ({
      label: STORE_LABELS[figures.store],
      values: [figures.createOpsPerSec, figures.getOpsPerSec, figures.destroyOpsPerSec],
      highlight: OWN_STORES.includes(figures.store),
    })),
    highlightName: OWN_NAME,
    otherName: OTHER_NAME,
    formatValue: formatCount,
  })
}

export function heapChart(results: BenchResults): string | undefined {
  const size = chartSize(storeSizes(results))
  if (size === undefined) return undefined
  return renderBarChart({
    title: `JS heap bytes per session at ${formatSize(size)} live sessions`,
    subtitle: 'after two full GCs, every session live · lower is better',
    rows: storesAt(results, size).map((figures) => ({
      label: STORE_LABELS[figures.store],
      values: [figures.heapBytesPerSession],
      highlight: OWN_STORES.includes(figures.store),
    })),
    highlightName: OWN_NAME,
    otherName: OTHER_NAME,
    formatValue: (bytes) => `${formatBytes(bytes)} B`,
  })
}

/**
 * Log scale: a store that expires everything in one synchronous sweep blocks for hundreds of ms
 * while an incremental one stays under one, and both must stay readable.
 */
export function expiryBlockChart(results: BenchResults): string | undefined {
  const expiring = results.stores.filter((figures) => figures.massExpiry !== null)
  const size = chartSize([...new Set(expiring.map((figures) => figures.size))])
  if (size === undefined) return undefined
  const rows = storesAt(results, size).flatMap((figures) => figures.massExpiry ? [{ figures, expiry: figures.massExpiry }] : [])
  const counts = [...new Set(rows.map(({ expiry }) => expiry.sessions))]
  return renderBarChart({
    title: counts.length === 1
      ? `Longest event-loop block while ${formatSize(counts[0])} sessions expire at once`
      : 'Longest event-loop block during mass expiry',
    subtitle: 'milliseconds, log scale · lower is better',
    rows: rows.map(({ figures, expiry }) => ({
      label: counts.length === 1 ? STORE_LABELS[figures.store] : `${STORE_LABELS[figures.store]} (${formatSize(expiry.sessions)})`,
      values: [expiry.longestBlockMs],
      highlight: OWN_STORES.includes(figures.store),
    })),
    highlightName: OWN_NAME,
    otherName: OTHER_NAME,
    logScale: true,
    formatValue: (ms) => `${formatMs(ms)} ms`,
  })
}

export function httpChart(results: BenchResults): string | undefined {
  if (results.http.length === 0) return undefined
  const sessions = [...new Set(results.http.map((figures: HttpFigures) => figures.sessions))]
  return renderBarChart({
    title: 'HTTP requests per second',
    subtitle: `${sessions.length === 1 ? `${formatSize(sessions[0])} sessions, ` : ''}${results.http[0].connections} connections · higher is better`,
    rows: results.http.map((figures) => ({
      label: figures.label,
      values: [figures.requestsPerSec],
      highlight: OWN_SERVERS.includes(figures.server),
    })),
    highlightName: OWN_NAME,
    otherName: 'others',
    formatValue: (requests) => `${formatCount(requests)} req/s`,
  })
}

/** Log scale, as pauses run from a few ms (nothing on the JS heap) to seconds. */
export function fullGcChart(results: BenchResults): string | undefined {
  const size = chartSize(storeSizes(results))
  if (size === undefined) return undefined
  return renderBarChart({
    title: `Full-GC pause with ${formatSize(size)} live sessions`,
    subtitle: 'one forced full garbage collection, every session live; milliseconds, log scale · lower is better',
    rows: storesAt(results, size).map((figures) => ({
      label: STORE_LABELS[figures.store],
      values: [figures.fullGcMs],
      highlight: OWN_STORES.includes(figures.store),
    })),
    highlightName: OWN_NAME,
    otherName: OTHER_NAME,
    logScale: true,
    formatValue: (ms) => `${formatMs(ms)} ms`,
  })
}

export function rssChart(results: BenchResults): string | undefined {
  const size = chartSize(storeSizes(results))
  if (size === undefined) return undefined
  return renderBarChart({
    title: `Resident memory (RSS) per session at ${formatSize(size)} live sessions`,
    subtitle: 'bytes: the whole process, JS heap and native memory · lower is better',
    rows: storesAt(results, size).map((figures) => ({
      label: STORE_LABELS[figures.store],
      values: [figures.rssBytesPerSession],
      highlight: OWN_STORES.includes(figures.store),
    })),
    highlightName: OWN_NAME,
    otherName: OTHER_NAME,
    formatValue: (bytes) => `${formatBytes(bytes)} B`,
  })
}

export function httpP99Chart(results: BenchResults): string | undefined {
  if (results.http.length === 0) return undefined
  const sessions = [...new Set(results.http.map((figures: HttpFigures) => figures.sessions))]
  return renderBarChart({
    title: 'HTTP latency, 99th percentile',
    subtitle: `${sessions.length === 1 ? `${formatSize(sessions[0])} sessions, ` : ''}${results.http[0].connections} connections; milliseconds · lower is better`,
    rows: results.http.map((figures) => ({
      label: figures.label,
      values: [figures.latencyP99Ms],
      highlight: OWN_SERVERS.includes(figures.server),
    })),
    highlightName: OWN_NAME,
    otherName: 'others',
    formatValue: (ms) => `${formatMs(ms)} ms`,
  })
}
