// A test service-account issuer: RS256 and ES256 signing keys with kids, its JWKS, and projected
// tokens with the real claim shape (docs: deployment spec §B.1), plus the malformed ones tests refuse.
import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'

export const ISSUER = 'https://kubernetes.default.svc.cluster.local'
export const AUDIENCE = 'iamra.example/pod-identity'

export interface SigningKey {
  readonly alg: 'RS256' | 'ES256'
  readonly kid: string
  readonly privateKey: KeyObject
  readonly jwk: Record<string, unknown>
}

export function signingKey(alg: 'RS256' | 'ES256'): SigningKey {
  const { privateKey, publicKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const kid = createHash('sha256').update(spki).digest('base64url').slice(0, 43)
  return { alg, kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } }
}

export const jwksOf = (...keys: SigningKey[]): { keys: Array<Record<string, unknown>> } => ({ keys: keys.map((k) => k.jwk) })

export interface PodClaims {
  readonly namespace: string
  readonly serviceAccount: string
  readonly pod?: string
  readonly issuer?: string
  readonly audience?: string | string[]
  /** Seconds relative to now. */
  readonly iatOffset?: number
  readonly ttl?: number
  readonly nbfOffset?: number
  readonly extra?: Record<string, unknown>
  readonly kubernetes?: Record<string, unknown>
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

export function claims(c: PodClaims, now = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  const iat = now + (c.iatOffset ?? 0)
  const pod = c.pod ?? `${c.serviceAccount}-7c9f8d-x2k4q`
  return {
    aud: c.audience === undefined ? [AUDIENCE] : c.audience,
    exp: iat + (c.ttl ?? 86_400),
    iat,
    nbf: iat + (c.nbfOffset ?? 0),
    iss: c.issuer ?? ISSUER,
    jti: randomUUID(),
    'kubernetes.io': c.kubernetes ?? {
      namespace: c.namespace,
      node: { name: 'node-1', uid: randomUUID() },
      pod: { name: pod, uid: randomUUID() },
      serviceaccount: { name: c.serviceAccount, uid: randomUUID() },
    },
    sub: `system:serviceaccount:${c.namespace}:${c.serviceAccount}`,
    ...c.extra,
  }
}

/** A compact JWS over `payload`, as the API server signs (ES256 as raw r||s). */
export function signToken(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: key.alg, kid: key.kid, ...header })}.${b64(payload)}`
  const sig =
    key.alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key.privateKey)
      : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}

export function podToken(key: SigningKey, c: PodClaims): string {
  return signToken(key, claims(c))
}

/** `alg: none`, no signature. */
export function unsignedToken(kid: string, payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', kid })}.${b64(payload)}.`
}

/** A PEM private key, for tests that must hand the key to another process. */
export const pemOf = (k: SigningKey): string =>
  createPrivateKey(k.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    .export({ type: 'pkcs8', format: 'pem' })
    .toString()
