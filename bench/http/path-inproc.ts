/**
 * The request path without sockets (issue 16): each kind of bench/http/path-server.ts serves
 * `GET /` with a live session's cookie through real `IncomingMessage` and `ServerResponse`
 * objects that have no socket, so what is measured is express and the session layer alone, with
 * no load generator sharing the machine. Per kind: CPU ns per request (process.cpuUsage, best
 * batch of each round, median of rounds), each kind in its own child process, kinds alternating
 * over rounds. (Heap bytes per request, from heapUsed over a batch with no collection, were
 * tried and dropped: on Node 24 they came out lower for the middleware than for bare express.)
 *
 * express-session is left out: MemoryStore answers on a later turn of the event loop, which a
 * synchronous loop of requests never reaches.
 *
 *   [PATH_KINDS=bare,native] [ROUNDS=n] node --import tsx bench/http/path-inproc.ts
 */
import { execFileSync } from 'node:child_process'
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { appFor, checkCounts, PATH_KINDS, type PathKind, setupFor } from './path-server'

const BATCH = 20_000
const BATCHES = 8

interface Figures {
  kind: PathKind
  cpuNsPerRequest: number
}

async function measure(kind: PathKind): Promise<Figures> {
  const setup = await setupFor(kind, 10_000)
  const { app, counts } = appFor(setup)
  const socket = new Socket()
  let next = 0
  const serve = (): void => {
    const req = new IncomingMessage(socket)
    req.method = 'GET'
    req.url = '/'
    req.headers = { host: '127.0.0.1', cookie: setup.cookies[next++ % setup.cookies.length] }
    const res = new ServerResponse(req)
    ;(app as unknown as (req: IncomingMessage, res: ServerResponse) => void)(req, res)
  }
  for (let index = 0; index < BATCH; index++) serve()
  let best = Infinity
  for (let batch = 0; batch < BATCHES; batch++) {
    const start = process.cpuUsage()
    for (let index = 0; index < BATCH; index++) serve()
    const used = process.cpuUsage(start)
    best = Math.min(best, ((used.user + used.system) * 1000) / BATCH)
  }
  checkCounts(kind, counts)
  return { kind, cpuNsPerRequest: best }
}

async function main(): Promise<void> {
  const child = process.argv[2]
  if (child !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(child as PathKind))}\n`)
    return
  }
  const kinds = (process.env.PATH_KINDS?.split(',') ?? PATH_KINDS)
    .filter((kind): kind is PathKind => kind !== 'express-session' && (PATH_KINDS as readonly string[]).includes(kind))
  const rounds = Number(process.env.ROUNDS ?? 3)
  const results = new Map<PathKind, Figures[]>(kinds.map((kind) => [kind, []]))
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
      const line = execFileSync(process.execPath, [...process.execArgv, __filename, kind], { encoding: 'utf8' })
      results.get(kind)!.push(JSON.parse(line) as Figures)
    }
  }
  console.log(`Node ${process.version}, ${rounds} rounds (best batch of each round; median of rounds)`)
  console.log('| kind | CPU ns/request | over bare |')
  console.log('|---|---:|---:|')
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const bare = results.get('bare')
  for (const kind of kinds) {
    const own = results.get(kind)!
    const ns = median(own.map((f) => f.cpuNsPerRequest))
    const overNs = bare === undefined || kind === 'bare' ? '' : median(own.map((f, i) => f.cpuNsPerRequest - bare[i].cpuNsPerRequest)).toFixed(0)
    console.log(`| ${kind} | ${ns.toFixed(0)} | ${overNs} |`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
