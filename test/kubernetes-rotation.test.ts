// cert-manager's csi-driver and the kubelet swap certificate and key together by renaming `..data`.
// A reader can still open the certificate before a swap and the key after it: a torn pair. iamra
// re-reads both and retries until they match, so under constant swaps no request fails and the
// fake endpoint (which verifies every signature against the presented certificate) sees no bad one.
import t from 'tap'
import { testBindingKeys } from './helpers/runtime.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CredentialCache } from '../src/cache/credential-cache.js'
import { IamraError } from '../src/errors.js'
import { loadIdentity } from '../src/identity/identity.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { cachedCredentials } from '../src/server/cached-credentials.js'
import { createLeaf } from '../src/testing/pki.js'
import { AtomicWriterDir } from './helpers/atomic-writer.js'
import { addBinding } from './helpers/bindings.js'
import { ROLE_ARN, startScenario } from './helpers/scenario.js'
import { KeyBackends } from '../src/keys/key-backends.js'

t.test('a `..data` swap every 25 ms while a client polls: no failed request, no mismatched signature', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const leaves = await Promise.all(
    [1, 2, 3, 4].map((i) => createLeaf({ name: `pod cert ${i}`, key: i % 2 === 0 ? 'rsa2048' : 'p256', issuer: s.pki.intermediate })),
  )
  const payloads = leaves.map((l) => ({ 'tls.crt': l.certPem + s.pki.intermediate.certPem, 'tls.key': l.keyPem }))
  const work = mkdtempSync(join(tmpdir(), 'iamra-rotation-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const vol = new AtomicWriterDir(join(work, 'tls'), ['tls.crt', 'tls.key'])
  vol.write(payloads[0] as Record<string, string>)
  let swaps = 0
  let stop = false
  const swapper = (async () => {
    while (!stop) {
      vol.write(payloads[++swaps % payloads.length] as Record<string, string>)
      await new Promise((r) => setTimeout(r, 25))
    }
  })()

  // Without the retry, torn reads do happen: this is what the test guards against.
  let torn = 0
  const deadline = Date.now() + 1500
  let reads = 0
  while (Date.now() < deadline) {
    reads++
    try {
      await loadIdentity({ certificateFiles: [join(vol.dir, 'tls.crt')], privateKeyFile: join(vol.dir, 'tls.key'), now: new Date() })
    } catch (e) {
      if (e instanceof IamraError && e.code === 'KEY_CERT_MISMATCH') torn++
      else throw e
    }
  }
  t.comment(`figures: plain loads during swaps: ${torn} torn of ${reads}`)

  // The ECS server without cache: a CreateSession (a signature) per request, files read each time.
  const dir = join(work, 'cfg')
  const { token } = await addBinding(dir, 'pod', 'ecs-full', {
    certificateFiles: [join(vol.dir, 'tls.crt')],
    intermediatesFiles: [],
    privateKeyFile: join(vol.dir, 'tls.key'),
    request: { durationSeconds: 3600, trustAnchorArn: s.sessionArgs[1] as string, profileArn: s.sessionArgs[3] as string, roleArn: ROLE_ARN },
    endpoint: s.fake.url,
  })
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
  })
  t.teardown(() => app.fastify.close())
  const cached = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: cachedCredentials(
      bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
      new CredentialCache({ now: Date.now, random: Math.random }),
      testBindingKeys(),
    ),
  })
  t.teardown(() => cached.fastify.close())
  const statuses = new Map<number, number>()
  const until = Date.now() + 5000
  let requests = 0
  while (Date.now() < until) {
    for (const a of [app, cached]) {
      const r = await a.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1)
      requests++
    }
  }
  stop = true
  await swapper
  t.comment(
    `figures: ${requests} requests over ${swaps} swaps; CreateSession answers by status: ${JSON.stringify(Object.fromEntries(countBy(s.fake.calls.map((c) => c.status))))}`,
  )
  t.same([...statuses.keys()], [200], `every request answered 200 (${JSON.stringify(Object.fromEntries(statuses))})`)
  t.ok(s.fake.calls.length > 20, 'many signatures made during the swaps')
  t.ok(
    s.fake.calls.every((c) => c.status === 201),
    'the fake endpoint verified every signature against its certificate',
  )
  const serials = new Set(s.fake.calls.map((c) => c.serial))
  t.ok(serials.size >= 2, `the rotated certificates were used (${serials.size} serials)`)
})

function countBy<T>(xs: readonly T[]): Map<T, number> {
  const m = new Map<T, number>()
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1)
  return m
}
