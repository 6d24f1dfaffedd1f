import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 4096

/**
 * Random bytes from the OS CSPRNG, fetched 4 KiB at a time (one system call per ~100 ids) and
 * handed out once each: a byte is never part of two ids. Decoding, validating and spelling ids
 * is the id index's work (`id-index.ts`), which keeps them as raw words.
 */
export class RandomPool {
  private readonly pool = new Uint8Array(POOL_BYTES)
  private offset = POOL_BYTES
  private readonly fill: (buffer: Uint8Array) => void

  constructor(fill?: (buffer: Uint8Array) => void) {
    this.fill = fill ?? ((buffer) => randomFillSync(buffer))
  }

  /** The offset in `bytes` of `count` fresh random bytes (valid until the next call). */
  take(count: number): number {
    if (this.offset + count > POOL_BYTES) {
      this.fill(this.pool)
      this.offset = 0
    }
    const start = this.offset
    this.offset += count
    return start
  }

  get bytes(): Uint8Array {
    return this.pool
  }
}
