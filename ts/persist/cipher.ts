/**
 * Encryption at rest (`persist.key`): each record's body is sealed with AES-256-GCM from
 * node:crypto (no dependency), under the first key; any of the keys opens it, so keys rotate
 * by putting the new one first (a compaction or `close()` rewrites everything under it).
 * docs/persistence-format.md describes the sealed body.
 */
import { createCipheriv, createDecipheriv, createHash, randomFillSync } from 'node:crypto'

/** Sealed body: key id (4), nonce (12), ciphertext, tag (16). */
export const SEAL_OVERHEAD = 4 + 12 + 16

export class RecordCipher {
  readonly #keys: { id: number; key: Uint8Array }[]
  readonly #nonces = new Uint8Array(12 * 256)
  #nonceAt = this.#nonces.length

  /** `keys`: 32 bytes each, the first encrypts. */
  constructor(keys: readonly Uint8Array[]) {
    this.#keys = keys.map((key) => ({ id: keyId(key), key }))
  }

  /** The sealed form of `plain`. */
  seal(plain: Uint8Array): Uint8Array {
    const { id, key } = this.#keys[0]
    if (this.#nonceAt === this.#nonces.length) {
      randomFillSync(this.#nonces)
      this.#nonceAt = 0
    }
    const nonce = this.#nonces.subarray(this.#nonceAt, this.#nonceAt + 12)
    this.#nonceAt += 12
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    const first = cipher.update(plain)
    const last = cipher.final()
    const tag = cipher.getAuthTag()
    const sealed = new Uint8Array(SEAL_OVERHEAD + first.length + last.length)
    new DataView(sealed.buffer).setUint32(0, id, true)
    sealed.set(nonce, 4)
    sealed.set(first, 16)
    sealed.set(last, 16 + first.length)
    sealed.set(tag, sealed.length - 16)
    return sealed
  }

  /** The plain body, or a string saying why it cannot be opened. */
  open(sealed: Uint8Array): Uint8Array | string {
    if (sealed.length < SEAL_OVERHEAD) return 'sealed record too short'
    const id = new DataView(sealed.buffer, sealed.byteOffset, sealed.length).getUint32(0, true)
    const entry = this.#keys.find((k) => k.id === id)
    if (entry === undefined) return `sealed under a key not given in persist.key (key id ${id.toString(16).padStart(8, '0')})`
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, sealed.subarray(4, 16))
      decipher.setAuthTag(sealed.subarray(sealed.length - 16))
      const first = decipher.update(sealed.subarray(16, sealed.length - 16))
      const last = decipher.final()
      if (last.length === 0) return new Uint8Array(first.buffer, first.byteOffset, first.length)
      const plain = new Uint8Array(first.length + last.length)
      plain.set(first, 0)
      plain.set(last, first.length)
      return plain
    } catch {
      return 'record fails authentication (a wrong key, or the file was altered)'
    }
  }
}

/** A key's id in the file: the first 4 bytes of SHA-256("sessionkeeper key id" + key). */
export function keyId(key: Uint8Array): number {
  const digest = createHash('sha256').update('sessionkeeper key id').update(key).digest()
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, true)
}
