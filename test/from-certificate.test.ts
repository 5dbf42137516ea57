// fromCertificate's credentials as AWS SDK identities: `expiration` is a Date, and the credential_process JSON keeps its shape.
import t from 'tap'
import { STSClient } from '@aws-sdk/client-sts'
import { fromCertificate } from '../src/credentials/from-certificate.js'
import { processOutput } from '../src/credentials/process-output.js'
import { resolveSessionConfig } from '../src/rolesanywhere/session-config.js'
import { PROFILE_ARN, REGION, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { KeyBackends } from '../src/keys/key-backends.js'

t.test('fromCertificate yields expiration as a Date that an SDK client accepts, and the process JSON is unchanged', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const session = resolveSessionConfig({
    trustAnchorArn: TRUST_ANCHOR_ARN,
    profileArn: PROFILE_ARN,
    roleArn: ROLE_ARN,
    region: REGION,
    endpoint: s.fake.url,
    verifyTls: true,
    environment: {},
  })
  const provider = fromCertificate({
    keys: new KeyBackends(),
    identity: { certificateFiles: [s.pki.path('leaf.pem')], intermediatesFiles: [s.pki.path('int.pem')], privateKeyFile: s.pki.path('key.pem') },
    session,
    now: () => new Date(),
    random: Math.random,
  })
  const creds = await provider()
  t.ok(creds.expiration instanceof Date, 'a Date')
  t.equal(creds.expiration.getTime(), creds.expiresAt.getTime(), 'the same instant as expiresAt')
  t.ok(Math.abs(creds.expiration.getTime() - Date.now() - 3600_000) < 10_000, 'one hour ahead (the default duration)')
  t.match(
    processOutput(creds),
    /^\{"Version":1,"AccessKeyId":"ASIA[A-Z0-9]+","SecretAccessKey":"[^"]+","SessionToken":"[^"]+","Expiration":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$/,
  )

  // The client wraps the provider in its memoizer, which calls expiration.getTime(): a string would throw here.
  const client = new STSClient({ region: REGION, credentials: provider })
  t.teardown(() => client.destroy())
  const first = await client.config.credentials()
  const again = await client.config.credentials()
  t.match(first.accessKeyId, /^ASIA/)
  t.ok(first.expiration instanceof Date)
  t.equal(again.accessKeyId, first.accessKeyId, 'the client reuses them: expiry is comparable')
  t.equal(s.fake.calls.filter((c) => c.status === 201).length, 2, 'one CreateSession for the direct call, one for the client')
})
