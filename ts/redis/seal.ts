/**
 * Encryption of session values in Redis (`key` of RedisSessionManager): the same keys and the
 * same sealed layout as the persistence file (ts/persist/cipher.ts: AES-256-GCM from
 * node:crypto, key id (4) | nonce (12) | ciphertext | tag (16), the first key seals, every key
 * opens), as base64url text since Redis values travel as strings here. Unlike the file, where a
 * record's checksum and position bind its parts, a Redis hash field can be moved by anyone who
 * can write to Redis, so every value is sealed with the session id and the field name as
 * additional authenticated data: a value copied to another session or another field fails to
 * open. The user is personal data and is the name of the per-user set, so that set is named by
 * a keyed hash of the user (a blind index) instead.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto'
import { keyId, SEAL_OVERHEAD } from '../persist/cipher'
import { RedisKeyError } from './errors'

const AAD_PREFIX = 'sessionkeeper redis 1\0'
const INDEX_LABEL = 'sessionkeeper redis user index 1'
/** Nonces drawn per randomFillSync call (12 bytes each). */
const NONCE_BATCH = 256
const utf8 = new TextEncoder()
/** Sealed text is always well-formed UTF-8; a value that is not was not sealed by us. */
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

interface Key {
  id: number
  key: Uint8Array
  /** HMAC key of the blind index of users, derived from `key`. */
  index: Uint8Array
}

/** Why a sealed value cannot be opened; RedisKeyError carries it as `reason`. */
export type SealFailure = 'no-key' | 'unknown-key' | 'not-authentic'

export class RecordSeal {
  readonly #keys: Key[]
  readonly #nonces = new Uint8Array(12 * NONCE_BATCH)
  #nonceAt = this.#nonces.length

  /** `keys`: 32 bytes each, the first seals. */
  constructor(keys: readonly Uint8Array[]) {
    this.#keys = keys.map((key) => ({ id: keyId(key), key, index: new Uint8Array(createHmac('sha256', key).update(INDEX_LABEL).digest()) }))
  }

  /** The sealed text of `plain` for field `field` of session `id`. */
  seal(id: string, field: string, plain: string): string {
    const { id: kid, key } = this.#keys[0]
    if (this.#nonceAt === this.#nonces.length) {
      randomFillSync(this.#nonces)
      this.#nonceAt = 0
    }
    const nonce = this.#nonces.subarray(this.#nonceAt, this.#nonceAt + 12)
    this.#nonceAt += 12
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    cipher.setAAD(aad(id, field))
    const first = cipher.update(utf8.encode(plain))
    const last = cipher.final()
    const sealed = new Uint8Array(SEAL_OVERHEAD + first.length + last.length)
    new DataView(sealed.buffer).setUint32(0, kid, true)
    sealed.set(nonce, 4)
    sealed.set(first, 16)
    sealed.set(last, 16 + first.length)
    sealed.set(cipher.getAuthTag(), sealed.length - 16)
    return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length).toString('base64url')
  }

  /** The plain text of a sealed value of field `field` of session `id`; RedisKeyError when it cannot be opened. */
  open(id: string, field: string, text: string): string {
    const sealed = new Uint8Array(Buffer.from(text, 'base64url'))
    if (sealed.length < SEAL_OVERHEAD) throw new RedisKeyError(id, field, 'not-authentic')
    const kid = new DataView(sealed.buffer, sealed.byteOffset, sealed.length).getUint32(0, true)
    const entry = this.#keys.find((k) => k.id === kid)
    if (entry === undefined) throw new RedisKeyError(id, field, 'unknown-key', kid)
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, sealed.subarray(4, 16))
      decipher.setAAD(aad(id, field))
      decipher.setAuthTag(sealed.subarray(sealed.length - 16))
      const first = decipher.update(sealed.subarray(16, sealed.length - 16))
      const last = decipher.final()
      const bytes = new Uint8Array(first.length + last.length)
      bytes.set(new Uint8Array(first.buffer, first.byteOffset, first.length), 0)
      bytes.set(new Uint8Array(last.buffer, last.byteOffset, last.length), first.length)
      return utf8Strict.decode(bytes)
    } catch {
      throw new RedisKeyError(id, field, 'not-authentic', kid)
    }
  }

  /** True when `text` was sealed under the first key (so it need not be sealed again). */
  isCurrent(text: string): boolean {
    const head = new Uint8Array(Buffer.from(text.slice(0, 8), 'base64url'))
    return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === this.#keys[0].id
  }

  /** The blind index of `user` under the first key: the name of its per-user set. */
  userIndex(user: string): string {
    return blind(this.#keys[0].index, user)
  }

  /** The blind index of `user` under every key, first key first (sessions sealed under an older key are filed under its index until sealed again). */
  userIndexes(user: string): string[] {
    return this.#keys.map((key) => blind(key.index, user))
  }
}

/** The id goes in with its length, so that no other id and field (caller keys may hold NUL) give the same bytes. */
function aad(id: string, field: string): Uint8Array {
  return utf8.encode(`${AAD_PREFIX}${id.length}:${id}\0${field}`)
}

function blind(indexKey: Uint8Array, user: string): string {
  return createHmac('sha256', indexKey).update(user, 'utf8').digest('base64url').slice(0, 22)
}
