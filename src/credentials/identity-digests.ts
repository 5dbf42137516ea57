/**
 * What identifies a binding's certificate and key right now, for cache keys: the digest of each
 * certificate, chain and key file (remembered while the file is unchanged, see fs/file-digests.ts),
 * or, for a token object, its pkcs11: URI. Renewed files give new digests, so a new cache key.
 */
import type { FileDigests } from '../fs/file-digests.js'
import { readIdentityFileSync } from '../identity/files.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'

export interface IdentityFileSet {
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles: readonly string[]
  readonly privateKeyFile: string
}

const readCertificate = (path: string): Buffer => readIdentityFileSync(path, 'CERT_UNREADABLE', 'certificate file')
const readKey = (path: string): Buffer => readIdentityFileSync(path, 'KEY_UNREADABLE', 'private key file')

/** One string per input, in order: certificates, intermediates, key. Throws the read error of a missing or unreadable file. */
export function identityDigests(files: IdentityFileSet, digests: FileDigests): string[] {
  const of = (path: string, read: (path: string) => Buffer): string => (isPkcs11Uri(path) ? `pkcs11 ${path}` : digests.digest(path, read))
  return [
    ...files.certificateFiles.map((f) => of(f, readCertificate)),
    ...files.intermediatesFiles.map((f) => of(f, readCertificate)),
    of(files.privateKeyFile, readKey),
  ]
}
