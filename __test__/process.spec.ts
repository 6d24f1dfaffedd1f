import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(__dirname, '..')

/** Runs a script against the built package, by its own name, as an ES module or CommonJS. */
function runScript(source: string, inputType: 'module' | 'commonjs') {
  return spawnSync(process.execPath, [`--input-type=${inputType}`, '-e', source], {
    cwd: root, encoding: 'utf8', timeout: 60_000,
  })
}

for (const engine of ['native', 'js']) {
  test(`a process with live sessions and no close() exits on its own [${engine}]`, (t) => {
    const started = Date.now()
    const result = runScript(`
      import { SessionManager } from 'sessionkeeper'
      const manager = new SessionManager({ engine: '${engine}', idleTimeout: 3_600_000, resolution: 1 })
      for (let i = 0; i < 1000; i++) manager.create({ data: { n: String(i) } })
      manager.create({ idleTimeout: 50 })
      console.log('created', manager.size)
    `, 'module')
    t.is(result.status, 0, result.stderr)
    t.regex(result.stdout, /created 1001/)
    // It must not wait for the hour-long timer; the allowance is for a slow, loaded machine.
    t.true(Date.now() - started < 50_000)
  })

  test(`close() closes every session with reason shutdown and stops the timers [${engine}]`, (t) => {
    const result = runScript(`
      const { SessionManager } = require('sessionkeeper')
      // The clock stands still until close(), so a slow, loaded machine cannot expire a
      // session before it; then it jumps past every deadline, for a stray timer to act on.
      let now = Date.now()
      const manager = new SessionManager({ engine: '${engine}', idleTimeout: 100, resolution: 1, clock: () => now })
      const reasons = {}
      manager.on('close', (_s, reason) => { reasons[reason] = (reasons[reason] ?? 0) + 1 })
      for (let i = 0; i < 500; i++) manager.create()
      manager.close()
      manager.close()
      now += 1000
      // A ref'd timer keeps the process up long enough for a stray expiry timer to fire.
      setTimeout(() => console.log(JSON.stringify({ reasons, size: manager.size, stats: manager.stats() })), 300)
    `, 'commonjs')
    t.is(result.status, 0, result.stderr)
    const report = JSON.parse(result.stdout)
    t.deepEqual(report.reasons, { shutdown: 500 })
    t.is(report.size, 0)
    t.is(report.stats.closed.expired, 0)
  })
}
