import { randomFillSync } from 'node:crypto'

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const HEX = '0123456789abcdef'
const POOL_BYTES = 4096

/** Character code -> 6-bit value for base64url, -1 for anything else (codes above 127 included). */
const BASE64URL_VALUE = new Int8Array(128).fill(-1)
for (let index = 0; index < BASE64URL.length; index++) BASE64URL_VALUE[BASE64URL.charCodeAt(index)] = index

/**
 * Random bytes from the OS CSPRNG, fetched 4 KiB at a time (one system call per ~256 ids) and
 * handed out once each.
 */
export class RandomPool {
  readonly #pool = new Uint8Array(POOL_BYTES)
  #offset = POOL_BYTES

  constructor(private readonly fill: (buffer: Uint8Array) => void = (buffer) => randomFillSync(buffer)) {}

  /** The offset in `bytes` of `count` fresh random bytes (valid until the next call). */
  take(count: number): number {
    if (this.#offset + count > POOL_BYTES) {
      this.fill(this.#pool)
      this.#offset = 0
    }
    const start = this.#offset
    this.#offset += count
    return start
  }

  get bytes(): Uint8Array {
    return this.#pool
  }
}

/** Encodes `count` bytes at `start` of `bytes` without padding, building the string directly. */
export function encodeBase64url(bytes: Uint8Array, start: number, count: number): string {
  let out = ''
  let index = start
  const end = start + count
  for (; index + 2 < end; index += 3) {
    const triple = (bytes[index] << 16) | (bytes[index + 1] << 8) | bytes[index + 2]
    out += BASE64URL[triple >> 18] + BASE64URL[(triple >> 12) & 63] + BASE64URL[(triple >> 6) & 63] + BASE64URL[triple & 63]
  }
  const rest = end - index
  if (rest === 1) {
    const value = bytes[index]
    out += BASE64URL[value >> 2] + BASE64URL[(value & 3) << 4]
  } else if (rest === 2) {
    const value = (bytes[index] << 8) | bytes[index + 1]
    out += BASE64URL[value >> 10] + BASE64URL[(value >> 4) & 63] + BASE64URL[(value & 15) << 2]
  }
  return out
}

export function encodeHex(bytes: Uint8Array, start: number, count: number): string {
  let out = ''
  for (let index = start; index < start + count; index++) out += HEX[bytes[index] >> 4] + HEX[bytes[index] & 15]
  return out
}

/** How a random id of `idBytes` bytes is spelt: its exact length and canonical last character. */
export class IdShape {
  readonly length: number
  /** Bits of the last base64url character that carry no data and must be zero. */
  readonly #unusedMask: number

  constructor(readonly idBytes: number, readonly encoding: 'base64url' | 'hex') {
    this.length = encoding === 'hex' ? idBytes * 2 : Math.ceil((idBytes * 4) / 3)
    const rest = idBytes % 3
    this.#unusedMask = rest === 1 ? 15 : rest === 2 ? 3 : 0
  }

  /** Length, alphabet and canonical form, so exactly one string names one byte string. */
  isValid(id: string): boolean {
    if (id.length !== this.length) return false
    if (this.encoding === 'hex') {
      for (let index = 0; index < id.length; index++) {
        const code = id.charCodeAt(index)
        if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false
      }
      return true
    }
    let value = 0
    for (let index = 0; index < id.length; index++) {
      const code = id.charCodeAt(index)
      value = code < 128 ? BASE64URL_VALUE[code] : -1
      if (value < 0) return false
    }
    return (value & this.#unusedMask) === 0
  }
}
