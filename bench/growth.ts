/**
 * Issue 15's growth and memory figures for `npm run bench`: bench/growth-stall.ts (fill,
 * fill-users, then expire), bench/dropped-managers.ts and bench/external-gc.ts, each in
 * processes of its own, as they run by hand. A part that fails is null in the figures and named in the failures.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import type { Profile } from './profiles'
import type { GrowthFigures } from './results-schema'

const ROOT = join(__dirname, '..')
/** Filling to 10^7 one create at a time, timing each, takes about a minute here. */
const PART_TIMEOUT_MS = 20 * 60_000

/** The value under `key` in the JSON object a script prints on its last line. */
function lastJson<T>(script: string, args: string[], key: string, log: (line: string) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--expose-gc', '--import', 'tsx', join(__dirname, script), ...args], {
      cwd: ROOT, encoding: 'utf8', timeout: PART_TIMEOUT_MS, maxBuffer: 64 << 20,
    }, (error, stdout) => {
      if (error) return reject(new Error(`${script} ${args.join(' ')}: ${error.message}`))
      const lines = stdout.trim().split('\n')
      for (const line of lines.slice(0, -1)) log(`  ${line}`)
      try {
        const value = (JSON.parse(lines[lines.length - 1]) as Record<string, T>)[key]
        if (value === undefined) throw new Error(`no ${key}`)
        resolve(value)
      } catch {
        reject(new Error(`${script} ${args.join(' ')} printed no ${key}: ${JSON.stringify(stdout.slice(-300))}`))
      }
    })
    child.stderr?.pipe(process.stderr)
  })
}

export async function runGrowth(profile: Profile, log: (line: string) => void, failures: string[]): Promise<GrowthFigures> {
  const { fillSessions, fillUsersSessions, expireSessions, droppedManagers, droppedSessions, externalGcSessions } = profile.growth
  const part = async <T>(what: string, run: () => Promise<T>): Promise<T | null> => {
    log(what)
    try {
      return await run()
    } catch (error) {
      failures.push((error as Error).message)
      log(`FAILED: ${(error as Error).message}`)
      return null
    }
  }
  return {
    fill: await part(`Growth: the slowest create while filling one native manager to ${fillSessions.toLocaleString('en')}`,
      () => lastJson('growth-stall.ts', ['fill', String(fillSessions)], 'fill', log)),
    fillUsers: await part(`Growth: the same, each session with a user of its own, to ${fillUsersSessions.toLocaleString('en')}`,
      () => lastJson('growth-stall.ts', ['fill-users', String(fillUsersSessions)], 'fill', log)),
    expire: await part(`Growth: RSS after ${expireSessions.toLocaleString('en')} native sessions expire`,
      () => lastJson('growth-stall.ts', ['expire', String(expireSessions)], 'expire', log)),
    dropped: await part(`Growth: ${droppedManagers.toLocaleString('en')} managers of ${droppedSessions.toLocaleString('en')} sessions dropped without close(), each engine`,
      () => lastJson('dropped-managers.ts', [String(droppedManagers), String(droppedSessions)], 'dropped', log)),
    externalGc: await part(`Growth: mark-compacts while one native manager grows to ${externalGcSessions.toLocaleString('en')}`,
      () => lastJson('external-gc.ts', [String(externalGcSessions)], 'externalGc', log)),
  }
}
