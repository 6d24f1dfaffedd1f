/**
 * Encryption at rest (`persist.key`): each record's body is sealed with AES-256-GCM from
 * node:crypto (no dependency), under the first key; any of the keys opens it, so keys rotate
 * by putting the new one first (a compaction or `close()` rewrites everything under it).
 * docs/persistence-format.md describes the sealed body.
 */
import { createCipheriv, createDecipheriv, createHash, randomFillSync } from 'node:crypto'

/** Sealed body: key id (4), nonce (12), ciphertext, tag (16). */
export const SEAL_OVERHEAD = 4 + 12 + 16

/** Why `unseal` could not open a sealed body; `keyId` when the body named one. */
export interface UnsealFailure {
  reason: 'too-short' | 'unknown-key' | 'not-authentic'
  keyId?: number
}

export class RecordCipher {
  readonly #keys: { id: number; key: Uint8Array }[]
  readonly #nonces = new Uint8Array(12 * 256)
  #nonceAt = this.#nonces.length

  /** `keys`: 32 bytes each, the first encrypts. */
  constructor(keys: readonly Uint8Array[]) {
    this.#keys = keys.map((key) => ({ id: keyId(key), key }))
  }

  /** Whether one of the keys has the id `id`. */
  hasKey(id: number): boolean {
    return this.#keys.some((k) => k.id === id)
  }

  /** The id of the key that seals. */
  get sealingKeyId(): number {
    return this.#keys[0].id
  }

  /** The sealed form of `plain`, with `aad` (additional authenticated data) bound in when given. */
  seal(plain: Uint8Array, aad?: Uint8Array): Uint8Array {
    const { id, key } = this.#keys[0]
    if (this.#nonceAt === this.#nonces.length) {
      randomFillSync(this.#nonces)
      this.#nonceAt = 0
    }
    const nonce = this.#nonces.subarray(this.#nonceAt, this.#nonceAt + 12)
    this.#nonceAt += 12
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    if (aad !== undefined) cipher.setAAD(aad)
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
    const plain = this.unseal(sealed)
    if (plain instanceof Uint8Array) return plain
    switch (plain.reason) {
      case 'too-short': return 'sealed record too short'
      case 'unknown-key': return `sealed under a key not given in persist.key (key id ${(plain.keyId ?? 0).toString(16).padStart(8, '0')})`
      default: return 'record fails authentication (a wrong key, or the file was altered)'
    }
  }

  /** The plain form of a body sealed with `aad` (none: without), or why it cannot be opened. */
  unseal(sealed: Uint8Array, aad?: Uint8Array): Uint8Array | UnsealFailure {
    if (sealed.length < SEAL_OVERHEAD) return { reason: 'too-short' }
    const id = new DataView(sealed.buffer, sealed.byteOffset, sealed.length).getUint32(0, true)
    const entry = this.#keys.find((k) => k.id === id)
    if (entry === undefined) return { reason: 'unknown-key', keyId: id }
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, sealed.subarray(4, 16))
      if (aad !== undefined) decipher.setAAD(aad)
      decipher.setAuthTag(sealed.subarray(sealed.length - 16))
      const first = decipher.update(sealed.subarray(16, sealed.length - 16))
      const last = decipher.final()
      if (last.length === 0) return new Uint8Array(first.buffer, first.byteOffset, first.length)
      const plain = new Uint8Array(first.length + last.length)
      plain.set(first, 0)
      plain.set(last, first.length)
      return plain
    } catch {
      return { reason: 'not-authentic', keyId: id }
    }
  }
}

/** A key's id in the file: the first 4 bytes of SHA-256("sessionkeeper key id" + key). */
export function keyId(key: Uint8Array): number {
  const digest = createHash('sha256').update('sessionkeeper key id').update(key).digest()
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0, true)
}
