import { Buffer } from 'node:buffer'

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8')

/** A session's string data, user and roles; made on first write, so bare sessions cost nothing. */
export class SessionData {
  /** Insertion order is Map order: a replaced key keeps its place, a re-added one goes last. */
  readonly data = new Map<string, string>()
  dataBytes = 0
  user: string | undefined = undefined
  roles: string[] = []

  /** UTF-8 bytes of one entry. */
  static entryBytes(key: string, value: string): number {
    return utf8(key) + utf8(value)
  }

  /** The data bytes after storing `value` under `key` (what maxDataBytes is checked against). */
  bytesAfterSet(key: string, value: string): number {
    const old = this.data.get(key)
    // A replaced entry keeps its key, so only the value's bytes change.
    if (old !== undefined) return this.dataBytes - utf8(old) + utf8(value)
    return this.dataBytes + utf8(key) + utf8(value)
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
    let bytes = 64 + this.dataBytes + this.data.size * 64
    if (this.user !== undefined) bytes += 16 + this.user.length
    for (let index = 0; index < this.roles.length; index++) bytes += 16 + this.roles[index].length
    return bytes
  }
}
