/**
 * The whole exchange for one CreateSession: load and check the identity, then sign and send.
 * A factory that does no I/O until the returned provider is called.
 */
import type { Identity, IdentityInit } from '../identity/identity.js'
import type { KeyBackends } from '../keys/key-backends.js'
import { loadIdentity } from '../keys/load-identity.js'
import { describeCertificateKey } from '../identity/certificates.js'
import { algorithmFor } from '../signing/signer.js'
import { retryMidRotation } from '../identity/rotation.js'
import { createSession } from '../rolesanywhere/create-session.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import type { SessionConfig } from '../rolesanywhere/session-config.js'
import { createTransport, type Transport } from '../rolesanywhere/transport.js'
import { userAgent } from '../version.js'

export interface FromCertificateInit {
  readonly identity: Omit<IdentityInit, 'now'>
  /** Where token and TPM keys are reached (the entry point's; it disposes of them). */
  readonly keys: KeyBackends
  readonly session: SessionConfig
  readonly now: () => Date
  readonly sleep?: (ms: number) => Promise<void>
  /** Retry jitter (Runtime.random). */
  readonly random: () => number
  readonly transport?: Transport
  readonly debug?: ((line: string) => void) | undefined
  /** Abandons CreateSession and its retries (the server is stopping). */
  readonly signal?: AbortSignal | undefined
  /** Told about each identity loaded (the server records certificate expiry from it). */
  readonly onIdentity?: ((identity: Identity) => void) | undefined
}

export type CredentialProvider = () => Promise<SessionCredentials>

export function fromCertificate(init: FromCertificateInit): CredentialProvider {
  const transport = init.transport ?? createTransport(init.session.transport)
  const debug = init.debug
  return async () => {
    // A pair read in the middle of a renewal (a `..data` swap, a rename of one file then the other)
    // is read again after short waits, so only a matching pair is ever used to sign.
    const identity = await retryMidRotation(() => loadIdentity({ ...init.identity, now: init.now() }, init.keys), init.sleep)
    init.onIdentity?.(identity)
    if (debug !== undefined) describeIdentity(identity, debug)
    debug?.(`endpoint ${init.session.endpoint.url.href} (region ${init.session.endpoint.signingRegion}${init.session.endpoint.fips ? ', FIPS' : ''})`)
    return createSession(init.session.request, identity, init.session.endpoint, {
      transport,
      now: init.now,
      sleep: init.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      random: init.random,
      debug,
      userAgent: userAgent(),
      signal: init.signal,
    })
  }
}

function describeIdentity(id: Identity, debug: (line: string) => void): void {
  const oneLine = (dn: string): string => dn.replace(/\n/g, ', ')
  debug(`leaf certificate: ${oneLine(id.leaf.subject)} (serial ${id.serial}, issuer ${oneLine(id.leaf.issuer)}, valid to ${id.notAfter.toISOString()})`)
  debug(`key: ${describeCertificateKey(id.leaf)}, algorithm ${algorithmFor(id.family)}`)
  for (const c of id.chain) debug(`chain certificate: ${oneLine(c.subject)}`)
  if (id.chain.length === 0)
    debug(
      "no chain certificate: the leaf is sent alone (no X-Amz-X509-Chain); if the trust anchor is not the leaf's issuer, pass its intermediates with --intermediates or a full-chain file",
    )
  for (const u of id.unrelated) debug(`ignored (does not issue the leaf): ${oneLine(u.cert.subject)} from ${u.source}`)
}
