/**
 * PKCS#12 (.p12/.pfx) as --certificate: the structure is read with @peculiar/asn1-pfx, the
 * password checked against the MAC, then certificates and the private key are decrypted
 * (modern PBES2/AES and legacy SHA-1 3DES/RC2 containers). Loaded only for PKCS#12 input.
 */
import { AuthenticatedSafe, CertBag, id_certBag, id_keyBag, id_pkcs8ShroudedKeyBag, id_SafeContents, PFX, SafeContents, type SafeBag } from '@peculiar/asn1-pfx'
import { EncryptedContentInfo, type ContentInfo } from '@peculiar/asn1-cms'
import { EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import * as asn1js from 'asn1js'
import { IamraError, fail } from '../errors.js'
import { parseCertificates, type LoadedCertificate } from './certificates.js'
import { parsePrivateKey, type PrivateKey, type PrivateKeyOptions } from './private-key.js'
import { bmpPassword, decryptPbe, macMatches, UnsupportedAlgorithm, type AlgorithmId } from './pkcs12-pbe.js'

export interface Pkcs12Contents {
  readonly certificates: LoadedCertificate[]
  /** The first private key in the file, if any. */
  readonly key: PrivateKey | undefined
}

const ID_DATA = '1.2.840.113549.1.7.1'
const ID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6'
const buf = (b: ArrayBuffer | ArrayBufferView): Buffer => (ArrayBuffer.isView(b) ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b))

export async function parsePkcs12(bytes: Buffer, source: string, opts: PrivateKeyOptions): Promise<Pkcs12Contents> {
  let pfx: PFX
  let safe: AuthenticatedSafe
  try {
    pfx = AsnConvert.parse(bytes, PFX)
    if (pfx.authSafe.contentType !== ID_DATA)
      fail('CERT_MALFORMED', `${source}: PKCS#12 with public-key integrity (${pfx.authSafe.contentType}) is not supported; export it with a password`)
    safe = AsnConvert.parse(octets(pfx.authSafe.content), AuthenticatedSafe)
  } catch (e) {
    if (e instanceof IamraError) throw e
    throw new IamraError('CERT_MALFORMED', `${source}: not a valid PKCS#12 file (${(e as Error).message})`, { cause: e })
  }
  const password = await findPassword(pfx, source, opts)
  const certificates: LoadedCertificate[] = []
  let keyDer: Buffer | undefined
  const visit = (bags: readonly SafeBag[]): void => {
    for (const bag of bags) {
      if (bag.bagId === id_certBag) {
        const cb = AsnConvert.parse(bag.bagValue, CertBag)
        if (cb.certId !== '1.2.840.113549.1.9.22.1') continue // not an X.509 certificate
        certificates.push(...parseCertificates(octets(cb.certValue), `${source} (certificate ${certificates.length + 1})`))
      } else if (bag.bagId === id_keyBag && keyDer === undefined) {
        keyDer = buf(bag.bagValue)
      } else if (bag.bagId === id_pkcs8ShroudedKeyBag && keyDer === undefined) {
        const epki = AsnConvert.parse(bag.bagValue, EncryptedPrivateKeyInfo)
        const alg = {
          oid: epki.encryptionAlgorithm.algorithm,
          params: epki.encryptionAlgorithm.parameters ? buf(epki.encryptionAlgorithm.parameters) : undefined,
        }
        keyDer = decrypt(alg, buf(epki.encryptedData.buffer), password, source)
      } else if (bag.bagId === id_SafeContents) {
        visit(AsnConvert.parse(bag.bagValue, SafeContents))
      }
    }
  }
  for (const info of safe) visit(AsnConvert.parse(contents(info, password, source), SafeContents))
  if (certificates.length === 0) fail('CERT_MALFORMED', `${source}: the PKCS#12 file holds no certificate`)
  return { certificates, key: keyDer === undefined ? undefined : await parsePrivateKey(keyDer, `${source} (private key)`) }
}

/** The bytes inside a DER OCTET STRING (ContentInfo content, CertBag value). */
function octets(der: ArrayBuffer): Buffer {
  return buf(AsnConvert.parse(der, OctetString).buffer)
}

/** The SafeContents bytes of one AuthenticatedSafe entry, decrypting EncryptedData. */
function contents(info: ContentInfo, password: string, source: string): Buffer {
  if (info.contentType === ID_DATA) return octets(info.content)
  if (info.contentType !== ID_ENCRYPTED_DATA)
    fail('CERT_MALFORMED', `${source}: PKCS#12 content type ${info.contentType} is not supported (public-key encrypted?)`)
  // EncryptedData ::= SEQUENCE { version INTEGER, encryptedContentInfo EncryptedContentInfo, ... }
  const seq = asn1js.fromBER(info.content).result as asn1js.Sequence
  const eci = AsnConvert.parse(seq.valueBlock.value[1]!.toBER(), EncryptedContentInfo)
  const ec = eci.encryptedContent
  const data = ec?.value !== undefined ? buf(ec.value.buffer) : Buffer.concat((ec?.constructedValue ?? []).map((o) => buf(o.buffer)))
  const algo = eci.contentEncryptionAlgorithm
  return decrypt({ oid: algo.algorithm, params: algo.parameters ? buf(algo.parameters) : undefined }, data, password, source)
}

function decrypt(alg: AlgorithmId, data: Buffer, password: string, source: string): Buffer {
  try {
    return decryptPbe(alg, data, password)
  } catch (e) {
    if (e instanceof UnsupportedAlgorithm)
      throw new IamraError('KEY_UNSUPPORTED', `${source}: PKCS#12 ${e.message} is not supported; re-export with AES (PBES2) or 3DES`, { cause: e })
    throw new IamraError('KEY_PASSWORD_WRONG', `${source}: wrong password for the PKCS#12 file`, { cause: e })
  }
}

/** The password whose MAC verifies: the given one, else empty, else the prompt's answer. */
async function findPassword(pfx: PFX, source: string, opts: PrivateKeyOptions): Promise<string> {
  const mac = pfx.macData?.mac?.digestAlgorithm?.algorithm ? pfx.macData : undefined // asn1-pfx fills in an empty MacData when absent
  const check = (pw: string): boolean => {
    if (mac === undefined) return true // no integrity check: a wrong password shows when decrypting
    const args = [
      mac.mac.digestAlgorithm.algorithm,
      buf(mac.mac.digest.buffer),
      buf(mac.macSalt.buffer),
      mac.iterations || 1,
      octets(pfx.authSafe.content),
    ] as const
    try {
      return macMatches(...args, bmpPassword(pw)) || (pw === '' && macMatches(...args, Buffer.alloc(0)))
    } catch (e) {
      if (e instanceof UnsupportedAlgorithm)
        throw new IamraError('KEY_UNSUPPORTED', `${source}: PKCS#12 ${e.message} is not supported (PBMAC1?); re-export it with openssl pkcs12 -export`, {
          cause: e,
        })
      throw e
    }
  }
  if (opts.password !== undefined) {
    if (check(opts.password)) return opts.password
    return fail('KEY_PASSWORD_WRONG', `${source}: wrong password for the PKCS#12 file`)
  }
  if (check('')) return ''
  const answer = await opts.prompt?.(`Password for the PKCS#12 file ${source}: `)
  if (answer === undefined)
    fail('KEY_PASSWORD_REQUIRED', (name) => `${source} is a password-protected PKCS#12 file: set ${name('passphrase')}`, { field: 'passphrase' })
  if (check(answer)) return answer
  return fail('KEY_PASSWORD_WRONG', `${source}: wrong password for the PKCS#12 file`)
}
