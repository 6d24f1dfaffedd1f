/**
 * CPU cost of RedisSessionManager's `key`: sealing and opening one data value, in CPU time
 * (process.cpuUsage), which a loaded machine distorts far less than wall time.
 *
 *   node --import tsx bench/redis/seal.ts [bytes = 200] [values = 20000]
 */
import { randomBytes } from 'node:crypto'
import { RecordSeal } from '../../ts/redis/seal'

const bytes = Number(process.argv[2] ?? 200)
const count = Number(process.argv[3] ?? 20_000)
const seal = new RecordSeal([new Uint8Array(randomBytes(32))])
const value = 'x'.repeat(bytes)
const id = randomBytes(16).toString('base64url')
const cpuMicros = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}
for (let round = 0; round < 3; round++) {
  let since = process.cpuUsage()
  const sealed: string[] = []
  for (let index = 0; index < count; index++) sealed.push(seal.seal(id, 'e:cart', value))
  const sealMicros = cpuMicros(since) / count
  since = process.cpuUsage()
  for (let index = 0; index < count; index++) seal.open(id, 'e:cart', sealed[index])
  const openMicros = cpuMicros(since) / count
  process.stdout.write(`${bytes}-byte value: seal ${sealMicros.toFixed(1)} µs, open ${openMicros.toFixed(1)} µs of CPU\n`)
}
