/**
 * What `serve` looks at when it starts, so a misconfiguration shows in the log at once: does the
 * configuration directory exist, how many bindings are there, and when do their certificates
 * expire (so /healthz warns from the start, not only after each binding's first request).
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { isValidName } from '../binding/names.js'
import { loadCertificates, validity } from '../identity/certificates.js'
import { isPkcs11Uri } from '../pkcs11/uri.js'
import type { BindingLookup } from './binding-lookup.js'

export interface Inventory {
  readonly directoryExists: boolean
  readonly bindingsDirectoryExists: boolean
  /** Binding names with a file under bindings/. */
  readonly names: readonly string[]
}

export function inventory(dir: string): Inventory {
  const bindings = join(dir, 'bindings')
  let names: string[] = []
  let bindingsDirectoryExists = true
  try {
    names = readdirSync(bindings)
      .filter((f) => f.endsWith('.json') && isValidName(f.slice(0, -5)))
      .map((f) => f.slice(0, -5))
      .sort()
  } catch {
    bindingsDirectoryExists = false
  }
  return { directoryExists: existsSync(dir), bindingsDirectoryExists, names }
}

/** The start-up log lines: one info line, plus a warning when nothing can be served. */
export function describeInventory(dir: string, inv: Inventory): { info: string; warning: string | undefined } {
  const info = `configuration directory ${dir}: ${inv.names.length} binding(s)`
  if (!inv.directoryExists)
    return {
      info,
      warning: `the configuration directory ${dir} does not exist: every request will be refused until bindings are created there (iamra bind NAME --configuration-directory ${dir} ...)`,
    }
  if (inv.names.length === 0)
    return { info, warning: `no bindings in ${join(dir, 'bindings')}: every request will be refused until one is created (iamra bind NAME ...)` }
  return { info, warning: undefined }
}

/**
 * Reads each binding's certificate files (bounded, regular files only) and reports the earliest
 * notAfter among them; a binding that cannot be read is reported to `problem` and skipped (it
 * fails alone when asked for). Token-held certificates (pkcs11: URIs) are seen at first use.
 */
export async function scanCertificateExpiry(
  lookup: BindingLookup,
  names: readonly string[],
  record: (binding: string, notAfter: Date) => void,
  problem: (binding: string, message: string) => void,
): Promise<void> {
  for (const name of names) {
    try {
      const found = lookup.lookup(name)
      if (!found.found) continue
      let earliest: Date | undefined
      for (const file of found.binding.certificateFiles) {
        if (isPkcs11Uri(file)) continue
        for (const c of await loadCertificates(file)) {
          const { notAfter } = validity(c.cert)
          if (earliest === undefined || notAfter < earliest) earliest = notAfter
        }
      }
      if (earliest !== undefined) record(name, earliest)
    } catch (e) {
      problem(name, e instanceof Error ? e.message : String(e))
    }
  }
}
