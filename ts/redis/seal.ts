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
import { createHmac } from 'node:crypto'
import { RecordCipher } from '../persist/cipher'
import { RedisKeyError } from './errors'

const AAD_PREFIX = 'sessionkeeper redis 1\0'
const INDEX_LABEL = 'sessionkeeper redis user index 1'
const utf8 = new TextEncoder()
/** Sealed text is always well-formed UTF-8; a value that is not was not sealed by us. */
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** Why a sealed value cannot be opened; RedisKeyError carries it as `reason`. */
export type SealFailure = 'no-key' | 'unknown-key' | 'not-authentic'

export class RecordSeal {
  readonly #cipher: RecordCipher
  /** Per key, first key first: the HMAC key of the blind index of users, derived from it. */
  readonly #indexKeys: Uint8Array[]

  /** `keys`: 32 bytes each, the first seals. */
  constructor(keys: readonly Uint8Array[]) {
    this.#cipher = new RecordCipher(keys)
    this.#indexKeys = keys.map((key) => new Uint8Array(createHmac('sha256', key).update(INDEX_LABEL).digest()))
  }

  /** The sealed text of `plain` for field `field` of session `id`. */
  seal(id: string, field: string, plain: string): string {
    const sealed = this.#cipher.seal(utf8.encode(plain), aad(id, field))
    return Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length).toString('base64url')
  }

  /** The plain text of a sealed value of field `field` of session `id`; RedisKeyError when it cannot be opened. */
  open(id: string, field: string, text: string): string {
    const sealed = new Uint8Array(Buffer.from(text, 'base64url'))
    const plain = this.#cipher.unseal(sealed, aad(id, field))
    if (!(plain instanceof Uint8Array)) {
      throw new RedisKeyError(id, field, plain.reason === 'unknown-key' ? 'unknown-key' : 'not-authentic', plain.keyId)
    }
    try {
      return utf8Strict.decode(plain)
    } catch {
      // Authentic but not UTF-8: not sealed by us (the key id is in the body's first 4 bytes).
      throw new RedisKeyError(id, field, 'not-authentic', new DataView(sealed.buffer, sealed.byteOffset, 4).getUint32(0, true))
    }
  }

  /** True when `text` was sealed under the first key (so it need not be sealed again). */
  isCurrent(text: string): boolean {
    const head = new Uint8Array(Buffer.from(text.slice(0, 8), 'base64url'))
    return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === this.#cipher.sealingKeyId
  }

  /** The blind index of `user` under the first key: the name of its per-user set. */
  userIndex(user: string): string {
    return blind(this.#indexKeys[0], user)
  }

  /** The blind index of `user` under every key, first key first (sessions sealed under an older key are filed under its index until sealed again). */
  userIndexes(user: string): string[] {
    return this.#indexKeys.map((key) => blind(key, user))
  }
}

/** The id goes in with its length, so that no other id and field (caller keys may hold NUL) give the same bytes. */
function aad(id: string, field: string): Uint8Array {
  return utf8.encode(`${AAD_PREFIX}${id.length}:${id}\0${field}`)
}

function blind(indexKey: Uint8Array, user: string): string {
  return createHmac('sha256', indexKey).update(user, 'utf8').digest('base64url').slice(0, 22)
}
