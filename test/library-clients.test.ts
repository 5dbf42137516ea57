// The library with the real AWS SDK for JavaScript v3 clients (STS, S3) against moto, through the fake
// endpoint minting moto-valid credentials: every signature on the way is checked by a server.
import t from 'tap'
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { fromRolesAnywhere } from '../src/library/index.js'
import { stsMinter } from '../src/testing/fake-endpoint/sts-mint.js'
import { startMoto } from './helpers/moto.js'
import { onPath } from './helpers/processes.js'
import { PROFILE_ARN, startScenario, TRUST_ANCHOR_ARN } from './helpers/scenario.js'

if (!onPath('moto_server')) t.skip('moto_server is not installed (pip install "moto[server]")', async () => {})
else {
  t.test('STS and S3 clients sign real requests with fromRolesAnywhere credentials, one CreateSession per client', async (t) => {
    const moto = await startMoto(t, { rolePolicy: { Effect: 'Allow', Action: 's3:*', Resource: '*' } })
    if (moto === undefined) return
    const s = await startScenario('rsa2048', { mint: stsMinter({ endpoint: moto.endpoint, ...moto.broker }) })
    t.teardown(s.close)
    const credentials = fromRolesAnywhere({
      trustAnchorArn: TRUST_ANCHOR_ARN,
      profileArn: PROFILE_ARN,
      roleArn: moto.roleArn,
      roleSessionName: 'lib-e2e',
      certificate: s.pki.path('leaf.pem'),
      intermediates: s.pki.path('int.pem'),
      privateKey: s.pki.path('key.pem'),
      endpoint: s.fake.url,
      env: {},
    })
    const sts = new STSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials })
    const s3 = new S3Client({ region: 'us-east-1', endpoint: moto.endpoint, forcePathStyle: true, credentials })
    t.teardown(() => {
      sts.destroy()
      s3.destroy()
    })

    const who = await sts.send(new GetCallerIdentityCommand({}))
    t.equal(who.Arn, 'arn:aws:sts::123456789012:assumed-role/test-role/lib-e2e', 'moto sees the assumed role')
    t.equal(who.Account, '123456789012')
    await sts.send(new GetCallerIdentityCommand({}))

    await s3.send(new CreateBucketCommand({ Bucket: 'iamra-library' }))
    await s3.send(new PutObjectCommand({ Bucket: 'iamra-library', Key: 'hello.txt', Body: 'hello from fromRolesAnywhere' }))
    const got = await s3.send(new GetObjectCommand({ Bucket: 'iamra-library', Key: 'hello.txt' }))
    t.equal(await got.Body?.transformToString(), 'hello from fromRolesAnywhere', 'S3 round trip')
    t.equal(s.fake.calls.filter((c) => c.status === 201).length, 2, 'each client memoized its credentials: one CreateSession per client')

    const bogus = new S3Client({
      region: 'us-east-1',
      endpoint: moto.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'ASIABOGUSBOGUSBOGUS1', secretAccessKey: 'x', sessionToken: 'y' },
    })
    t.teardown(() => bogus.destroy())
    await t.rejects(bogus.send(new GetObjectCommand({ Bucket: 'iamra-library', Key: 'hello.txt' })), 'moto checks S3 credentials (control)')
    const identity = await sts.config.credentials()
    t.ok(identity.expiration instanceof Date, 'the client holds a Date expiration')
    t.equal(identity.accountId, '123456789012')
  })

  t.test('a refusal reaches the SDK caller as CredentialsProviderError with its code; the failure is not cached', async (t) => {
    const moto = await startMoto(t)
    if (moto === undefined) return
    const s = await startScenario('p256', {
      mint: stsMinter({ endpoint: moto.endpoint, ...moto.broker }),
      failures: [{ status: 403, errorType: 'AccessDeniedException', message: 'Unable to assume role for arn:aws:iam::123456789012:role/test-role' }],
    })
    t.teardown(s.close)
    const sts = new STSClient({
      region: 'us-east-1',
      endpoint: moto.endpoint,
      maxAttempts: 1,
      credentials: fromRolesAnywhere({
        trustAnchorArn: TRUST_ANCHOR_ARN,
        profileArn: PROFILE_ARN,
        roleArn: moto.roleArn,
        certificate: s.pki.path('chain-leaf-first.pem'),
        privateKey: s.pki.path('key.pem'),
        endpoint: s.fake.url,
        env: {},
      }),
    })
    t.teardown(() => sts.destroy())
    const e = await sts.send(new GetCallerIdentityCommand({})).then(
      () => undefined,
      (err: unknown) => err as Record<string, unknown>,
    )
    t.match(e, { name: 'CredentialsProviderError', code: 'UPSTREAM_DENIED', upstreamCode: 'AccessDeniedException', tryNextLink: false })
    const who = await sts.send(new GetCallerIdentityCommand({}))
    t.equal(who.Account, '123456789012', 'the next call (the failure was not cached) succeeds')
  })
}
