// A PKI on disk plus a running fake endpoint that trusts its root, and the flags to reach it.
import { startFakeEndpoint, type FakeEndpoint } from '../../src/testing/fake-endpoint/server.js'
import type { FakeConfig } from '../../src/testing/fake-endpoint/handler.js'
import type { KeySpec } from '../../src/testing/pki.js'
import { makePkiFiles, type PkiFiles } from './pki-files.js'

export const REGION = 'us-east-1'
export const TRUST_ANCHOR_ARN = `arn:aws:rolesanywhere:${REGION}:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01`
export const PROFILE_ARN = `arn:aws:rolesanywhere:${REGION}:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e`
export const ROLE_ARN = 'arn:aws:iam::123456789012:role/iamra-test'

export interface Scenario {
  readonly pki: PkiFiles
  readonly fake: FakeEndpoint
  /** ARNs and --endpoint. */
  readonly sessionArgs: string[]
  /** leaf.pem + --intermediates int.pem + key.pem + sessionArgs. */
  readonly args: string[]
  close(): Promise<void>
}

export async function startScenario(leafKey: KeySpec = 'p256', fake: Partial<FakeConfig> = {}): Promise<Scenario> {
  const pki = await makePkiFiles(leafKey)
  const endpoint = await startFakeEndpoint({
    trustAnchors: [pki.root.certPem],
    region: REGION,
    trustAnchorArns: [TRUST_ANCHOR_ARN],
    profileArns: [PROFILE_ARN],
    ...fake,
  })
  const sessionArgs = ['--trust-anchor-arn', TRUST_ANCHOR_ARN, '--profile-arn', PROFILE_ARN, '--role-arn', ROLE_ARN, '--endpoint', endpoint.url]
  return {
    pki,
    fake: endpoint,
    sessionArgs,
    args: ['--certificate', pki.path('leaf.pem'), '--intermediates', pki.path('int.pem'), '--private-key', pki.path('key.pem'), ...sessionArgs],
    close: async () => {
      await endpoint.close()
      pki.cleanup()
    },
  }
}
