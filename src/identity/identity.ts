/**
 * A signing identity: the leaf certificate (the one whose public key matches the private key),
 * its chain in issuing order, and a Signer. Everything is checked locally before any network call.
 * This file loads certificates and software keys from PEM/DER and PKCS#12 files (the PKCS#12 code
 * only when such a file is given); keys held elsewhere (a TPM) come in through a `KeyResolver`, and
 * PKCS#11 tokens are handled above this module: src/keys picks the backend for an input.
 */
import { createPublicKey, type X509Certificate } from 'node:crypto'
import { fail } from '../errors.js'
import { mlDsaSigner } from '../mldsa/signer.js'
import { fromKeyObject, type KeyFamily, type Signer } from '../signing/signer.js'
import {
  certificateMlDsaLevel,
  decimalSerial,
  fieldsOf,
  issues,
  loadCertificates,
  parseCertificates,
  validity,
  type LoadedCertificate,
} from './certificates.js'
import { readIdentityFile, type IdentityFileReader } from './files.js'
import { containsPrivateKey, parsePrivateKey, type PasswordPrompt, type PrivateKey } from './private-key.js'

export interface IdentityInit {
  /** Certificate files: PEM bundles (full chains allowed, any order), DER, PKCS#12, or one `pkcs11:` URI. */
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles?: readonly string[] | undefined
  /** Private key file or `pkcs11:` URI; when absent, the certificate files are searched for a key. */
  readonly privateKeyFile?: string | undefined
  /** Encrypted PKCS#8 or PKCS#12 password. */
  readonly password?: string | undefined
  /** Asks for passwords and PINs on the terminal. */
  readonly prompt?: PasswordPrompt | undefined
  /** PKCS#11 module for `pkcs11:` URIs without module-path (default: p11-kit-proxy). */
  readonly pkcs11Lib?: string | undefined
  /** Use the token's user PIN for the context-specific login of always-authenticate keys. */
  readonly reusePin?: boolean | undefined
  /** How certificate and key inputs are read (default: bounded reads of regular files). */
  readonly readFile?: IdentityFileReader | undefined
  /** TPM keys (a TSS2 PRIVATE KEY file or `handle:0x81…`): the password, or none, or a file holding it. */
  readonly tpmKeyPassword?: string | undefined
  readonly noTpmKeyPassword?: boolean | undefined
  readonly tpmKeyPasswordFile?: string | undefined
  /** The instant validity is checked at. */
  readonly now: Date
}

/** A private key that may live outside the process (a token): its public half and a Signer. */
export interface KeyHandle {
  /** True when a certificate's SubjectPublicKeyInfo (DER) is this key's public key. */
  readonly matches: (spki: Buffer) => boolean
  readonly signer: Signer
  /** Where the key is, for messages: a file name or a pkcs11: URI. */
  readonly source: string
}

/**
 * A key the file loader does not read itself (a TPM key), given the --private-key value and its
 * bytes (undefined for a reference that is not a file, such as `handle:0x81…`): its handle, or
 * undefined when it is an ordinary key file.
 */
export type KeyResolver = (reference: string, bytes: Buffer | undefined) => Promise<KeyHandle | undefined>

/** True for a --private-key value that names no file (a TPM persistent handle). */
export const isKeyReference = (v: string): boolean => /^handle:/i.test(v)

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

/**
 * The identity from certificate and key files; a key `resolveKey` claims (a TPM key) signs in
 * place of a software key. `pkcs11:` inputs are not files: src/keys loads those.
 */
export async function loadIdentity(init: IdentityInit, resolveKey?: KeyResolver): Promise<Identity> {
  if (init.certificateFiles.length === 0) fail('USAGE', (name) => `no certificate given: give one with ${name('certificate')}`, { field: 'certificate' })
  const certs: LoadedCertificate[] = []
  let key: PrivateKey | undefined
  let keySource = init.privateKeyFile
  const read = init.readFile ?? readIdentityFile
  for (const file of init.certificateFiles) {
    const bytes = await read(file, 'CERT_UNREADABLE', 'certificate file')
    if (looksLikePkcs12(bytes)) {
      const p12 = await (await import('./pkcs12.js')).parsePkcs12(bytes, file, { password: init.password, prompt: init.prompt })
      certs.push(...p12.certificates)
      if (init.privateKeyFile === undefined && key === undefined && p12.key !== undefined) [key, keySource] = [p12.key, file]
      continue
    }
    certs.push(...parseCertificates(bytes, file))
    if (init.privateKeyFile === undefined && key === undefined && containsPrivateKey(bytes)) {
      key = await parsePrivateKey(bytes, file, { password: init.password, prompt: init.prompt })
      keySource = file
    }
  }
  for (const file of init.intermediatesFiles ?? []) certs.push(...(await loadCertificates(file, read)))
  if (init.privateKeyFile !== undefined) {
    const bytes =
      resolveKey !== undefined && isKeyReference(init.privateKeyFile) ? undefined : await read(init.privateKeyFile, 'KEY_UNREADABLE', 'private key file')
    const held = await resolveKey?.(init.privateKeyFile, bytes)
    if (held !== undefined) return assembleWithSigner(certs, held, init.now)
    key = await parsePrivateKey(bytes!, init.privateKeyFile, { password: init.password, prompt: init.prompt })
  }
  if (key === undefined || keySource === undefined) {
    return fail('USAGE', (name) => `no private key given: give one with ${name('privateKey')} (or a ${name('certificate')} file that also holds the key)`, {
      field: 'privateKey',
    })
  }
  await prepareMlDsa(certs)
  return assemble(certs, key, keySource, init.now)
}

/** PKCS#12 (PFX) DER: SEQUENCE { INTEGER 3, ContentInfo ... }; an X.509 certificate starts with a SEQUENCE instead. */
export function looksLikePkcs12(bytes: Buffer): boolean {
  if (bytes.length < 8 || bytes[0] !== 0x30) return false
  const lenBytes = bytes[1]! < 0x80 ? 0 : bytes[1]! & 0x7f
  const at = 2 + lenBytes
  return bytes[at] === 0x02 && bytes[at + 1] === 0x01 && bytes[at + 2] === 0x03 && bytes[at + 3] === 0x30
}

/** Loads the ML-DSA code when a certificate has an ML-DSA key, so that chains through it can be checked. */
export async function prepareMlDsa(certs: readonly LoadedCertificate[]): Promise<void> {
  if (certs.some((c) => certificateMlDsaLevel(c.cert) !== undefined)) await (await import('../mldsa/noble.js')).loadMlDsa()
}

/** Picks the leaf, orders the chain and checks validity, for an in-memory key. */
export function assemble(all: readonly LoadedCertificate[], key: PrivateKey, keySource: string, now: Date): Identity {
  if ('kind' in key) {
    return assembleWithSigner(all, { matches: key.matches, signer: mlDsaSigner(key), source: keySource }, now)
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  return assembleWithSigner(all, { matches: (s) => s.equals(spki), signer: fromKeyObject(key, keySource), source: keySource }, now)
}

/**
 * Picks the leaf (the certificate whose public key is the key's, or `preferredLeaf`), keeps only
 * the certificates that issue it, in issuing order, and checks validity; for keys on tokens too.
 */
export function assembleWithSigner(all: readonly LoadedCertificate[], key: KeyHandle, now: Date, preferredLeaf?: LoadedCertificate): Identity {
  const certs = dedupe(preferredLeaf === undefined ? all : [preferredLeaf, ...all])
  const leafEntry = certs.find((c) => {
    const spki = fieldsOf(c.cert)?.spki
    return spki !== undefined && key.matches(spki)
  })
  if (leafEntry === undefined) {
    const files = [...new Set(all.map((c) => c.source.replace(/ \(certificate \d+\)$/, '')))].join(', ')
    return fail('KEY_CERT_MISMATCH', `the private key ${key.source} matches none of the certificates in ${files}`)
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
    family: key.signer.family,
    signer: key.signer,
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
