/**
 * The cache key of a binding: its token hash, request parameters, region and endpoint, and a digest
 * of the certificate, chain and key bytes read now, so a renewed file or a rebind means a new key.
 */
import { createHash } from 'node:crypto'
import type { Binding } from '../binding/store.js'
import { readIdentityFileSync } from '../identity/files.js'

/**
 * Synchronous reads on purpose: these are a few small local files on every request, and the
 * thread-pool round trips of fs/promises cost more than the reads (bench/server.mjs).
 */
export function bindingKey(b: Binding): string {
  const h = createHash('sha256')
  h.update(JSON.stringify([b.name, b.secretHash, b.request, b.region ?? null, b.endpoint ?? null]))
  for (const f of b.certificateFiles) h.update(readIdentityFileSync(f, 'CERT_UNREADABLE', 'certificate file'))
  for (const f of b.intermediatesFiles) h.update(readIdentityFileSync(f, 'CERT_UNREADABLE', 'certificate file'))
  h.update(readIdentityFileSync(b.privateKeyFile, 'KEY_UNREADABLE', 'private key file'))
  return h.digest('hex')
}
