/**
 * PKCS#11 URIs (RFC 7512): parsing, formatting and redaction. A URI is a search term over tokens
 * and objects, not a unique name: `pkcs11:token=x;object=y;id=%01?pin-source=/etc/pin`.
 */
import { IamraError } from '../errors.js'

export interface Pkcs11Uri {
  /** Token and slot attributes: token, manufacturer, model, serial, slot-id, slot-description, slot-manufacturer. */
  readonly token: Readonly<Record<string, string>>
  /** CKA_LABEL. */
  readonly object?: string | undefined
  /** CKA_ID, as bytes. */
  readonly id?: Buffer | undefined
  /** cert, private, public, secret-key or data; informational (the search class is fixed by the use). */
  readonly type?: string | undefined
  readonly pinValue?: string | undefined
  readonly pinSource?: string | undefined
  readonly modulePath?: string | undefined
  /** The URI with any pin-value hidden, for messages. */
  readonly display: string
}

const TOKEN_ATTRS = ['token', 'manufacturer', 'model', 'serial', 'slot-id', 'slot-description', 'slot-manufacturer']
const TYPES = ['cert', 'private', 'public', 'secret-key', 'data']

export function isPkcs11Uri(value: string | undefined): value is string {
  return value !== undefined && /^pkcs11:/i.test(value)
}

/**
 * Hides pin-value in any text that may contain a URI, wherever it stands (query or, wrongly, path)
 * and however its name is percent-encoded.
 */
export function redactPin(text: string): string {
  return text.replace(/([?&;:](?:pin|%70|%50)(?:-|%2d)(?:value|%76alue)=)[^&;?\s]*/gi, '$1***').replace(/((?:pin|%70|%50)(?:-|%2d)value=)[^&;?\s]*/gi, '$1***')
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  const display = redactPin(text)
  const bad = (why: string): never => {
    throw new IamraError('HSM_URI_INVALID', `invalid PKCS#11 URI ${display}: ${why}`)
  }
  if (!isPkcs11Uri(text)) bad('it must start with pkcs11:')
  const rest = text.slice('pkcs11:'.length)
  const q = rest.indexOf('?')
  const path = q < 0 ? rest : rest.slice(0, q)
  const query = q < 0 ? '' : rest.slice(q + 1)
  const token: Record<string, string> = {}
  const out: { -readonly [K in keyof Pkcs11Uri]?: Pkcs11Uri[K] } = { display }
  const seen = new Set<string>()
  for (const part of path.split(';').filter((p) => p !== '')) {
    const [name, raw] = splitPair(part, bad)
    if (seen.has(name)) bad(`${name} appears twice`)
    seen.add(name)
    const bytes = decode(raw, bad)
    if (name === 'id') out.id = bytes
    else if (name === 'object') out.object = bytes.toString('utf8')
    else if (name === 'type') {
      out.type = bytes.toString('utf8')
      if (!TYPES.includes(out.type)) bad(`type must be one of ${TYPES.join(', ')}`)
    } else if (TOKEN_ATTRS.includes(name)) token[name] = bytes.toString('utf8')
    else bad(`unknown path attribute "${name}" (supported: ${[...TOKEN_ATTRS, 'object', 'id', 'type'].join(', ')})`)
  }
  if (token['slot-id'] !== undefined && !/^\d+$/.test(token['slot-id'])) bad('slot-id must be a decimal number')
  for (const part of query.split('&').filter((p) => p !== '')) {
    const [name, raw] = splitPair(part, bad)
    const value = decode(raw, bad).toString('utf8')
    if (name === 'pin-value') out.pinValue = value
    else if (name === 'pin-source') out.pinSource = value
    else if (name === 'module-path') out.modulePath = value
    // other query attributes (module-name, vendor ones) are ignored, as RFC 7512 allows
  }
  if (out.pinValue !== undefined && out.pinSource !== undefined) bad('give pin-value or pin-source, not both')
  return { ...out, token, display }
}

function splitPair(part: string, bad: (why: string) => never): [string, string] {
  const eq = part.indexOf('=')
  if (eq <= 0) bad(`"${redactPin(`?${part}`).slice(1)}" is not attribute=value`)
  return [part.slice(0, eq).toLowerCase(), part.slice(eq + 1)]
}

function decode(raw: string, bad: (why: string) => never): Buffer {
  const bytes: number[] = []
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? ''
    if (ch !== '%') {
      bytes.push(...Buffer.from(ch, 'utf8'))
      continue
    }
    const hex = raw.slice(i + 1, i + 3)
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) bad(`bad percent-encoding near "%${hex}"`)
    bytes.push(parseInt(hex, 16))
    i += 2
  }
  return Buffer.from(bytes)
}

/** Percent-encodes a value; `all` encodes every byte (for CKA_ID). */
export function encodeValue(value: string | Buffer, all = false): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  let out = ''
  for (const b of bytes) {
    const ch = String.fromCharCode(b)
    out += !all && /^[A-Za-z0-9\-._~:@!$'()*+,]$/.test(ch) ? ch : `%${b.toString(16).padStart(2, '0')}`
  }
  return out
}

/**
 * Formats a URI naming one object: token, manufacturer, model and serial (slot attributes are left
 * out: slot ids change when tokens are added or p11-kit renumbers them), then id, object and type.
 * No PIN, ever.
 */
export function formatPkcs11Uri(attrs: {
  readonly token: Readonly<Record<string, string>>
  readonly object?: string | undefined
  readonly id?: Buffer | undefined
  readonly type?: string | undefined
}): string {
  const parts: string[] = []
  for (const name of ['token', 'manufacturer', 'model', 'serial']) {
    const v = attrs.token[name]
    if (v !== undefined && v !== '') parts.push(`${name}=${encodeValue(v)}`)
  }
  if (attrs.id !== undefined && attrs.id.length > 0) parts.push(`id=${encodeValue(attrs.id, true)}`)
  if (attrs.object !== undefined && attrs.object !== '') parts.push(`object=${encodeValue(attrs.object)}`)
  if (attrs.type !== undefined) parts.push(`type=${attrs.type}`)
  return `pkcs11:${parts.join(';')}`
}
