/**
 * The cache key of a binding: its settings (token hash, request parameters, region, endpoint) and
 * what identifies its certificate, chain and key now (credentials/identity-digests.ts), so a
 * renewed file or a rebind means a new key. The lineage is the settings alone: keys of one lineage
 * differ only in file contents.
 */
import { createHash } from 'node:crypto'
import type { Binding } from '../binding/store.js'
import { identityDigests } from '../credentials/identity-digests.js'
import type { FileDigests } from '../fs/file-digests.js'

/** Far more bindings than one server serves. */
const MAX_LINEAGES = 4096

/** The server's keys: one per server, holding what it remembers of the files it reads on every request. */
export class BindingKeys {
  // The binding lookup hands out the same Binding object while its file is unchanged: one hash each.
  readonly #lineages = new WeakMap<Binding, string>()
  // The key last computed for each lineage, from these digests: unchanged files, no hashing.
  readonly #last = new Map<string, { readonly digests: readonly string[]; readonly key: string }>()

  constructor(readonly files: FileDigests) {}

  lineage(b: Binding): string {
    let lineage = this.#lineages.get(b)
    if (lineage === undefined) {
      lineage = createHash('sha256')
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
      this.#lineages.set(b, lineage)
    }
    return lineage
  }

  /**
   * Synchronous on purpose: a few stats of small local files on every request (and a read of those
   * that changed), where the thread-pool round trips of fs/promises cost more than the work
   * (bench/server.mjs). Reads are bounded: regular files only, at most 1 MiB, opened without blocking.
   */
  key(b: Binding, lineage: string = this.lineage(b)): string {
    const digests = identityDigests(b, this.files)
    const last = this.#last.get(lineage)
    if (last !== undefined && last.digests.length === digests.length && last.digests.every((d, i) => d === digests[i])) return last.key
    const h = createHash('sha256').update(lineage)
    for (const d of digests) h.update(d)
    const key = h.digest('hex')
    // Only the latest key of each lineage; a lineage whose binding is gone is dropped oldest first.
    this.#last.delete(lineage)
    if (this.#last.size >= MAX_LINEAGES) this.#last.delete(this.#last.keys().next().value as string)
    this.#last.set(lineage, { digests, key })
    return key
  }
}
