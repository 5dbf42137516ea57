/**
 * The password-based crypto of PKCS#12 (RFC 7292): its key derivation (for the legacy SHA-1 PBE
 * schemes and the MAC), PBES2 (PBKDF2 + AES/3DES-CBC) and the legacy pbeWithSHAAnd* schemes,
 * including RC2 (RFC 2268), which OpenSSL 3 (and so node:crypto) no longer offers by default.
 */
import { createDecipheriv, createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto'
import * as asn1js from 'asn1js'

export interface AlgorithmId {
  readonly oid: string
  readonly params: Buffer | undefined
}

const HASHES: Record<string, { name: string; v: number }> = {
  '1.3.14.3.2.26': { name: 'sha1', v: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', v: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', v: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', v: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', v: 128 },
}
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
}
const PBES2_CIPHERS: Record<string, [string, number]> = {
  '2.16.840.1.101.3.4.1.2': ['aes-128-cbc', 16],
  '2.16.840.1.101.3.4.1.22': ['aes-192-cbc', 24],
  '2.16.840.1.101.3.4.1.42': ['aes-256-cbc', 32],
  '1.2.840.113549.3.7': ['des-ede3-cbc', 24],
}
/** pbeWithSHAAnd*: cipher, key bytes, IV bytes (RC2: effective key bits = key bytes * 8). */
const LEGACY: Record<string, [string, number, number]> = {
  '1.2.840.113549.1.12.1.3': ['des-ede3-cbc', 24, 8],
  '1.2.840.113549.1.12.1.4': ['des-ede-cbc', 16, 8],
  '1.2.840.113549.1.12.1.5': ['rc2', 16, 8],
  '1.2.840.113549.1.12.1.6': ['rc2', 5, 8],
}

export class UnsupportedAlgorithm extends Error {}

/** The password as PKCS#12 wants it for its own KDF: UTF-16BE plus two zero bytes. */
export function bmpPassword(password: string): Buffer {
  const b = Buffer.from(`${password}\0`, 'utf16le')
  return b.swap16()
}

/** RFC 7292 appendix B.2: `id` 1 = key, 2 = IV, 3 = MAC key. */
export function pkcs12Kdf(hashOid: string, password: Buffer, salt: Buffer, id: number, iterations: number, n: number): Buffer {
  const hash = HASHES[hashOid]
  if (hash === undefined) throw new UnsupportedAlgorithm(`digest ${hashOid}`)
  const { name, v } = hash
  const fill = (b: Buffer): Buffer => (b.length === 0 ? b : Buffer.alloc(v * Math.ceil(b.length / v), b))
  const I = Buffer.concat([fill(salt), fill(password)])
  const D = Buffer.alloc(v, id)
  const out: Buffer[] = []
  for (let got = 0; got < n; ) {
    let A = createHash(name).update(D).update(I).digest()
    for (let i = 1; i < iterations; i++) A = createHash(name).update(A).digest()
    out.push(A)
    got += A.length
    const B = Buffer.alloc(v, A)
    for (let j = 0; j < I.length; j += v) {
      let carry = 1
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry
        I[j + k] = sum & 0xff
        carry = sum >> 8
      }
    }
  }
  return Buffer.concat(out).subarray(0, n)
}

/** True when the MAC over `content` verifies with this password (bytes as the KDF wants them). */
export function macMatches(digestOid: string, mac: Buffer, salt: Buffer, iterations: number, content: Buffer, password: Buffer): boolean {
  const hash = HASHES[digestOid]
  if (hash === undefined) throw new UnsupportedAlgorithm(`MAC digest ${digestOid}`)
  const key = pkcs12Kdf(digestOid, password, salt, 3, iterations, createHash(hash.name).digest().length)
  const got = createHmac(hash.name, key).update(content).digest()
  return got.length === mac.length && timingSafeEqual(got, mac)
}

function der(buf: Buffer): asn1js.AsnType {
  const parsed = asn1js.fromBER(buf)
  if (parsed.offset === -1) throw new Error('malformed ASN.1 parameters')
  return parsed.result
}
const items = (n: asn1js.AsnType): asn1js.AsnType[] => (n as asn1js.Sequence).valueBlock.value
const bytes = (n: asn1js.AsnType | undefined): Buffer => Buffer.from((n as asn1js.OctetString).valueBlock.valueHexView)
const int = (n: asn1js.AsnType | undefined): number => (n as asn1js.Integer).valueBlock.valueDec
const oid = (n: asn1js.AsnType | undefined): string => (n as asn1js.ObjectIdentifier).getValue()

/** Decrypts PBES2 or legacy PKCS#12 PBE data; throws on a wrong password (bad padding). */
export function decryptPbe(alg: AlgorithmId, data: Buffer, password: string): Buffer {
  if (alg.params === undefined) throw new Error('missing encryption parameters')
  const legacy = LEGACY[alg.oid]
  if (legacy !== undefined) {
    const [cipher, keyLen, ivLen] = legacy
    const [salt, iter] = items(der(alg.params))
    const pw = bmpPassword(password)
    const key = pkcs12Kdf('1.3.14.3.2.26', pw, bytes(salt), 1, int(iter), keyLen)
    const iv = pkcs12Kdf('1.3.14.3.2.26', pw, bytes(salt), 2, int(iter), ivLen)
    if (cipher === 'rc2') return rc2CbcDecrypt(key, keyLen * 8, iv, data)
    const d = createDecipheriv(cipher, key, iv)
    return Buffer.concat([d.update(data), d.final()])
  }
  if (alg.oid !== '1.2.840.113549.1.5.13') throw new UnsupportedAlgorithm(`encryption ${alg.oid}`)
  const [kdf, enc] = items(der(alg.params))
  const [kdfOid, kdfParams] = items(kdf!)
  if (oid(kdfOid) !== '1.2.840.113549.1.5.12') throw new UnsupportedAlgorithm(`key derivation ${oid(kdfOid)} (PBKDF2 only)`)
  const p = items(kdfParams!)
  const prfNode = p.find((n, i) => i >= 2 && n instanceof asn1js.Sequence)
  const prf = prfNode === undefined ? 'sha1' : PRFS[oid(items(prfNode)[0])]
  const [encOid, ivNode] = items(enc!)
  const cipher = PBES2_CIPHERS[oid(encOid)]
  if (prf === undefined || cipher === undefined) throw new UnsupportedAlgorithm(`PBES2 with ${oid(encOid)}`)
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), bytes(p[0]), int(p[1]), cipher[1], prf)
  const d = createDecipheriv(cipher[0], key, bytes(ivNode))
  return Buffer.concat([d.update(data), d.final()])
}

// RC2 (RFC 2268), decryption only, CBC with PKCS#7 padding.
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82' +
    '54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb6266fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7' +
    '08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
)

function rc2CbcDecrypt(key: Buffer, bits: number, iv: Buffer, data: Buffer): Buffer {
  const L = Buffer.alloc(128)
  key.copy(L)
  for (let i = key.length; i < 128; i++) L[i] = PITABLE[(L[i - 1]! + L[i - key.length]!) & 0xff]!
  const t8 = (bits + 7) >> 3
  const tm = 0xff >> (8 * t8 - bits)
  L[128 - t8] = PITABLE[L[128 - t8]! & tm]!
  for (let i = 127 - t8; i >= 0; i--) L[i] = PITABLE[L[i + 1]! ^ L[i + t8]!]!
  const K = Array.from({ length: 64 }, (_, i) => L[2 * i]! | (L[2 * i + 1]! << 8))
  if (data.length === 0 || data.length % 8 !== 0) throw new Error('bad RC2 ciphertext length')
  const out = Buffer.alloc(data.length)
  let prev = iv
  for (let off = 0; off < data.length; off += 8) {
    const c = data.subarray(off, off + 8)
    const R = [c.readUInt16LE(0), c.readUInt16LE(2), c.readUInt16LE(4), c.readUInt16LE(6)]
    let j = 63
    const mix = (): void => {
      for (let i = 3; i >= 0; i--) {
        const s = [1, 2, 3, 5][i]!
        const r = R[i]!
        R[i] = ((r >>> s) | (r << (16 - s))) & 0xffff
        R[i] = (R[i]! - K[j--]! - (R[(i + 3) % 4]! & R[(i + 2) % 4]!) - (~R[(i + 3) % 4]! & R[(i + 1) % 4]!)) & 0xffff
      }
    }
    const mash = (): void => {
      for (let i = 3; i >= 0; i--) R[i] = (R[i]! - K[R[(i + 3) % 4]! & 63]!) & 0xffff
    }
    for (const rounds of [5, -1, 6, -1, 5]) {
      if (rounds < 0) mash()
      else for (let r = 0; r < rounds; r++) mix()
    }
    for (let i = 0; i < 4; i++) out.writeUInt16LE((R[i]! ^ prev.readUInt16LE(2 * i)) & 0xffff, off + 2 * i)
    prev = c
  }
  const pad = out[out.length - 1]!
  if (pad < 1 || pad > 8 || !out.subarray(out.length - pad).every((b) => b === pad)) throw new Error('bad decrypt')
  return out.subarray(0, out.length - pad)
}
