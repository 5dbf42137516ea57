/**
 * The signing identity for one call of the provider, from paths, PEM text, bytes or functions (read
 * afresh each time) or from a caller's signer. Errors name the option the bad input came from, and
 * never its content.
 */
import { IamraError } from '../errors.js'
import { optionFields, optionOf } from './error-advice.js'
import { fieldsOf, parseCertificates, type LoadedCertificate } from '../identity/certificates.js'
import { readIdentityFile } from '../identity/files.js'
import { assemble, assembleWithSigner, looksLikePkcs12, type Identity } from '../identity/identity.js'
import { containsPrivateKey, parsePrivateKey, type PrivateKey } from '../identity/private-key.js'
import { CredentialsProviderError, type OptionField } from './credentials-provider-error.js'
import type { IdentityInputs } from './resolve-options.js'
import { toInternalSigner } from './signer.js'
import type { IdentitySource } from './types.js'

interface SourceBytes {
  readonly bytes: Buffer
  /** How messages name it: the path, or the option and the kind of value. */
  readonly label: string
  /** True when iamra read the bytes itself, so it may wipe them (never the caller's buffer). */
  readonly owned: boolean
}

/** Loads and checks the identity; `now` is the instant validity is checked at. */
export async function loadIdentity(inputs: IdentityInputs, now: Date): Promise<Identity> {
  const certSource = await readSource('certificate', inputs.certificate)
  const certs: LoadedCertificate[] = []
  let key: PrivateKey | undefined
  let keyLabel = certSource.label
  await tagged(
    'certificate',
    async () => {
      if (looksLikePkcs12(certSource.bytes)) {
        const { parsePkcs12 } = await import('../identity/pkcs12.js')
        const p12 = await parsePkcs12(certSource.bytes, certSource.label, { password: inputs.passphrase })
        certs.push(...p12.certificates)
        key = p12.key
      } else {
        certs.push(...parseCertificates(certSource.bytes, certSource.label))
        if (inputs.privateKey === undefined && inputs.signer === undefined && containsPrivateKey(certSource.bytes)) {
          key = await parsePrivateKey(certSource.bytes, certSource.label, { password: inputs.passphrase })
        }
      }
    },
    certSource,
  )
  const own = certs.slice()
  for (const source of inputs.intermediates) {
    const s = await readSource('intermediates', source)
    await tagged('intermediates', async () => void certs.push(...parseCertificates(s.bytes, s.label)), s)
  }
  if (inputs.signer !== undefined) {
    const leaf = endEntity(own, certSource.label)
    const signer = toInternalSigner(inputs.signer, leaf.cert)
    return tagged('certificate', async () =>
      assembleWithSigner(certs, { matches: (spki) => fieldsOf(leaf.cert)?.spki.equals(spki) === true, signer, source: 'the signer' }, now, leaf),
    )
  }
  if (inputs.privateKey !== undefined) {
    const s = await readSource('privateKey', inputs.privateKey)
    key = await tagged('privateKey', () => parsePrivateKey(s.bytes, s.label, { password: inputs.passphrase }), s)
    keyLabel = s.label
  }
  if (key === undefined) {
    throw new CredentialsProviderError(`no private key: ${certSource.label} holds none; set privateKey, or signer for a key held elsewhere`, {
      code: 'USAGE',
      fields: ['privateKey', 'signer'],
    })
  }
  const found = key
  return tagged('certificate', async () => assemble(certs, found, keyLabel, now))
}

/** Bytes of one source; the label names a path, or says which option gave what kind of value. */
async function readSource(field: OptionField, source: IdentitySource): Promise<SourceBytes> {
  let value: string | Uint8Array
  if (typeof source === 'function') {
    try {
      value = await source()
    } catch (e) {
      throw new CredentialsProviderError(`${field}: the function given threw: ${(e as Error)?.message ?? String(e)}`, {
        code: unreadable(field),
        fields: [field],
        cause: e,
      })
    }
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new CredentialsProviderError(`${field}: the function given returned neither a string nor bytes`, { code: unreadable(field), fields: [field] })
    }
  } else value = source
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), label: `${field} (bytes)`, owned: false }
  if (value.includes('-----BEGIN ')) return { bytes: Buffer.from(value, 'utf8'), label: `${field} (PEM text)`, owned: true }
  try {
    return {
      bytes: await readIdentityFile(value, unreadable(field), field === 'privateKey' ? 'private key file' : 'certificate file'),
      label: value,
      owned: true,
    }
  } catch (e) {
    throw fromCore(e, field)
  }
}

/** With a signer there is no key to match: the leaf is the one certificate of `certificate` that is not a CA. */
function endEntity(certs: readonly LoadedCertificate[], label: string): LoadedCertificate {
  const leaves = certs.filter((c) => !c.cert.ca)
  if (leaves.length === 1) return leaves[0] as LoadedCertificate
  throw new CredentialsProviderError(
    leaves.length === 0
      ? `${label} holds no end-entity certificate (only CA certificates); with a signer, certificate must hold the signer's certificate`
      : `${label} holds ${leaves.length} end-entity certificates; with a signer, certificate must hold exactly one (its chain may follow, or go in intermediates)`,
    { code: 'KEY_CERT_MISMATCH', fields: ['certificate'] },
  )
}

/** Runs a step of identity loading, tagging core errors with the option they concern; wipes bytes iamra owns. */
async function tagged<T>(field: OptionField, step: () => Promise<T>, wipe?: SourceBytes): Promise<T> {
  try {
    return await step()
  } catch (e) {
    throw fromCore(e, field)
  } finally {
    // Key bytes iamra read itself are wiped once parsed (the KeyObject keeps the key); JS strings cannot be.
    if (wipe?.owned === true) wipe.bytes.fill(0)
  }
}

function fromCore(e: unknown, field: OptionField): unknown {
  if (!(e instanceof IamraError)) return e
  const named = optionFields(e)
  const fields: OptionField[] =
    named.length > 0 ? named : e.code === 'KEY_PASSWORD_WRONG' ? ['passphrase'] : e.code === 'KEY_CERT_MISMATCH' ? ['privateKey', 'certificate'] : [field]
  return new CredentialsProviderError(e.describe(optionOf), { code: e.code, fields, cause: e })
}

function unreadable(field: OptionField): 'KEY_UNREADABLE' | 'CERT_UNREADABLE' {
  return field === 'privateKey' ? 'KEY_UNREADABLE' : 'CERT_UNREADABLE'
}
