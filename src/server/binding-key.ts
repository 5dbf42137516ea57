/**
 * The cache key of a binding: its settings (token hash, request parameters, region, endpoint) and a
 * digest of the certificate, chain and key bytes read now, so a renewed file or a rebind means a
 * new key. The lineage is the settings alone: keys of one lineage differ only in file contents.
 */
import { createHash } from 'node:crypto'
import type { Binding } from '../binding/store.js'
import { readIdentityFileSync } from '../identity/files.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'

export function bindingLineage(b: Binding): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        b.name,
        b.secretHash,
        b.request,
        b.region ?? null,
        b.endpoint ?? null,
        b.certificateFiles,
        b.intermediatesFiles,
        b.privateKeyFile,
        b.pkcs11Lib ?? null,
        b.reusePin === true,
      ]),
    )
    .digest('hex')
}

/**
 * Synchronous reads on purpose: these are a few small local files on every request, and the
 * thread-pool round trips of fs/promises cost more than the reads (bench/server.mjs). They are
 * bounded: regular files only, at most 1 MiB, opened without blocking (fs/read-bounded.ts).
 */
export function bindingKey(b: Binding, lineage: string = bindingLineage(b)): string {
  const h = createHash('sha256')
  h.update(lineage)
  // Token objects (pkcs11: URIs) are named by the URI; files by their bytes, read now.
  const content = (f: string, code: 'CERT_UNREADABLE' | 'KEY_UNREADABLE', what: string): Buffer =>
    isPkcs11Uri(f) ? Buffer.from(f) : readIdentityFileSync(f, code, what)
  for (const f of b.certificateFiles) h.update(content(f, 'CERT_UNREADABLE', 'certificate file'))
  for (const f of b.intermediatesFiles) h.update(content(f, 'CERT_UNREADABLE', 'certificate file'))
  h.update(content(b.privateKeyFile, 'KEY_UNREADABLE', 'private key file'))
  return h.digest('hex')
}
