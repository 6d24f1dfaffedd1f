import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crashRounds, temporaryFiles } from './crash-harness'

// 20 SIGKILLs per policy at random moments, the writing and loading engines alternating. Bounded:
// each round kills its writer within 300 ms of its start. `npm run soak:persist` runs longer.
for (const fsync of ['always', 'everysec'] as const) {
  test(`SIGKILL at random moments, 20 times: ${fsync === 'always' ? 'every acknowledged change is on disk and nothing else' : 'only a suffix of the acknowledged changes is ever lost'} [fsync: ${fsync}]`, async (t) => {
    t.timeout(5 * 60_000)
    const dir = mkdtempSync(join(tmpdir(), 'sk-crash-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const reports = await crashRounds({ path: join(dir, 'sessions.skdb'), fsync, kills: 20, seed: fsync === 'always' ? 1 : 2 })
    const acknowledged = reports.reduce((sum, r) => sum + r.acknowledged, 0)
    const lost = reports.reduce((sum, r) => sum + r.lost, 0)
    t.log(`${acknowledged} acknowledged changes over 20 kills, ${lost} lost (a suffix each time)`)
    if (fsync === 'always') t.is(lost, 0)
    t.true(acknowledged > 0)
  })
}

// Compaction under SIGKILL: writes of 4 KiB make the file pass 1 MiB every few hundred changes,
// so compactions follow one another; every other kill comes within 30 ms of a compaction's new
// file appearing. Every restart loads, keeps what the policy promises, and removes the new file
// the killed writer left (the next one would otherwise add another).
for (const fsync of ['always', 'everysec'] as const) {
  test(`SIGKILL during background compactions, 16 times: ${fsync === 'always' ? 'nothing acknowledged is lost' : 'only a suffix is lost'}, and no compaction file is left behind [fsync: ${fsync}]`, async (t) => {
    t.timeout(5 * 60_000)
    const dir = mkdtempSync(join(tmpdir(), 'sk-crash-compact-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'sessions.skdb')
    const reports = await crashRounds({ path, fsync, kills: 16, seed: fsync === 'always' ? 3 : 4, pad: 4096 })
    const acknowledged = reports.reduce((sum, r) => sum + r.acknowledged, 0)
    const lost = reports.reduce((sum, r) => sum + r.lost, 0)
    const compacting = reports.filter((r) => r.killedCompacting).length
    t.log(`${acknowledged} acknowledged changes over 16 kills, ${compacting} of them during a compaction, ${lost} lost`)
    if (fsync === 'always') t.is(lost, 0)
    t.true(compacting >= 4, `only ${compacting} kills came during a compaction`)
    t.deepEqual(temporaryFiles(path), [])
  })
}
