import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { isMainThread } from 'node:worker_threads'

import { SessionManager } from '../ts/index'

const root = join(__dirname, '..')

/**
 * The life of one Worker with its own native manager, as the child process runs it (plain
 * CommonJS against the built package, so Workers need no TypeScript loader). With `busy`, it
 * says so and then creates and gets sessions until it is terminated.
 */
const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { SessionManager } = require('sessionkeeper')
  const manager = new SessionManager({ engine: 'native', maxSessions: 20_000 })
  const data = { profile: 'x'.repeat(200) }
  if (workerData.busy) {
    parentPort.postMessage({ busy: true })
    for (let i = 0; ; i++) {
      const session = manager.create({ data })
      manager.get(session.id)
      if (i % 3 === 0) manager.destroy(session.id)
    }
  }
  const ids = []
  for (let i = 0; i < workerData.sessions; i++) ids.push(manager.create({ data }).id)
  let found = 0
  for (const id of ids) if (manager.get(id)?.get('profile') === data.profile) found++
  for (let i = 0; i < ids.length; i += 2) manager.destroy(ids[i])
  parentPort.postMessage({ found, size: manager.size, engine: manager.engine })
  // Half the Workers close their manager; the others leave it to the Worker's teardown.
  if (workerData.close) manager.close()
`

/**
 * Workers one after another, several side by side, one terminated while busy, and one more
 * after it, each with its own manager; then the main thread's own manager, which keeps working
 * through a second round of the same. It runs in a child process, so that a crash fails this
 * test instead of killing ava.
 */
const scenario = `
  const { Worker } = require('node:worker_threads')
  const { SessionManager } = require('sessionkeeper')
  const workerSource = ${JSON.stringify(workerSource)}

  function run(workerData, onBusy) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerSource, { eval: true, workerData })
      let report
      worker.on('message', (message) => {
        if (message.busy) onBusy(worker)
        else report = message
      })
      worker.on('error', reject)
      worker.on('exit', (code) => resolve({ code, report }))
    })
  }

  async function workers() {
    const sequential = []
    for (let i = 0; i < 4; i++) sequential.push(await run({ sessions: 3000, close: i % 2 === 0 }))
    const parallel = await Promise.all([0, 1, 2].map((i) => run({ sessions: 3000, close: i % 2 === 0 })))
    // Let the loop spin for a moment, so that the termination lands in the middle of it.
    const terminated = await run({ busy: true }, (worker) => setTimeout(() => worker.terminate(), 50))
    const after = await run({ sessions: 3000, close: false })
    return { sequential, parallel, terminated, after }
  }

  async function main() {
    // First with the binding loaded in Workers only (the main thread has not touched it yet),
    // then again while the main thread's own manager is alive.
    const before = await workers()
    const manager = new SessionManager({ engine: 'native' })
    const mine = manager.create({ data: { owner: 'main' } })
    const during = await workers()
    for (let i = 0; i < 1000; i++) manager.get(manager.create().id)
    const main = { size: manager.size, mine: manager.get(mine.id)?.get('owner'), engine: manager.engine }
    manager.close()
    console.log(JSON.stringify({ before, during, main }))
  }
  main().catch((error) => { console.error(error); process.exitCode = 1 })
`

test('native managers in Workers one after another, side by side and terminated while busy, and the process lives on', (t) => {
  const result = spawnSync(process.execPath, ['-e', scenario], { cwd: root, encoding: 'utf8', timeout: 90_000 })
  t.is(result.signal, null, `the process died of ${result.signal}: ${result.stderr}`)
  t.is(result.status, 0, result.stderr)
  const { before, during, main } = JSON.parse(result.stdout)
  const finished = { code: 0, report: { found: 3000, size: 1500, engine: 'native' } }
  for (const results of [before, during]) {
    t.deepEqual(results.sequential, Array(4).fill(finished))
    t.deepEqual(results.parallel, Array(3).fill(finished))
    t.deepEqual(results.after, finished)
    t.is(results.terminated.code, 1, 'worker.terminate() ends a Worker with exit code 1')
  }
  t.deepEqual(main, { size: 1001, mine: 'main', engine: 'native' })
})

test('a native manager works in the thread ava runs this file in', (t) => {
  const manager = new SessionManager({ engine: 'native' })
  const session = manager.create({ data: { thread: isMainThread ? 'main' : 'worker' } })
  t.is(manager.get(session.id)?.get('thread'), isMainThread ? 'main' : 'worker')
  t.is(manager.engine, 'native')
  manager.close()
})
