/**
 * A signing identity: the leaf certificate (the one whose public key matches the private key),
 * its chain in issuing order, and a Signer. Everything is checked locally before any network call.
 */
import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto'
import { fail } from '../errors.js'
import { fromKeyObject, type KeyFamily, type Signer } from '../signing/signer.js'
import { decimalSerial, issues, loadCertificates, parseCertificates, validity, type LoadedCertificate } from './certificates.js'
import { readIdentityFile } from './files.js'
import { containsPrivateKey, loadPrivateKey, parsePrivateKey, type PasswordPrompt } from './private-key.js'

export interface IdentityInit {
  /** Certificate files: PEM bundles (full chains allowed, any order) or DER. */
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles?: readonly string[] | undefined
  /** Private key file; when absent, the certificate files are searched for a key block. */
  readonly privateKeyFile?: string | undefined
  readonly password?: string | undefined
  readonly prompt?: PasswordPrompt | undefined
  /** The instant validity is checked at. */
  readonly now: Date
}

export interface Identity {
  readonly leaf: X509Certificate
  readonly leafDer: Buffer
  /** Issuing order: the leaf's issuer first. */
  readonly chain: readonly X509Certificate[]
  readonly chainDer: readonly Buffer[]
  readonly serial: string
  readonly family: KeyFamily
  readonly signer: Signer
  readonly notBefore: Date
  readonly notAfter: Date
  /** Certificates supplied but not in the leaf's issuing path (left out of the chain header). */
  readonly unrelated: readonly LoadedCertificate[]
}

export async function loadIdentity(init: IdentityInit): Promise<Identity> {
  if (init.certificateFiles.length === 0) fail('USAGE', 'no certificate given: pass --certificate FILE')
  const certs: LoadedCertificate[] = []
  let key: KeyObject | undefined
  let keySource = init.privateKeyFile
  for (const file of init.certificateFiles) {
    const bytes = await readIdentityFile(file, 'CERT_UNREADABLE', 'certificate file')
    certs.push(...parseCertificates(bytes, file))
    if (init.privateKeyFile === undefined && key === undefined && containsPrivateKey(bytes)) {
      key = await parsePrivateKey(bytes, file, { password: init.password, prompt: init.prompt })
      keySource = file
    }
  }
  for (const file of init.intermediatesFiles ?? []) certs.push(...(await loadCertificates(file)))
  if (init.privateKeyFile !== undefined) {
    key = await loadPrivateKey(init.privateKeyFile, { password: init.password, prompt: init.prompt })
  }
  if (key === undefined || keySource === undefined) {
    return fail('USAGE', 'no private key given: pass --private-key FILE (or a certificate file that also holds the key)')
  }
  return assemble(certs, key, keySource, init.now)
}

/** Picks the leaf, orders the chain and checks validity; exported for signers whose key is not a file. */
export function assemble(all: readonly LoadedCertificate[], key: KeyObject, keySource: string, now: Date): Identity {
  const certs = dedupe(all)
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const leafEntry = certs.find((c) => c.cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki))
  if (leafEntry === undefined) {
    const files = [...new Set(all.map((c) => c.source.replace(/ \(certificate \d+\)$/, '')))].join(', ')
    return fail('KEY_CERT_MISMATCH', `the private key ${keySource} matches none of the certificates in ${files}`)
  }
  const rest = certs.filter((c) => c !== leafEntry)
  const chain: LoadedCertificate[] = []
  let current = leafEntry
  for (let i = 0; i < rest.length; i++) {
    if (current.cert.checkIssued(current.cert) && current !== leafEntry) break // reached a self-signed root
    const next = rest.find((c) => !chain.includes(c) && issues(c.cert, current.cert))
    if (next === undefined) break
    chain.push(next)
    current = next
  }
  for (const c of [leafEntry, ...chain]) checkValidity(c, now)
  const { notBefore, notAfter } = validity(leafEntry.cert)
  return {
    leaf: leafEntry.cert,
    leafDer: leafEntry.der,
    chain: chain.map((c) => c.cert),
    chainDer: chain.map((c) => c.der),
    serial: decimalSerial(leafEntry.cert),
    family: key.asymmetricKeyType === 'rsa' ? 'RSA' : 'EC',
    signer: fromKeyObject(key, keySource),
    notBefore,
    notAfter,
    unrelated: rest.filter((c) => !chain.includes(c)),
  }
}

function dedupe(certs: readonly LoadedCertificate[]): LoadedCertificate[] {
  const seen = new Set<string>()
  return certs.filter((c) => {
    const fp = c.cert.fingerprint256
    if (seen.has(fp)) return false
    seen.add(fp)
    return true
  })
}

function checkValidity(c: LoadedCertificate, now: Date): void {
  const { notBefore, notAfter } = validity(c.cert)
  const span = `valid from ${notBefore.toISOString()} to ${notAfter.toISOString()}`
  if (now < notBefore) fail('CERT_NOT_YET_VALID', `${c.source}: certificate ${c.cert.subject.replace(/\n/g, ', ')} is not valid yet (${span}); check the clock`)
  if (now > notAfter) fail('CERT_EXPIRED', `${c.source}: certificate ${c.cert.subject.replace(/\n/g, ', ')} expired (${span}); renew it`)
}
