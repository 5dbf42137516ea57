// The --cache key's SHA-256 (src/cache/sha256.ts, JavaScript so that a cache hit does not load
// node:crypto) against node:crypto: every length around the block and padding boundaries, and larger inputs.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { sha256 } from '../src/cache/sha256.js'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const reference = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

t.test('FIPS 180-4 examples', async (t) => {
  t.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  t.equal(hex(sha256(Buffer.from('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  t.equal(
    hex(sha256(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  )
})

t.test('every length from 0 to 300 bytes, and 4 KiB to 1 MiB', async (t) => {
  const wrong: number[] = []
  for (let n = 0; n <= 300; n++) {
    const b = randomBytes(n)
    if (hex(sha256(b)) !== reference(b)) wrong.push(n)
  }
  for (const n of [4096, 65_537, 1 << 20]) {
    const b = randomBytes(n)
    if (hex(sha256(b)) !== reference(b)) wrong.push(n)
  }
  t.same(wrong, [], 'lengths whose digest differs from node:crypto')
})

t.test('does not change its input', async (t) => {
  const b = randomBytes(100)
  const copy = Buffer.from(b)
  sha256(b)
  t.same(b, copy)
})
