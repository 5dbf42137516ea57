/**
 * SigV4 canonicalisation pieces (RFC 3986 encoding, canonical query, canonical headers).
 * Pure functions over strings; no clock, no keys.
 */

const UNRESERVED = /[A-Za-z0-9\-_.~]/

/** Percent-encodes UTF-8 bytes; only A-Z a-z 0-9 - _ . ~ stay literal, hex is upper case. */
export function uriEncode(value: string, keepSlash = false): string {
  let out = ''
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte)
    if (byte < 0x80 && (UNRESERVED.test(ch) || (keepSlash && ch === '/'))) out += ch
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The canonical (and, in iamra, the on-the-wire) query string: encoded, sorted by name then value. */
export function canonicalQuery(params: ReadonlyArray<readonly [string, string]>): string {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

/**
 * Canonical URI for every service but S3: each segment of the path *as sent* (already
 * percent-encoded on the wire) is encoded once more, so `/my%20prefix` becomes `/my%2520prefix`.
 */
export function canonicalUri(path: string): string {
  if (path === '') return '/'
  return path
    .split('/')
    .map((seg) => uriEncode(seg))
    .join('/')
}

export interface CanonicalHeaders {
  /** `name:value\n` lines, sorted by name. */
  readonly block: string
  /** Sorted lower-case names joined by `;`. */
  readonly signedHeaders: string
}

/** Lower-cases names, trims values and folds inner whitespace runs; joins repeats with ",". */
export function canonicalHeaders(headers: Readonly<Record<string, string>>): CanonicalHeaders {
  const merged = new Map<string, string[]>()
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase()
    const list = merged.get(key) ?? []
    list.push(value.trim().replace(/\s+/g, ' '))
    merged.set(key, list)
  }
  const names = [...merged.keys()].sort()
  return {
    block: names.map((n) => `${n}:${(merged.get(n) ?? []).join(',')}\n`).join(''),
    signedHeaders: names.join(';'),
  }
}

/** `YYYYMMDDTHHMMSSZ` for the given instant, in UTC. */
export function amzDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
}
