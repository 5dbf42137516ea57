/**
 * Recognising secret material where it does not belong (a key pasted where a path goes) and
 * keeping it out of every message: PEM blocks, long base64 runs and multi-line values are never
 * quoted back. This is what a CI log, which is kept and shared, must never show.
 */

/** A PEM armour line, complete or cut. */
const PEM_MARKER = /-----(BEGIN|END) [A-Z0-9 ]*/
/**
 * Base64 of DER (a SEQUENCE: `M…`) or of PEM (`-----`: `LS0t…`), at least 48 bytes, on one line:
 * a pasted key or certificate body. A path of that length made only of base64 letters is not seen.
 */
const BASE64_RUN = /^(M|LS0t)[A-Za-z0-9+/_-]{62,}={0,2}$/

/** True when a command-line value looks like the contents of a key or certificate rather than a name. */
export function looksLikeKeyMaterial(value: string, opts: { secretFlag?: boolean } = {}): boolean {
  if (PEM_MARKER.test(value)) return true
  // A long random password is legitimate; only armour or line breaks betray a key there.
  if (opts.secretFlag === true) return false
  const compact = value.replace(/\\n|\s+/g, '')
  return BASE64_RUN.test(compact)
}

/**
 * Replaces PEM blocks (whole or cut) and long base64 runs in a message: the last line of defence
 * for text built from a value we did not expect to hold a secret.
 */
export function redactKeyMaterial(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(-----END [A-Z0-9 ]*-----|$)/g, '[key material not shown]')
    .replace(/-----END [A-Z0-9 ]*-----/g, '[key material not shown]')
    .replace(/[A-Za-z0-9+/]{64,}={0,2}/g, (run) => (/^[0-9a-f]+$/i.test(run) ? run : '[base64 not shown]')) // hex digests stay
}
