/**
 * A minimal DER reader and writer: enough to walk certificates, PKCS#8 and TPM key files that
 * node:crypto cannot parse (ML-DSA keys on Node 20, TSS2 PRIVATE KEY) without loading an ASN.1
 * library on the credential-process path. Throws `DerError` on anything malformed.
 */

export class DerError extends Error {}

/** One TLV: `tag` is the identifier byte (single-byte tags only); `value` the contents. */
export interface Tlv {
  readonly tag: number
  readonly value: Buffer
  /** The whole encoding, tag to end. */
  readonly raw: Buffer
}

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06, UTF8: 0x0c, SEQUENCE: 0x30, BOOLEAN: 0x01 } as const

/** Reads the TLV at `offset`. */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new DerError('truncated DER')
  const tag = buf[offset]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported')
  let len = buf[offset + 1]!
  let at = offset + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || at + n > buf.length) throw new DerError('bad DER length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + i]!
    at += n
  }
  if (at + len > buf.length) throw new DerError('truncated DER')
  return { tag, value: buf.subarray(at, at + len), raw: buf.subarray(offset, at + len) }
}

/** Parses `buf` as exactly one TLV with the expected tag. */
export function parseOne(buf: Buffer, tag?: number): Tlv {
  const t = readTlv(buf)
  if (t.raw.length !== buf.length) throw new DerError('trailing bytes after DER value')
  if (tag !== undefined && t.tag !== tag) throw new DerError(`expected DER tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`)
  return t
}

/** The TLVs inside a constructed value. */
export function children(t: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = 0; at < t.value.length; ) {
    const c = readTlv(t.value, at)
    out.push(c)
    at += c.raw.length
  }
  return out
}

/** Dotted form of an OBJECT IDENTIFIER's contents. */
export function oidString(t: Tlv): string {
  if (t.tag !== TAG.OID || t.value.length === 0) throw new DerError('expected an OBJECT IDENTIFIER')
  const parts: number[] = []
  let n = 0
  for (const b of t.value) {
    n = n * 128 + (b & 0x7f)
    if (!(b & 0x80)) {
      parts.push(n)
      n = 0
    }
  }
  const first = parts.shift() ?? 0
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join('.')
}

/** A non-negative INTEGER as a number (TPM handles, versions). */
export function uintOf(t: Tlv): number {
  if (t.tag !== TAG.INTEGER || t.value.length === 0 || t.value.length > 7) throw new DerError('expected a small INTEGER')
  if (t.value[0]! & 0x80) throw new DerError('negative INTEGER')
  return t.value.reduce((n, b) => n * 256 + b, 0)
}

// Writing

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const value = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), lengthBytes(value.length), value])
}

export const seq = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, ...items)
export const octets = (b: Buffer | Uint8Array): Buffer => tlv(TAG.OCTET_STRING, Buffer.from(b))
export const bitString = (b: Buffer | Uint8Array): Buffer => tlv(TAG.BIT_STRING, Buffer.from([0]), Buffer.from(b))

/** An unsigned big-endian INTEGER (a leading zero is added when the high bit is set). */
export function uint(b: Buffer | number): Buffer {
  let v =
    typeof b === 'number'
      ? Buffer.from(
          b
            .toString(16)
            .padStart(2, '0')
            .replace(/^(.(..)*)$/, '0$1'),
          'hex',
        )
      : b
  let i = 0
  while (i < v.length - 1 && v[i] === 0) i++
  v = v.subarray(i)
  return tlv(TAG.INTEGER, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}

export function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number)
  const out: number[] = []
  for (const n of [a * 40 + b, ...rest]) {
    const chunk = [n & 0x7f]
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80)
    out.push(...chunk)
  }
  return tlv(TAG.OID, Buffer.from(out))
}
