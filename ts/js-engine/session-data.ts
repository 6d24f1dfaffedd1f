import { Buffer } from 'node:buffer'

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8')

/** A session's string data, user and roles; made on first write, so bare sessions cost nothing. */
export class SessionData {
  readonly data = new Map<string, string>()
  dataBytes = 0
  user: string | undefined = undefined
  roles: string[] = []

  /** The data bytes after storing `value` under `key` (what maxDataBytes is checked against). */
  bytesAfterSet(key: string, value: string): number {
    const old = this.data.get(key)
    const oldEntry = old === undefined ? 0 : utf8(key) + utf8(old)
    return this.dataBytes - oldEntry + utf8(key) + utf8(value)
  }

  set(key: string, value: string, bytesAfter: number): void {
    this.data.set(key, value)
    this.dataBytes = bytesAfter
  }

  delete(key: string): boolean {
    const old = this.data.get(key)
    if (old === undefined) return false
    this.data.delete(key)
    this.dataBytes -= utf8(key) + utf8(old)
    return true
  }

  /** Rough bytes held, for memoryBytes(). */
  approximateBytes(): number {
    let bytes = 64 + this.dataBytes * 2 + this.data.size * 64
    if (this.user !== undefined) bytes += 16 + this.user.length * 2
    for (const role of this.roles) bytes += 16 + role.length * 2
    return bytes
  }
}
