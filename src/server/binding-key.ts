/**
 * The cache key of a binding: its token hash, request parameters, region and endpoint, and a digest
 * of the certificate, chain and key bytes read now, so a renewed file or a rebind means a new key.
 */
import { createHash } from 'node:crypto'
import type { Binding } from '../binding/store.js'
import { readIdentityFileSync } from '../identity/files.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'

/**
 * Synchronous reads on purpose: these are a few small local files on every request, and the
 * thread-pool round trips of fs/promises cost more than the reads (bench/server.mjs).
 */
export function bindingKey(b: Binding): string {
  const h = createHash('sha256')
  h.update(JSON.stringify([b.name, b.secretHash, b.request, b.region ?? null, b.endpoint ?? null]))
  // Token objects (pkcs11: URIs) are named by the URI; files by their bytes, read now.
  const content = (f: string, code: 'CERT_UNREADABLE' | 'KEY_UNREADABLE', what: string): Buffer =>
    isPkcs11Uri(f) ? Buffer.from(f) : readIdentityFileSync(f, code, what)
  for (const f of b.certificateFiles) h.update(content(f, 'CERT_UNREADABLE', 'certificate file'))
  for (const f of b.intermediatesFiles) h.update(content(f, 'CERT_UNREADABLE', 'certificate file'))
  h.update(content(b.privateKeyFile, 'KEY_UNREADABLE', 'private key file'))
  h.update(JSON.stringify([b.pkcs11Lib ?? null, b.reusePin === true]))
  return h.digest('hex')
}
