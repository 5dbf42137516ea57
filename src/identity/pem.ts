/** PEM block splitting: finds every `-----BEGIN X-----` block, ignoring text between blocks. */

export interface PemBlock {
  readonly label: string
  /** The whole block, BEGIN to END line, as it appears in the file. */
  readonly text: string
  /** Base64 body decoded; undefined for blocks with RFC 1421 headers (legacy encrypted keys). */
  readonly der: Buffer | undefined
  readonly encryptedLegacy: boolean
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g

export function splitPem(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1] ?? ''
    const body = m[2] ?? ''
    const hasHeaders = /^[A-Za-z-]+:/m.test(body)
    const encryptedLegacy = /^Proc-Type:\s*4,ENCRYPTED/m.test(body)
    const der = hasHeaders ? undefined : Buffer.from(body.replace(/\s+/g, ''), 'base64')
    blocks.push({ label, text: m[0], der, encryptedLegacy })
  }
  return blocks
}

/** True when the bytes look like PEM text rather than binary DER. */
export function looksLikePem(bytes: Buffer): boolean {
  return bytes.includes('-----BEGIN ')
}
