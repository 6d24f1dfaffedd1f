/**
 * Servers and clients for the HTTP integration specs: one set of routes served through
 * express + `sessionMiddleware` or plain node:http + `sessionFor`, listening on 127.0.0.1, and a
 * raw-socket client for requests whose bytes must arrive in a given order.
 */
import express from 'express'
import { EventEmitter, once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { SessionManager, type SessionManagerOptions } from '../ts/index'
import type { Session } from '../ts/session'
import { sessionMiddleware, type SessionMiddlewareOptions } from '../ts/integrations/express'
import { sessionFor, type SessionRequest, type StartSessionInit } from '../ts/integrations/http'
import { FakeClock, type EngineName } from './helpers'

/** A signing secret of the required length (32 characters or more). */
export const SECRET = 'a signing secret of 32+ characters, for tests'

export type Stack = 'express' | 'http'
export const STACKS: readonly Stack[] = ['express', 'http']

export interface Reply {
  status: number
  body: Record<string, any>
  setCookies: string[]
  /** The `name=value` part of the first Set-Cookie, if any. */
  cookie: string | undefined
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

async function readBody(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text
}

function describeSession(manager: SessionManager, request: SessionRequest) {
  const session: Session | undefined = request.session?.closed ? undefined : request.session
  const current = manager.current()
  return {
    id: session?.id ?? null,
    user: session?.user ?? null,
    roles: session?.roles ?? [],
    data: session === undefined ? {} : Object.fromEntries(session.keys().map((key) => [key, session.get(key)])),
    current: current?.id ?? null,
    same: current === session,
  }
}

/**
 * The routes: `GET /` describes the session; `POST /login?user=&keep=&key=&big=` logs in (alice with
 * the `admin` role, anyone else with none) through an awaited helper and answers after another await; `/regenerate?key=`, `/logout`, `/count`,
 * `/cart?item=` (starting an anonymous session when needed). Every route reads the whole body
 * first, and emits `arrived` (with the path) on `hooks` before it does.
 */
async function route(manager: SessionManager, hooks: EventEmitter, request: SessionRequest, res: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://x')
  const query = url.searchParams
  hooks.emit('arrived', url.pathname)
  const body = await readBody(request)
  await tick()
  let status = 200
  let extra: Record<string, unknown> = {}
  try {
    switch (url.pathname) {
      case '/login': {
        const init: StartSessionInit = { user: query.get('user') ?? 'ann', data: { visits: '0' } }
        if (init.user === 'alice') init.roles = ['admin']
        if (query.has('keep')) init.keep = query.getAll('keep')
        if (query.has('key')) init.key = query.get('key') as string
        if (query.has('big')) init.data = { ...init.data, big: query.get('big') as string }
        const login = async () => {
          await tick()
          return request.startSession(init)
        }
        await login()
        await tick()
        break
      }
      case '/regenerate':
        extra = { oldId: request.session?.id ?? null, newId: request.session?.regenerate(query.get('key') ?? undefined) ?? null }
        break
      case '/logout':
        extra = { closed: request.session?.close() ?? false }
        break
      case '/count': {
        const session = request.session
        if (session !== undefined && !session.closed) session.set('visits', String(Number(session.get('visits') ?? '0') + 1))
        break
      }
      case '/cart':
        ;(request.session ?? request.startSession()).set('cart', query.get('item') ?? '')
        break
      default:
        break
    }
  } catch (error) {
    status = 400
    extra = { error: (error as Error).name, message: (error as Error).message }
  }
  res.statusCode = status
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ ...describeSession(manager, request), ...extra, body }))
}

export interface Started {
  manager: SessionManager
  clock: FakeClock
  port: number
  base: string
  /** Emits `arrived` (path) when a request reaches the routes, before its body is read. */
  hooks: EventEmitter
  call(path: string, init?: { method?: string; cookie?: string; headers?: Record<string, string> }): Promise<Reply>
}

/** The routes over `stack`, on a manager of `engine`, listening on 127.0.0.1. */
export async function startServer(
  t: import('ava').ExecutionContext,
  stack: Stack,
  engine: EngineName,
  options: SessionMiddlewareOptions = {},
  managerOptions: SessionManagerOptions = {},
  configure?: (app: express.Express) => void,
): Promise<Started> {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, ...managerOptions })
  const hooks = new EventEmitter()
  let server: Server
  if (stack === 'express') {
    const app = express()
    configure?.(app)
    app.use(sessionMiddleware(manager, options))
    app.use((req, res) => route(manager, hooks, req as unknown as SessionRequest, res))
    server = createServer(app)
  } else {
    const sessions = sessionFor(manager, options)
    server = createServer((req, res) => {
      const request = sessions.attach(req, res)
      void manager.run(() => request.session, () => route(manager, hooks, request, res))
    })
  }
  const base = await listen(t, server)
  t.teardown(() => manager.close())
  const call = (path: string, init: { method?: string; cookie?: string; headers?: Record<string, string> } = {}) =>
    fetchReply(`${base}${path}`, init)
  return { manager, clock, port: Number(new URL(base).port), base, hooks, call }
}

export async function listen(t: import('ava').ExecutionContext, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

export async function fetchReply(url: string, init: { method?: string; cookie?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.cookie !== undefined) headers.cookie = init.cookie
  const response = await fetch(url, { method: init.method ?? 'GET', headers })
  const setCookies = response.headers.getSetCookie()
  const text = await response.text()
  let body: Record<string, any>
  try {
    body = JSON.parse(text)
  } catch {
    body = { text }
  }
  return { status: response.status, body, setCookies, cookie: setCookies[0]?.split(';')[0] }
}

/** A parsed raw HTTP response. */
export interface RawReply {
  head: string
  status: number
  setCookies: string[]
  body: string
}

/**
 * A request written over a raw socket in two parts: `head` (request line and headers, without
 * the blank line; a Content-Length for `body` and Connection: close are added), then, once
 * `between()` has resolved, the body. Resolves with the response.
 */
export async function splitRequest(port: number, head: string, body: string, between: () => Promise<unknown>): Promise<RawReply> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let text = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    text += chunk
  })
  const ended = once(socket, 'end')
  socket.write(`${head}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\nConnection: close\r\n\r\n`, 'latin1')
  await between()
  socket.end(body, 'latin1')
  await ended
  return parseRaw(text)
}

/** One request sent as raw bytes (latin1), answered on a closed connection. */
export async function rawRequest(port: number, bytes: string): Promise<RawReply> {
  return splitRequest(port, bytes, '', async () => undefined)
}

function parseRaw(text: string): RawReply {
  const split = text.indexOf('\r\n\r\n')
  const head = split < 0 ? text : text.slice(0, split)
  const setCookies = head.split('\r\n').filter((line) => /^set-cookie:/i.test(line)).map((line) => line.slice(line.indexOf(':') + 1).trim())
  return { head, status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), setCookies, body: split < 0 ? '' : text.slice(split + 4) }
}

/** `sid=<value>` → `<value>`. */
export const valueOf = (cookie: string): string => cookie.slice(cookie.indexOf('=') + 1)
