/** TPM 2.0 wire encoding: big-endian integers and size-prefixed (TPM2B) byte strings. */

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff])
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
/** A TPM2B: a 16-bit size, then the bytes. */
export const tpm2b = (data: Buffer = Buffer.alloc(0)): Buffer => Buffer.concat([u16(data.length), data])

/** Reads a response or a structure front to back; throws on truncation. */
export class Reader {
  private at = 0
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new RangeError('truncated TPM structure')
  }
  u16(): number {
    this.need(2)
    const v = this.buf.readUInt16BE(this.at)
    this.at += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.buf.readUInt32BE(this.at)
    this.at += 4
    return v
  }
  bytes(n: number): Buffer {
    this.need(n)
    const v = this.buf.subarray(this.at, this.at + n)
    this.at += n
    return v
  }
  tpm2b(): Buffer {
    return this.bytes(this.u16())
  }
  get remaining(): number {
    return this.buf.length - this.at
  }
}
