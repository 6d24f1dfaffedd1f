/** How the report prints numbers, so tables, targets and charts read the same. */

const SUPERSCRIPT_DIGITS = '⁰¹²³⁴⁵⁶⁷⁸⁹'

/** Three significant digits with a k/M/G suffix: 812k, 1.23M. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  for (const [factor, suffix] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    // Rounding decides the suffix, so 999,999 prints as 1.00M rather than 1.00e+3k.
    const scaled = Math.abs(value) / factor
    if (Number(scaled.toPrecision(3)) >= 1) return `${value < 0 ? '-' : ''}${scaled.toPrecision(3)}${suffix}`
  }
  return String(Math.round(value))
}

export function formatInteger(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en') : String(value)
}

/** Milliseconds: two decimals below 10 ms, where event-loop figures live. */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  const magnitude = Math.abs(value)
  if (magnitude < 10) return value.toFixed(2)
  if (magnitude < 100) return value.toFixed(1)
  return formatInteger(value)
}

/** Bytes per session: one decimal while small, since the native engine's figure is near zero. */
export function formatBytes(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (Math.abs(value) >= 100) return formatInteger(value)
  // Heap growth per session is a difference of two readings and can come out a hair below 0:
  // that is no growth measured, printed as such rather than as a negative size.
  if (value < 0.05) return '~0'
  return value.toFixed(1)
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a'
}

/** Session counts: powers of ten as 10⁶, anything else with thousands separators. */
export function formatSize(size: number): string {
  const exponent = Math.round(Math.log10(size))
  if (size >= 1000 && 10 ** exponent === size) {
    const superscript = [...String(exponent)].map((digit) => SUPERSCRIPT_DIGITS[Number(digit)]).join('')
    return `10${superscript}`
  }
  return formatInteger(size)
}
