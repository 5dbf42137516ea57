// Builds CreateSession requests for the fake endpoint: with the real signer (round trips) or by hand (malformed on purpose).
import { sign as cryptoSign } from 'node:crypto'
import { canonicalQuery } from '../../src/signing/canonical.js'
import { fromKeyObject } from '../../src/signing/signer.js'
import { signRequest } from '../../src/signing/sigv4x509.js'
import type { FakeRequest } from '../../src/testing/fake-endpoint/handler.js'
import { canonicalRequestOf, stringToSignOf } from '../../src/testing/fake-endpoint/verify.js'
import type { TestCert } from '../../src/testing/pki.js'

export const REGION = 'us-east-1'
export const HOST = 'rolesanywhere.us-east-1.amazonaws.com'
export const TA = 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01'
export const PROFILE = 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e'
export const ROLE = 'arn:aws:iam::123456789012:role/iamra-example'
export const BODY = Buffer.from('{"durationSeconds":3600}')

export const decimal = (c: TestCert): string => BigInt(`0x${c.cert.serialNumber}`).toString(10)
export const amz = (at: Date): string => at.toISOString().replace(/[-:]|\.\d{3}/g, '')

export function arnQuery(arns: { ta?: string; profile?: string; role?: string } = {}): string {
  return canonicalQuery([
    ['profileArn', arns.profile ?? PROFILE],
    ['roleArn', arns.role ?? ROLE],
    ['trustAnchorArn', arns.ta ?? TA],
  ])
}

export interface RealSignOptions {
  readonly leaf: TestCert
  readonly chain?: readonly TestCert[]
  readonly region?: string
  readonly at?: Date
  readonly serial?: string
  /** Canonical query; '' for the body form. */
  readonly query?: string
  readonly body?: Buffer
  readonly path?: string
}

/** Signed with iamra's own signer (src/signing). */
export async function realSigned(o: RealSignOptions): Promise<FakeRequest> {
  const query = o.query ?? arnQuery()
  const body = o.body ?? BODY
  const path = o.path ?? '/sessions'
  const s = await signRequest({
    method: 'POST',
    host: HOST,
    path,
    query,
    body,
    region: o.region ?? REGION,
    at: o.at ?? new Date(),
    leafDer: o.leaf.der,
    serial: o.serial ?? decimal(o.leaf),
    chainDer: (o.chain ?? []).map((c) => c.der),
    signer: fromKeyObject(o.leaf.key),
  })
  return { method: 'POST', target: query === '' ? path : `${path}?${query}`, headers: { ...s.headers }, body }
}

export interface ManualSignOptions {
  readonly leaf: TestCert
  readonly chain?: readonly TestCert[]
  /** SignedHeaders, in the order given (sort them yourself). */
  readonly signed: readonly string[]
  readonly algorithm?: string
  readonly at?: Date
}

/** Signed by hand over the fake's own canonical request, so that SignedHeaders and the algorithm can be wrong on purpose. */
export function manualSigned(o: ManualSignOptions): FakeRequest {
  const at = amz(o.at ?? new Date())
  const headers: Record<string, string> = { host: HOST, 'content-type': 'application/json', 'x-amz-date': at, 'x-amz-x509': o.leaf.der.toString('base64') }
  if (o.chain !== undefined) headers['x-amz-x509-chain'] = o.chain.map((c) => c.der.toString('base64')).join(',')
  const req: FakeRequest = { method: 'POST', target: `/sessions?${arnQuery()}`, headers, body: BODY }
  const algorithm = o.algorithm ?? (o.leaf.keySpec.startsWith('rsa') ? 'AWS4-X509-RSA-SHA256' : 'AWS4-X509-ECDSA-SHA256')
  const scope = `${at.slice(0, 8)}/${REGION}/rolesanywhere/aws4_request`
  const sts = stringToSignOf(algorithm, at, scope, canonicalRequestOf(req, o.signed))
  const signature = cryptoSign('sha256', Buffer.from(sts, 'utf8'), o.leaf.key).toString('hex')
  headers.authorization = `${algorithm} Credential=${decimal(o.leaf)}/${scope}, SignedHeaders=${o.signed.join(';')}, Signature=${signature}`
  return req
}
