/**
 * The pkcs11js native binding, from node_modules. The single executables replace this module at
 * bundle time with dev/package/sea-pkcs11js.cjs, which loads the addon file shipped beside the
 * binary or under /usr/lib/iamra.
 */
import { createRequire } from 'node:module'

export function requirePkcs11js(): unknown {
  return createRequire(import.meta.url)('pkcs11js')
}
