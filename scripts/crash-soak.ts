// `npm run soak:persist [kills]`: the persistence crash test for longer than the spec runs it
// (200 SIGKILLs per fsync policy by default), printing each round. Needs `npm run build` first.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crashRounds } from '../__test__/crash-harness'

const kills = Number(process.argv[2] ?? 200)

async function main(): Promise<void> {
  for (const fsync of ['always', 'everysec'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'sk-soak-'))
    try {
      const reports = await crashRounds({
        path: join(dir, 'sessions.skdb'), fsync, kills, seed: Date.now() % 100_000,
        onRound: (round, report) => console.log(`${fsync} kill ${round + 1}/${kills}: ${report.acknowledged} acknowledged, ${report.lost} lost`),
      })
      const acknowledged = reports.reduce((sum, r) => sum + r.acknowledged, 0)
      const lost = reports.reduce((sum, r) => sum + r.lost, 0)
      console.log(`${fsync}: ${kills} kills, ${acknowledged} acknowledged changes, ${lost} lost (always a suffix), no failed load`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
