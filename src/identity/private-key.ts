/**
 * Private keys from files: PKCS#1, PKCS#8, SEC1 (with or without a leading EC PARAMETERS block),
 * encrypted PKCS#8 (PBES2) and legacy encrypted PEM, or DER. RSA, EC P-256/P-384/P-521, and
 * ML-DSA-44/65/87 in PKCS#8 (seed, expanded or both forms; the ML-DSA code loads only for those).
 */
import { createPrivateKey, KeyObject } from 'node:crypto'
import { IamraError, fail } from '../errors.js'
import type { MlDsaPrivateKey } from './mldsa-private-key.js'
import { children, oidString, parseOne, TAG } from './der.js'
import { readIdentityFile, type IdentityFileReader } from './files.js'
import { looksLikePem, splitPem } from './pem.js'

/** A key in memory: a node KeyObject (RSA, EC) or an ML-DSA key (node 20 has no ML-DSA KeyObject). */
export type PrivateKey = KeyObject | MlDsaPrivateKey

/** The ML-DSA code, loaded only when such a key is met. */
const mlDsaKeys = (): Promise<typeof import('./mldsa-private-key.js')> => import('./mldsa-private-key.js')

/** Asks for a password (on the terminal in production); returns undefined when nobody can answer. */
export type PasswordPrompt = (message: string) => Promise<string | undefined>

export interface PrivateKeyOptions {
  readonly password?: string | undefined
  readonly prompt?: PasswordPrompt | undefined
  /** How the file is read (default: a bounded read of a regular file). */
  readonly read?: IdentityFileReader | undefined
}

const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'])
const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }

/** Returns true when the file's bytes hold a private key block (for combined cert+key files). */
export function containsPrivateKey(bytes: Buffer): boolean {
  return looksLikePem(bytes) && splitPem(bytes.toString('utf8')).some((b) => KEY_LABELS.has(b.label))
}

export async function loadPrivateKey(path: string, opts: PrivateKeyOptions = {}): Promise<PrivateKey> {
  const bytes = await (opts.read ?? readIdentityFile)(path, 'KEY_UNREADABLE', 'private key file')
  return parsePrivateKey(bytes, path, opts)
}

export async function parsePrivateKey(bytes: Buffer, source: string, opts: PrivateKeyOptions = {}): Promise<PrivateKey> {
  const key = looksLikePem(bytes) ? await fromPem(bytes.toString('utf8'), source, opts) : await fromDer(bytes, source)
  if (!(key instanceof KeyObject)) return key
  // A runtime with native ML-DSA (Node 24) opens such keys itself; use one code path for them.
  if (key.asymmetricKeyType?.startsWith('ml-dsa') === true) return (await mlDsaKeys()).parseMlDsaPkcs8(key.export({ type: 'pkcs8', format: 'der' }), source)
  checkSupported(key, source)
  return key
}

async function fromPem(text: string, source: string, opts: PrivateKeyOptions): Promise<PrivateKey> {
  const block = splitPem(text).find((b) => KEY_LABELS.has(b.label))
  if (block === undefined) {
    fail('KEY_MALFORMED', `${source}: no private key found (expected a PEM block PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)`)
  }
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || block.encryptedLegacy
  if (block.label === 'PRIVATE KEY' && block.der !== undefined && (await mlDsaLevelOf(block.der)) !== undefined) {
    return (await mlDsaKeys()).parseMlDsaPkcs8(block.der, source)
  }
  if (!encrypted) return tryCreate(() => createPrivateKey({ key: block.text, format: 'pem' }), source)
  let password = opts.password
  if (password === undefined && opts.prompt !== undefined) {
    password = await opts.prompt(`Password for the encrypted private key ${source}: `)
  }
  if (password === undefined) {
    fail('KEY_PASSWORD_REQUIRED', (name) => `${source} is encrypted: set ${name('passphrase')}`, { field: 'passphrase' })
  }
  try {
    return createPrivateKey({ key: block.text, format: 'pem', passphrase: password })
  } catch (e) {
    const code = (e as { code?: string }).code ?? ''
    if (/BAD_DECRYPT|DECRYPT|INTERRUPTED_OR_CANCELLED/.test(code) || /bad decrypt/i.test((e as Error).message)) {
      throw new IamraError('KEY_PASSWORD_WRONG', `${source}: wrong password for the encrypted private key`, { cause: e })
    }
    // Node 20 decrypts, then cannot read an ML-DSA key: decrypt it here and look inside.
    const inner = block.label === 'ENCRYPTED PRIVATE KEY' && block.der !== undefined ? await decryptPkcs8(block.der, password) : undefined
    if (inner !== undefined && (await mlDsaLevelOf(inner)) !== undefined) return (await mlDsaKeys()).parseMlDsaPkcs8(inner, source)
    // About one wrong password in 256 leaves valid-looking padding: what comes out is then no key at all,
    // and OpenSSL names the parse failure (ERR_OSSL_UNSUPPORTED, ASN.1 errors) rather than the password.
    if (inner !== undefined) {
      try {
        return createPrivateKey({ key: inner, format: 'der', type: 'pkcs8' })
      } catch {
        throw new IamraError('KEY_PASSWORD_WRONG', `${source}: wrong password for the encrypted private key`, { cause: e })
      }
    }
    throw new IamraError('KEY_MALFORMED', `${source}: cannot decrypt the private key (${code || (e as Error).message}); PBES2 with AES is supported`, {
      cause: e,
    })
  }
}

/** The PrivateKeyInfo inside an EncryptedPrivateKeyInfo (PBES2), or undefined when it cannot be read. */
async function decryptPkcs8(der: Buffer, password: string): Promise<Buffer | undefined> {
  try {
    const [alg, data] = children(parseOne(der, TAG.SEQUENCE))
    const [algOid, params] = alg === undefined ? [] : children(alg)
    if (algOid === undefined || data?.tag !== TAG.OCTET_STRING) return undefined
    const { decryptPbe } = await import('./pkcs12-pbe.js')
    return decryptPbe({ oid: oidString(algOid), params: params?.raw }, data.value, password)
  } catch {
    return undefined
  }
}

async function mlDsaLevelOf(der: Buffer): Promise<number | undefined> {
  // Cheap check first (is the algorithm OID one of ML-DSA's?) so that other keys never load the module.
  if (!der.includes(Buffer.from('0609608648016503040311', 'hex').subarray(0, 10))) return undefined
  return (await mlDsaKeys()).pkcs8MlDsaLevel(der)
}

async function fromDer(der: Buffer, source: string): Promise<PrivateKey> {
  if ((await mlDsaLevelOf(der)) !== undefined) return (await mlDsaKeys()).parseMlDsaPkcs8(der, source)
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return createPrivateKey({ key: der, format: 'der', type })
    } catch {
      // try the next encoding
    }
  }
  return fail('KEY_MALFORMED', `${source}: not a PEM file and not a DER private key (PKCS#8, PKCS#1 or SEC1)`)
}

function tryCreate(make: () => KeyObject, source: string): KeyObject {
  try {
    return make()
  } catch (e) {
    throw new IamraError('KEY_MALFORMED', `${source}: malformed private key (${(e as Error).message})`, { cause: e })
  }
}

function checkSupported(key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < 2048) fail('KEY_UNSUPPORTED', `${source}: RSA key of ${bits} bits; use at least 2048 bits`)
    return
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown'
    if (CURVES[curve] !== undefined) return
    fail('KEY_UNSUPPORTED', `${source}: EC curve ${curve} is not supported; use P-256, P-384 or P-521`)
  }
  fail('KEY_UNSUPPORTED', `${source}: unsupported key type ${type ?? 'unknown'}; use an RSA or EC (P-256, P-384, P-521) key`)
}
