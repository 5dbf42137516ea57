// What every benchmark starts from: a throw-away CA and leaf in DIR (c.pem, k.pem), the verifying
// fake endpoint trusting that CA, and the identity and session flags that point iamra at both.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createCa, createLeaf, createMlDsaCertificate, startFakeEndpoint } from '../dist/testing.mjs'

const TRUST_ANCHOR_ARN = 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01'
const PROFILE_ARN = 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e'
const ROLE_ARN = 'arn:aws:iam::123456789012:role/bench'

/** keyType: p256 (default), another createLeaf key, or mldsa44 / mldsa65 / mldsa87. */
export async function benchIdentity(dir, keyType = 'p256') {
  const ca = await createCa({ name: 'bench CA', key: 'p256' })
  const mlDsa = /^mldsa(44|65|87)$/.exec(keyType)
  const leaf =
    mlDsa === null
      ? await createLeaf({ name: 'bench', key: keyType, issuer: ca })
      : await createMlDsaCertificate({ name: 'bench', level: Number(mlDsa[1]), issuer: ca })
  writeFileSync(join(dir, 'c.pem'), leaf.certPem)
  writeFileSync(join(dir, 'k.pem'), leaf.keyPem, { mode: 0o600 })
  const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1' })
  const args = [
    ...['--certificate', join(dir, 'c.pem'), '--private-key', join(dir, 'k.pem')],
    ...['--trust-anchor-arn', TRUST_ANCHOR_ARN, '--profile-arn', PROFILE_ARN, '--role-arn', ROLE_ARN, '--endpoint', fake.url],
  ]
  return { fake, args }
}
