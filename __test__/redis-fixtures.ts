/**
 * A real redis-server per test file: started on a free port of 127.0.0.1 in a temp directory,
 * never a system service, stopped (and its directory removed) when the file's tests end, pass
 * or fail. Nothing is mocked.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'redis'

export type Client = ReturnType<typeof createClient>

export interface RedisServerOptions {
  /** AOF with `appendfsync always`: every acknowledged write survives a SIGKILL. */
  aof?: boolean
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for redis-server to take). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export class RedisServer {
  readonly dir: string
  port = 0
  #process: ChildProcess | undefined
  readonly #options: RedisServerOptions
  readonly #clients: Client[] = []

  private constructor(options: RedisServerOptions) {
    this.#options = options
    this.dir = mkdtempSync(join(tmpdir(), 'sk-redis-'))
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = new RedisServer(options)
    // A port freed by freePort() may be taken by someone else before redis-server binds it.
    for (let attempt = 0; ; attempt++) {
      try {
        await server.#spawn(await freePort())
        return server
      } catch (error) {
        if (attempt >= 4) {
          server.#cleanup()
          throw error
        }
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** A node-redis client for this server, closed by stop(); it never retries for long. */
  client(connect = false): Client {
    const client = createClient({ url: this.url, socket: { reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 300) } })
    client.on('error', () => {})
    this.#clients.push(client)
    if (connect) void client.connect()
    return client
  }

  async #spawn(port: number): Promise<void> {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no',
      '--protected-mode', 'yes', '--logfile', '',
      ...(this.#options.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ]
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout?.on('data', (chunk) => { output += String(chunk) })
    child.stderr?.on('data', (chunk) => { output += String(chunk) })
    const exited = once(child, 'exit').then(() => { throw new Error(`redis-server exited on port ${port}: ${output.slice(-500)}`) })
    const ready = (async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        if (/Ready to accept connections/.test(output)) return
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error(`redis-server did not start on port ${port}: ${output.slice(-500)}`)
    })()
    try {
      await Promise.race([ready, exited])
    } catch (error) {
      child.kill('SIGKILL')
      throw error
    }
    exited.catch(() => {})
    this.port = port
    this.#process = child
  }

  /** Kills redis-server with SIGKILL (no shutdown save): only what AOF fsynced survives. */
  async kill(): Promise<void> {
    const child = this.#process
    this.#process = undefined
    if (child === undefined || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /** Starts redis-server again on the same port and directory. */
  async restart(): Promise<void> {
    await this.kill()
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#spawn(this.port)
        return
      } catch (error) {
        if (attempt >= 20) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  async stop(): Promise<void> {
    for (const client of this.#clients) {
      try {
        client.destroy()
      } catch {
        // already closed
      }
    }
    await this.kill()
    this.#cleanup()
  }

  #cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}
