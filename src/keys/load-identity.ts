/**
 * Loads an identity with its key from wherever the inputs say: a `pkcs11:` URI goes to the PKCS#11
 * backend, a TSS2 PRIVATE KEY file or `handle:0x81…` to the TPM, anything else to the file loader
 * (src/identity). Commands and services call this, never a backend directly.
 */
import { type Identity, type IdentityInit, type KeyHandle, isKeyReference, loadIdentity as loadFileIdentity } from '../identity/identity.js'
import type { TpmKey } from '../tpm/tpm-key.js'
import type { KeyBackends } from './key-backends.js'

const isPkcs11 = (v: string | undefined): boolean => v !== undefined && /^pkcs11:/i.test(v)
const TSS2_BEGIN = '-----BEGIN TSS2 PRIVATE KEY-----'

/** True when loading this identity needs PKCS#11 (a `pkcs11:` certificate or key). */
export function usesPkcs11(init: Pick<IdentityInit, 'certificateFiles' | 'privateKeyFile'>): boolean {
  return init.certificateFiles.some(isPkcs11) || isPkcs11(init.privateKeyFile)
}

/** True when a --private-key value (and the bytes of its file) name a TPM key. */
export function isTpmKey(reference: string, bytes: Buffer | undefined): boolean {
  return isKeyReference(reference) || bytes?.includes(TSS2_BEGIN) === true
}

export async function loadIdentity(init: IdentityInit, keys: KeyBackends): Promise<Identity> {
  if (init.certificateFiles.length > 0 && usesPkcs11(init)) return (await keys.pkcs11()).loadIdentity(init)
  return loadFileIdentity(init, async (_reference, bytes): Promise<KeyHandle | undefined> => {
    const key = await loadTpmKeyIfAny(init, bytes, keys)
    return key === undefined ? undefined : { matches: (spki) => spki.equals(key.spki), signer: key.signer, source: key.source }
  })
}

/** The TPM key named by --private-key (`handle:0x81…`, or a file whose bytes hold a TSS2 PRIVATE KEY), or undefined. */
export async function loadTpmKeyIfAny(init: Omit<IdentityInit, 'now'>, bytes: Buffer | undefined, keys: KeyBackends): Promise<TpmKey | undefined> {
  const ref = init.privateKeyFile
  if (ref === undefined || !isTpmKey(ref, bytes)) return undefined
  return keys.tpmKey({
    reference: ref,
    bytes,
    password: init.tpmKeyPassword,
    noPassword: init.noTpmKeyPassword,
    passwordFile: init.tpmKeyPasswordFile,
    prompt: init.prompt,
  })
}
