/**
 * A reader of the Prometheus text exposition format (version 0.0.4), enough to check what a
 * prom-client registry serves: `# TYPE` lines and samples with labels, values parsed as
 * Prometheus does (NaN, +Inf). Strict: a line it cannot read fails the test.
 */
export interface Exposition {
  types: Map<string, string>
  help: Map<string, string>
  samples: { name: string; labels: Record<string, string>; value: number }[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y

export function parseExposition(text: string): Exposition {
  const exposition: Exposition = { types: new Map(), help: new Map(), samples: [] }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (comment !== null) {
      const [, kind, name, rest] = comment
      const target = kind === 'TYPE' ? exposition.types : exposition.help
      if (target.has(name)) throw new Error(`${kind} twice for ${name}`)
      target.set(name, rest)
      continue
    }
    const sample = SAMPLE.exec(line)
    if (sample === null) throw new Error(`not an exposition line: ${JSON.stringify(line)}`)
    const [, name, labelText = '', valueText] = sample
    const labels: Record<string, string> = {}
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < labelText.length) {
      const label = LABEL.exec(labelText)
      if (label === null) throw new Error(`bad labels in ${JSON.stringify(line)}`)
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    // Prometheus reads values as Go's ParseFloat does: NaN in any case (prom-client writes "Nan").
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : /^nan$/i.test(valueText) ? NaN : Number(valueText)
    if (Number.isNaN(value) && !/^nan$/i.test(valueText)) throw new Error(`bad value in ${JSON.stringify(line)}`)
    exposition.samples.push({ name, labels, value })
  }
  return exposition
}

/** The value of the one sample of `name` whose labels are exactly `labels`. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string>): number {
  const wanted = JSON.stringify(Object.entries(labels).sort())
  const found = exposition.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name}${wanted}`)
  return found[0].value
}

/** Every sample of `name` that carries `labels` (and maybe others). */
export function samplesOf(exposition: Exposition, name: string, labels: Record<string, string>) {
  return exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value))
}
