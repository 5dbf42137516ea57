/**
 * SigV4-X509 request signing (IAM Roles Anywhere). Pure: the instant, the certificates and the
 * signer are inputs; the result is the headers to send.
 */
import { createHash } from 'node:crypto'
import { amzDate, canonicalHeaders, canonicalUri } from './canonical.js'
import { algorithmFor, type Signer } from './signer.js'

export const SERVICE = 'rolesanywhere'

export interface SignInput {
  readonly method: string
  /** Host header value exactly as sent (with the port when it is not the scheme's default). */
  readonly host: string
  /** Path as sent, e.g. `/sessions` or `/prefix/sessions`. */
  readonly path: string
  /** Canonical query string, already encoded and sorted (it is also what goes on the wire). */
  readonly query: string
  readonly body: Buffer
  readonly region: string
  readonly at: Date
  /** Leaf certificate, DER. */
  readonly leafDer: Buffer
  /** Decimal serial of the leaf. */
  readonly serial: string
  /** Chain certificates (DER), issuer of the leaf first; empty means no chain header. */
  readonly chainDer: readonly Buffer[]
  readonly signer: Signer
  readonly contentType?: string
}

export interface SignedRequest {
  /** Headers to send; includes every signed header and `Authorization`. */
  readonly headers: Record<string, string>
  readonly canonicalRequest: string
  readonly stringToSign: string
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

export async function signRequest(input: SignInput): Promise<SignedRequest> {
  const date = amzDate(input.at)
  const algorithm = algorithmFor(input.signer.family)
  const signed: Record<string, string> = {
    'content-type': input.contentType ?? 'application/json',
    host: input.host,
    'x-amz-date': date,
    'x-amz-x509': input.leafDer.toString('base64'),
  }
  if (input.chainDer.length > 0) signed['x-amz-x509-chain'] = input.chainDer.map((d) => d.toString('base64')).join(',')
  const { block, signedHeaders } = canonicalHeaders(signed)
  const canonicalRequest = [input.method.toUpperCase(), canonicalUri(input.path), input.query, block, signedHeaders, sha256Hex(input.body)].join('\n')
  const scope = `${date.slice(0, 8)}/${input.region}/${SERVICE}/aws4_request`
  const stringToSign = [algorithm, date, scope, sha256Hex(canonicalRequest)].join('\n')
  const signature = (await input.signer.sign(Buffer.from(stringToSign, 'utf8'))).toString('hex')
  const authorization = `${algorithm} Credential=${input.serial}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
  return { headers: { ...signed, authorization }, canonicalRequest, stringToSign }
}
