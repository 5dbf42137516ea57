/**
 * Verifies a projected service-account token offline, with jose: the signature against the
 * issuer's keys (RS256 or ES256 only; `alg: none` never), the issuer, one of the audiences,
 * exp/nbf/iat with a small clock tolerance, and `sub` agreeing with the `kubernetes.io` claims of
 * a pod-bound token. The answer is the pod's identity; a refusal says why, never the token.
 */
import type * as Jose from 'jose'
import { IamraError } from '../errors.js'
import { isServiceAccount } from './service-account.js'
import type { PodIdentity } from './session-name.js'
import type { KeySet } from './key-set.js'

export const ALGORITHMS = ['RS256', 'ES256']

export interface VerifiedToken extends PodIdentity {
  readonly expiresAt: Date
}

export interface TokenVerifierInit {
  readonly jose: typeof Jose
  readonly keys: KeySet
  readonly issuer: string
  readonly audiences: readonly string[]
  /** Seconds of clock skew allowed on exp/nbf/iat (default 30). */
  readonly clockToleranceSeconds?: number
  readonly now: () => Date
}

export type TokenVerifier = (token: string) => Promise<VerifiedToken>

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function rejected(reason: string, cause?: unknown): IamraError {
  return new IamraError('SA_TOKEN_REJECTED', `service-account token not accepted: ${reason}`, cause === undefined ? {} : { cause })
}

/** The pod identity the verified claims describe, or a refusal naming the inconsistent claim. */
export function podIdentityOf(payload: Record<string, unknown>): PodIdentity {
  const sub = typeof payload.sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(payload.sub) : null
  if (sub === null) throw rejected('"sub" is not system:serviceaccount:NAMESPACE:NAME')
  const [, namespace = '', serviceAccount = ''] = sub
  if (!isServiceAccount(namespace, serviceAccount)) throw rejected('"sub" names an invalid namespace or service account')
  const k = payload['kubernetes.io']
  if (!isObj(k)) throw rejected('no "kubernetes.io" claim')
  const sa = isObj(k.serviceaccount) ? k.serviceaccount : {}
  if (k.namespace !== namespace || sa.name !== serviceAccount) throw rejected('"sub" and the "kubernetes.io" namespace/serviceaccount claims disagree')
  const pod = isObj(k.pod) ? k.pod : undefined
  if (pod === undefined || typeof pod.name !== 'string' || pod.name === '' || typeof pod.uid !== 'string' || pod.uid === '') {
    throw rejected('not bound to a pod (no "kubernetes.io".pod name and uid): use a projected service-account token')
  }
  return { namespace, serviceAccount, podName: pod.name, podUid: pod.uid }
}

export function createTokenVerifier(init: TokenVerifierInit): TokenVerifier {
  const { jose } = init
  const options: Jose.JWTVerifyOptions = {
    issuer: init.issuer,
    audience: [...init.audiences],
    algorithms: ALGORITHMS,
    clockTolerance: init.clockToleranceSeconds ?? 30,
    requiredClaims: ['exp', 'iat', 'sub'],
  }
  return async (token) => {
    if (token === '' || token.length > 16 * 1024) throw rejected(token === '' ? 'empty' : 'longer than 16 KiB')
    let payload: Jose.JWTPayload
    try {
      ;({ payload } = await jose.jwtVerify(token, init.keys.getKey, { ...options, currentDate: init.now() }))
    } catch (e) {
      if (e instanceof IamraError) throw e
      // jose's codes and messages name the failed check, never the token's content.
      const code = (e as { code?: string }).code
      throw rejected(code === undefined ? 'malformed' : `${code}: ${(e as Error).message}`, e)
    }
    const pod = podIdentityOf(payload as Record<string, unknown>)
    return { ...pod, expiresAt: new Date((payload.exp ?? 0) * 1000) }
  }
}
