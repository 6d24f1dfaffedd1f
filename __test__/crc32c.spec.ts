import test from 'ava'
import { randomBytes } from 'node:crypto'
import { crc32c } from '../ts/persist/crc32c'

/** CRC-32C one bit at a time: the definition the sliced tables must agree with. */
function bitwise(bytes: ArrayLike<number>, start: number, end: number): number {
  let crc = 0xffffffff
  for (let index = start; index < end; index++) {
    crc ^= bytes[index]
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

test('crc32c gives the check value of "123456789" (RFC 3720) and 0 for no bytes', (t) => {
  t.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283)
  t.is(crc32c(new Uint8Array(0)), 0)
})

test('crc32c agrees with the bitwise definition at every offset and length around its 16-byte steps', (t) => {
  const bytes = randomBytes(200)
  // A view of the same bytes starting elsewhere in their ArrayBuffer, as a record in a file is.
  const inner = bytes.subarray(3)
  for (let start = 0; start <= 20; start++) {
    for (let end = start; end <= start + 70; end++) {
      if (crc32c(inner, start, end) !== bitwise(inner, start, end)) return t.fail(`differs for [${start}, ${end})`)
    }
  }
  t.is(crc32c(bytes), bitwise(bytes, 0, bytes.length))
})
