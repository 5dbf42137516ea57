/**
 * The one role's credentials for IMDS mode: the shared CredentialCache under the refresh policy
 * (src/cache/refresh-policy.ts: refresh ahead, single flight, last good while valid on failure),
 * and the same last-good rule for the case where the cache let an idle entry go; never expired
 * credentials. Also the IMDS credentials body.
 */
import type { CredentialCache } from '../cache/credential-cache.js'
import { isValid } from '../cache/refresh-policy.js'
import { formatExpiration } from '../credentials/process-output.js'
import { IamraError } from '../errors.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'

export interface ImdsCredentials {
  readonly creds: SessionCredentials
  /** When these credentials were obtained from CreateSession. */
  readonly lastUpdated: Date
}

export type ImdsCredentialSource = () => Promise<ImdsCredentials>

const KEY = 'imds'

export function imdsCredentialSource(fetch: () => Promise<SessionCredentials>, cache: CredentialCache, now: () => number): ImdsCredentialSource {
  const updated = new WeakMap<SessionCredentials, Date>()
  let lastGood: SessionCredentials | undefined
  const fetchAndStamp = async (): Promise<SessionCredentials> => {
    const c = await fetch()
    updated.set(c, new Date(now()))
    return c
  }
  return async () => {
    let creds: SessionCredentials
    try {
      creds = await cache.get(KEY, fetchAndStamp)
    } catch (e) {
      if (lastGood === undefined || !isValid({ expiresAt: lastGood.expiresAt.getTime() }, now())) throw e
      creds = lastGood
    }
    if (!isValid({ expiresAt: creds.expiresAt.getTime() }, now())) {
      throw new IamraError('CREDENTIALS_EXPIRED', `CreateSession returned credentials that expired at ${formatExpiration(creds.expiresAt)}`)
    }
    lastGood = creds
    return { creds, lastUpdated: updated.get(creds) ?? new Date(now()) }
  }
}

/** The instance-profile credentials document, fields in the order EC2 writes them. */
export function imdsBody({ creds, lastUpdated }: ImdsCredentials): Record<string, string> {
  return {
    Code: 'Success',
    LastUpdated: formatExpiration(lastUpdated),
    Type: 'AWS-HMAC',
    AccessKeyId: creds.accessKeyId,
    SecretAccessKey: creds.secretAccessKey,
    Token: creds.sessionToken,
    Expiration: formatExpiration(creds.expiresAt),
  }
}
