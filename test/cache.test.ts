// The credential cache with a controlled clock and timers, then in the server against the fake endpoint.
import t from 'tap'
import { testBindingKeys } from './helpers/runtime.js'
import { writeFileSync } from 'node:fs'
import { CredentialCache, type CacheEvent } from '../src/cache/credential-cache.js'
import { IamraError } from '../src/errors.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { cachedCredentials } from '../src/server/cached-credentials.js'
import { createLeaf } from '../src/testing/pki.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { join } from 'node:path'
import { KeyBackends } from '../src/keys/key-backends.js'

const MIN = 60_000

function harness(opts: { window?: number; minFailure?: number; maxWait?: number } = {}) {
  let now = 0
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = []
  const events: CacheEvent[] = []
  const cache = new CredentialCache({
    refreshWindowMs: opts.window ?? 20 * MIN,
    minFailureIntervalMs: opts.minFailure ?? 10_000,
    now: () => now,
    random: () => 0,
    ...(opts.maxWait === undefined ? {} : { maxRefreshWaitMs: opts.maxWait }),
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false }
      timers.push(t)
      return t as unknown as NodeJS.Timeout
    },
    clearTimer: (t) => {
      ;(t as { cancelled: boolean }).cancelled = true
    },
    onEvent: (e) => events.push(e),
  })
  let calls = 0
  let failNext = 0
  const fetch = async (): Promise<SessionCredentials> => {
    calls++
    await Promise.resolve()
    if (failNext > 0) {
      failNext--
      throw new IamraError('UPSTREAM_THROTTLED', 'throttled')
    }
    return {
      accessKeyId: `AK${calls}`,
      secretAccessKey: 's',
      sessionToken: 't',
      expiration: new Date(now + 60 * MIN),
      expiresAt: new Date(now + 60 * MIN),
      roleArn: 'r',
      assumedRoleArn: undefined,
    }
  }
  const advance = async (ms: number) => {
    now += ms
    for (const t of timers.filter((x) => !x.cancelled && x.at <= now)) {
      t.cancelled = true
      t.fn()
    }
    await new Promise((r) => setImmediate(r))
  }
  return { cache, fetch, events, advance, timers, now: () => now, calls: () => calls, fail: (n: number) => (failNext = n) }
}

t.test('hits, single flight, refresh inside the window', async (t) => {
  const h = harness()
  const all = await Promise.all(Array.from({ length: 20 }, () => h.cache.get('k', h.fetch)))
  t.equal(h.calls(), 1, '20 concurrent requests, one fetch')
  t.ok(all.every((c) => c.accessKeyId === 'AK1'))
  await h.advance(39 * MIN)
  t.equal((await h.cache.get('k', h.fetch)).accessKeyId, 'AK1', '21 minutes left: still served')
  t.equal(h.calls(), 1)
  h.timers.length = 0 // take over timing from here: no background refresh in this test
  await h.advance(2 * MIN)
  t.equal((await h.cache.get('k', h.fetch)).accessKeyId, 'AK2', '19 minutes left: refreshed before serving')
  t.equal((await h.cache.get('other', h.fetch)).accessKeyId, 'AK3', 'keys are separate')
})

t.test('failures: last good while valid, minimum interval, then an error', async (t) => {
  const h = harness()
  await h.cache.get('k', h.fetch)
  h.timers.length = 0
  await h.advance(45 * MIN) // 15 min left
  h.fail(10)
  t.equal((await h.cache.get('k', h.fetch)).accessKeyId, 'AK1', 'refresh failed: last good served')
  const before = h.calls()
  await h.cache.get('k', h.fetch)
  t.equal(h.calls(), before, 'no new attempt within the minimum failure interval')
  await h.advance(11_000)
  await h.cache.get('k', h.fetch)
  t.equal(h.calls(), before + 1, 'a new attempt after the interval')
  await h.advance(16 * MIN) // expired
  await t.rejects(h.cache.get('k', h.fetch), { code: 'UPSTREAM_THROTTLED' }, 'expired and upstream failing: an error, never expired credentials')
  h.fail(0)
  await h.advance(11_000)
  t.match((await h.cache.get('k', h.fetch)).accessKeyId, /^AK/, 'recovers')
  t.ok(h.events.some((e) => e.type === 'stale-served'))
})

t.test('background refresh ahead, only while in use', async (t) => {
  const h = harness()
  await h.cache.get('used', h.fetch)
  await h.cache.get('idle', h.fetch)
  t.equal(h.calls(), 2)
  await h.cache.get('used', h.fetch) // used again after its fetch
  await h.advance(40 * MIN) // the refresh-ahead timers fire at expiry - 20 min
  t.equal(h.calls(), 3, 'the used entry was refreshed in the background, the idle one dropped')
  t.ok(h.events.some((e) => e.type === 'refreshed' && e.background))
  t.equal(h.cache.size, 1)
  const served = await h.cache.get('used', h.fetch)
  t.equal(served.accessKeyId, 'AK3', 'callers got fresh credentials without waiting')
  t.equal(h.calls(), 3)
})

t.test('short sessions: the window is at most half the lifetime', async (t) => {
  const h = harness({ window: 120 * MIN })
  await h.cache.get('k', h.fetch)
  await h.advance(29 * MIN)
  await h.cache.get('k', h.fetch)
  t.equal(h.calls(), 1, 'a 60-minute session with a 120-minute window is still cached for 30 minutes')
})

t.test('in the server: one CreateSession for many requests, a renewed certificate is used at once', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  t.equal(
    (
      await runCli([
        'bind',
        'app',
        '--configuration-directory',
        dir,
        '--no-validate',
        '--certificate',
        s.pki.path('leaf.pem'),
        '--intermediates',
        s.pki.path('int.pem'),
        '--private-key',
        s.pki.path('key.pem'),
        ...s.sessionArgs,
      ])
    ).code,
    0,
  )
  const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec(await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'env/app'), 'utf8')))?.[1] ?? ''
  const cache = new CredentialCache({ now: Date.now, random: Math.random })
  t.teardown(() => cache.clear())
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: cachedCredentials(
      bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
      cache,
      testBindingKeys(),
    ),
  })
  t.teardown(() => app.fastify.close())
  const get = () => app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: `Bearer ${token}` } })
  const first = await Promise.all(Array.from({ length: 10 }, get))
  t.ok(first.every((r) => r.statusCode === 200))
  for (let i = 0; i < 10; i++) await get()
  t.equal(s.fake.calls.length, 1, '20 requests, one CreateSession')
  const renewed = await createLeaf({ name: 'iamra test client', key: 'p256', issuer: s.pki.intermediate })
  writeFileSync(s.pki.path('leaf.pem'), renewed.certPem)
  writeFileSync(s.pki.path('key.pem'), renewed.keyPem)
  t.equal((await get()).statusCode, 200)
  t.equal(s.fake.calls.length, 2, 'renewed files: a new CreateSession at once')
  t.equal(s.fake.calls.at(-1)?.serial, BigInt(`0x${renewed.cert.serialNumber}`).toString(), 'with the new certificate')
})

t.test('a hanging upstream does not stall callers that have valid credentials', async (t) => {
  // Injected clock and timers: the wait bound is a timer of the cache's, fired by the test.
  const h = harness({ maxWait: 50 })
  let release: (c: SessionCredentials) => void = () => {}
  let hung = 0
  await h.cache.get('k', h.fetch)
  h.timers.length = 0 // no background refresh in this test
  await h.advance(45 * MIN) // 15 minutes left: inside the window
  const hanging = () =>
    new Promise<SessionCredentials>((r) => {
      hung++
      release = r
    })
  const served = Promise.all([h.cache.get('k', hanging), h.cache.get('k', hanging)])
  await new Promise((r) => setImmediate(r))
  t.equal(hung, 1, 'one refresh in flight, shared')
  const waits = h.timers.filter((x) => !x.cancelled)
  t.same(
    waits.map((x) => x.at - h.now()),
    [50, 50],
    'each caller waits at most maxRefreshWaitMs',
  )
  await h.advance(50) // the upstream still hangs
  t.same(
    (await served).map((c) => c.accessKeyId),
    ['AK1', 'AK1'],
    'the last good credentials, not after the upstream gave up',
  )
  t.ok(h.events.some((e) => e.type === 'stale-served'))
  release({
    accessKeyId: 'AK2',
    secretAccessKey: 's',
    sessionToken: 't',
    expiration: new Date(h.now() + 60 * MIN),
    expiresAt: new Date(h.now() + 60 * MIN),
    roleArn: 'r',
    assumedRoleArn: undefined,
  })
  await new Promise((r) => setImmediate(r))
  t.equal((await h.cache.get('k', hanging)).accessKeyId, 'AK2', 'the refresh that finished later is used')
  t.equal(hung, 1)
  h.cache.clear()
})

t.test('a new key in a group replaces the old entry (rotated token, renewed files)', async (t) => {
  const h = harness()
  await h.cache.get('old', h.fetch, 'binding-a')
  await h.cache.get('old', h.fetch, 'binding-a')
  await h.cache.get('other', h.fetch, 'binding-b')
  await h.cache.get('new', h.fetch, 'binding-a')
  t.equal(h.cache.size, 2, 'the old entry of binding-a is gone')
  const before = h.calls()
  await h.advance(41 * MIN)
  t.equal(h.calls() - before, 0, 'and is not refreshed in the background (neither are the unused ones)')
})
