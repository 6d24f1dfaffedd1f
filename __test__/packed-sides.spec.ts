import test from 'ava'
import { Buffer } from 'node:buffer'
import { PackedSides } from '../ts/js-engine/packed-sides'
import { writeSessionTail } from './helpers'

/*
 * PackedSides on its own, past the first page of its slot order (65,536 entries): a load's
 * slots fill it, and the records moved out of drained chunks go after them, so draining a chunk
 * made of moved records reads the later pages.
 */

test('records moved past the first page of the slot order are found when their chunk drains', (t) => {
  const count = 150_000
  const source = Buffer.alloc(count * 32)
  const packed = new PackedSides(count)
  let at = 0
  for (let slot = 0; slot < count; slot++) {
    const end = writeSessionTail(source, at, `v${slot}`)
    packed.pack(slot, source, at, end, false)
    at = end
  }
  packed.flush()
  packed.finish()
  // Four in five dropped in order: each chunk drains and its fifth moves to chunks made after
  // all others, whose slots follow the load's 150,000 in the order (its third page on).
  const kept: number[] = []
  for (let slot = 0; slot < count; slot++) {
    if (slot % 5 === 4) kept.push(slot)
    else packed.drop(slot)
  }
  // Then three in four of those: the chunks of moved records drain in turn.
  const left: number[] = []
  for (const slot of kept) {
    if (slot % 20 === 19) left.push(slot)
    else packed.drop(slot)
  }
  t.true(left.length > 7000)
  // The ~7,500 records left (~190 KB) are in the chunk moves go to, 1 MiB (and perhaps the
  // spare): a chunk of moved records whose drain missed its slots would still be held (4 MiB
  // when the drain read only the first page).
  t.true(packed.bytes <= 2 << 20, `${packed.bytes} bytes held`)
  for (const slot of left) {
    t.true(packed.holds(slot))
    const record = packed.unpack(slot)
    if (record.get('k') !== `v${slot}`) return t.fail(`slot ${slot} reads ${record.get('k')}`)
    packed.drop(slot)
  }
  t.true(packed.empty)
  t.is(packed.bytes, 0)
})
