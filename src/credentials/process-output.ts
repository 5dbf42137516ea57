/** The credential_process JSON: compact, fixed key order, Version the number 1, no newline. */
import type { SessionCredentials } from '../rolesanywhere/response.js'

/** UTC with a literal Z and no fraction, the one form every SDK parses. */
export function formatExpiration(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function processOutput(c: SessionCredentials): string {
  return JSON.stringify({
    Version: 1,
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    SessionToken: c.sessionToken,
    Expiration: formatExpiration(c.expiresAt),
  })
}
