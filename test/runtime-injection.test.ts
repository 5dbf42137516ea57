// What the entry point injects is what is used: the lock's clock and queues, the IMDS token store's and the fake
// endpoint's randomness, the test PKI's clock, and each server's own binding lookup.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileLocks } from '../src/fs/lock.js'
import { TokenStore } from '../src/imds/token-store.js'
import { buildApp } from '../src/server/app.js'
import { BindingLookup } from '../src/server/binding-lookup.js'
import { createFakeHandler } from '../src/testing/fake-endpoint/handler.js'
import { createCa } from '../src/testing/pki.js'
import { addBinding } from './helpers/bindings.js'
import { realRandom } from './helpers/runtime.js'

const tmp = (t: Test): string => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-runtime-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('the lock heartbeat writes the injected clock into the lock file, the clock staleness is judged by', async (t) => {
  const file = join(tmp(t), 'credentials')
  const fixed = new Date('2031-02-03T04:05:06.000Z')
  const locks = new FileLocks({ now: () => fixed, ...realRandom })
  let seen = 0
  await locks.withLock(
    file,
    async () => {
      // staleMs 300: a beat every 100 ms; bounded wait for the first one.
      for (let i = 0; i < 100 && seen !== fixed.getTime(); i++) {
        await delay(20)
        seen = Math.round(statSync(`${file}.lock`).mtimeMs)
      }
    },
    { staleMs: 300 },
  )
  t.equal(new Date(seen).toISOString(), fixed.toISOString(), 'the mtime is the injected clock, not the real one')
})

t.test('a lock untouched for staleMs by the injected clock is taken over at once, whoever holds it', async (t) => {
  const file = join(tmp(t), 'credentials')
  let clock = Date.now()
  const holder = new FileLocks({ now: () => new Date(clock), ...realRandom, pid: 4001, isAlive: () => true })
  const other = new FileLocks({
    now: () => new Date(clock),
    ...realRandom,
    pid: 4002,
    isAlive: () => true,
    sleep: async (ms) => {
      clock += ms
    },
  })
  let release = (): void => {}
  const held = holder.withLock(file, () => new Promise<void>((r) => (release = r)), { staleMs: 3_600_000 })
  await delay(50)
  // The other process's clock moves on by its backoff sleeps only: within a 10 s timeout it never reaches an hour.
  await t.rejects(
    other.withLock(file, async () => t.fail('must not run'), { timeoutMs: 10_000, staleMs: 3_600_000 }),
    { code: 'LOCK_TIMEOUT' },
    'a live holder keeps it',
  )
  clock += 2 * 3_600_000
  t.equal(await other.withLock(file, async () => 'ran', { timeoutMs: 10_000, staleMs: 3_600_000 }), 'ran', 'stale by the injected clock: taken over')
  release()
  await held
})

t.test('each FileLocks queues its own callers; two of them (two processes) exclude each other through the file', async (t) => {
  const file = join(tmp(t), 'credentials')
  const a = new FileLocks({ now: () => new Date(), ...realRandom, pid: 5001, isAlive: () => true })
  const b = new FileLocks({ now: () => new Date(), ...realRandom, pid: 5002, isAlive: () => true })
  let inside = 0
  let most = 0
  const body = async (): Promise<void> => {
    most = Math.max(most, ++inside)
    await delay(5)
    inside--
  }
  await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).withLock(file, body, { timeoutMs: 20_000 })))
  t.equal(most, 1, 'never two holders at once')
})

t.test('IMDS session tokens come from the injected random source', async (t) => {
  const store = new TokenStore({ now: () => 1_000, random: (n) => Buffer.alloc(n, 0xfb) })
  const token = store.issue(60)
  t.equal(token, Buffer.alloc(128, 0xfb).toString('base64url').slice(0, 100))
  t.equal(store.check(token), 60)
})

t.test('the fake endpoint and the test PKI use the clock and randomness they are given', async (t) => {
  const at = new Date('2030-06-01T00:00:00.000Z')
  const ca = await createCa({ name: 'clock CA', runtime: { now: () => at, randomBytes: (n) => Buffer.alloc(n, 0x22) } })
  t.equal(new Date(ca.cert.validFrom).toISOString(), new Date(at.getTime() - 3_600_000).toISOString(), 'valid from an hour before the injected now')
  t.equal(ca.cert.serialNumber, `23${'22'.repeat(15)}`, 'serial from the injected bytes (first byte made positive)')
  const handler = createFakeHandler({ trustAnchors: [ca.certPem], region: 'us-east-1', now: () => at, randomBytes: (n) => Buffer.alloc(n, 0) })
  const res = await handler({ method: 'GET', target: '/nowhere', headers: {}, body: Buffer.alloc(0) })
  t.equal(res.headers['x-amzn-RequestId'], '00000000-0000-4000-8000-000000000000', 'request id from the injected bytes')
  t.equal(handler.calls[0]?.at.toISOString(), at.toISOString(), 'the call is recorded at the injected time')
})

t.test('each server owns its binding lookup: a lookup passed in is the one requests use', async (t) => {
  const dir = tmp(t)
  const { token } = await addBinding(dir, 'app', 'ecs-full')
  const lookup = new BindingLookup(dir)
  let looked = 0
  const counting = Object.assign(Object.create(lookup) as BindingLookup, {
    lookup: (name: string) => {
      looked++
      return lookup.lookup(name)
    },
  })
  const app = await buildApp({
    configurationDirectory: dir,
    lookup: counting,
    resolveCredentials: async () => {
      throw new Error('not reached in this test')
    },
  })
  t.teardown(() => app.fastify.close())
  await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
  t.equal(looked, 1, 'the request went through the lookup the server was given')
})
