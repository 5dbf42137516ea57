// runServer in-process: several listeners, named sockets, readiness, graceful stop; listen parsing.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/server/app.js'
import { parseListen } from '../src/cli/listen-flag.js'
import { takeListenFds } from '../src/server/listen.js'
import { runServer } from '../src/server/run-server.js'
import type { ServiceManager } from '../src/server/service-manager.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import { addBinding } from './helpers/bindings.js'
import { httpGet } from './helpers/http.js'
import { pollUntil } from './helpers/wait.js'

const CREDS: SessionCredentials = {
  accessKeyId: 'ASIAX',
  secretAccessKey: 's',
  sessionToken: 't',
  expiration: new Date('2099-01-01T00:00:00Z'),
  expiresAt: new Date('2099-01-01T00:00:00Z'),
  roleArn: 'arn:aws:iam::123456789012:role/app',
  assumedRoleArn: undefined,
}

t.test('listen parsing and inherited sockets', async (t) => {
  t.same(parseListen('127.0.0.1:7224'), { kind: 'tcp', host: '127.0.0.1', port: 7224 })
  t.same(parseListen('[::1]:80'), { kind: 'tcp', host: '::1', port: 80 })
  t.same(parseListen('/run/iamra.sock'), { kind: 'unix', path: '/run/iamra.sock' })
  for (const bad of ['7224', 'host', '1.2.3.4:99999', '::1:80']) t.throws(() => parseListen(bad), { code: 'USAGE', message: /^--listen "/ }, bad)
  t.throws(() => parseListen('9100', '--metrics-listen'), { code: 'USAGE', message: /^--metrics-listen "9100": expected HOST:PORT/ }, 'the flag it came from')
  const env: Record<string, string | undefined> = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'ecs-full:ecs-relative', OTHER: 'x' }
  t.same(takeListenFds(env, 42), [
    { fd: 3, name: 'ecs-full' },
    { fd: 4, name: 'ecs-relative' },
  ])
  t.same(Object.keys(env), ['OTHER'], 'LISTEN_* removed so children do not inherit them')
  t.same(takeListenFds({ LISTEN_PID: '1', LISTEN_FDS: '1' }, 42), [], 'sockets meant for another process are ignored')
})

t.test('several listeners, readiness, graceful stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-run-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const deferred = () => {
    let fire = (): void => {}
    const promise = new Promise<void>((r) => (fire = r))
    return { promise, fire }
  }
  const gate = deferred()
  const entered = deferred()
  let slow = false
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: async () => {
      if (slow) {
        entered.fire()
        await gate.promise
      }
      return CREDS
    },
  })
  const calls: string[] = []
  const stopping = deferred()
  const sm: ServiceManager = {
    kind: 'none',
    ready: (s) => calls.push(`ready:${s}`),
    status: (s) => calls.push(`status:${s}`),
    watchdog: () => calls.push('watchdog'),
    stopping: () => {
      calls.push('stopping')
      stopping.fire()
    },
    watchdogIntervalMs: () => 1000,
  }
  const stop = new AbortController()
  const sock = join(dir, 'iamra.sock')
  const listening = deferred()
  let bound: string[] = []
  // The watchdog timer is the test's: its period is read, and it is fired by hand.
  const pings: Array<{ fn: () => void; ms: number; stopped: boolean }> = []
  const running = runServer({
    app,
    inherited: [],
    addresses: [
      { kind: 'tcp', host: '127.0.0.1', port: 0 },
      { kind: 'unix', path: sock },
    ],
    serviceManager: sm,
    stopSignal: stop.signal,
    log: () => {},
    onListening: (b) => {
      bound = b
      listening.fire()
    },
    every: (fn, ms) => {
      const p = { fn, ms, stopped: false }
      pings.push(p)
      return () => {
        p.stopped = true
      }
    },
  })
  await Promise.race([listening.promise, running])
  t.equal(bound.length, 2, `listening on ${bound.join(', ')}`)
  const port = Number(bound[0]?.split(':').pop())
  t.equal((await httpGet({ host: '127.0.0.1', port }, '/healthz')).body, 'ok', 'TCP')
  t.equal((await httpGet({ socketPath: sock }, '/healthz')).body, 'ok', 'unix socket')
  t.match(calls[0], /^ready:serving ECS credentials on 127\.0\.0\.1:\d+, .*iamra\.sock$/)
  t.same(
    pings.map((p) => p.ms),
    [500],
    'the watchdog is pinged at half the interval',
  )
  pings[0]?.fn()
  t.ok(calls.includes('watchdog'), 'watchdog pinged')

  const { token } = await addBinding(dir, 'app', 'ecs-full')
  slow = true
  const inflight = httpGet({ host: '127.0.0.1', port }, '/ecs/credentials', { authorization: `Bearer ${token}` })
  await entered.promise // the request is being answered
  stop.abort()
  await stopping.promise // STOPPING=1 sent; the listeners are closed in the same step
  t.ok(pings[0]?.stopped, 'the watchdog timer is stopped')
  const late = await httpGet({ socketPath: sock }, '/ecs/credentials', { authorization: `Bearer ${token}` }).then(
    (r) => `answered ${r.status}`,
    (e: NodeJS.ErrnoException) => `refused ${e.code ?? e.message}`,
  )
  t.equal(late, 'refused ENOENT', 'a new connection during shutdown is refused: the listener is closed and its socket file gone')
  const lateTcp = await httpGet({ host: '127.0.0.1', port }, '/healthz').then(
    (r) => `answered ${r.status}`,
    (e: NodeJS.ErrnoException) => `refused ${e.code ?? e.message}`,
  )
  t.equal(lateTcp, 'refused ECONNREFUSED', 'on TCP too')
  // A request that still reaches the app (a connection accepted before the stop) gets a coded 503.
  const reached = await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: `Bearer ${token}` } })
  t.equal(reached.statusCode, 503, 'a request during shutdown is refused (503)')
  t.match(reached.body, /"Code":"SERVER_STOPPING"/)
  gate.fire()
  t.equal((await inflight).status, 200, 'the in-flight request finished')
  await running
  t.ok(calls.includes('stopping'), 'STOPPING=1 sent')
  await t.rejects(httpGet({ host: '127.0.0.1', port }, '/healthz'), 'closed after stop')
})

t.test('named sockets serve only their family of modes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-run-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app = await buildApp({ configurationDirectory: dir, resolveCredentials: async () => CREDS })
  const full = app.fastify.server
  app.nameSocket(full, 'ecs-full')
  const relative = app.createServer('ecs-relative')
  await new Promise<void>((r) => full.listen(0, '127.0.0.1', r))
  await new Promise<void>((r) => relative.listen(0, '127.0.0.1', r))
  t.teardown(async () => {
    for (const s of [relative, full]) {
      s.close()
      s.closeAllConnections()
    }
    await app.fastify.close()
  })
  const portOf = (s: typeof full) => (s.address() as { port: number }).port
  const rel = await addBinding(dir, 'rel', 'ecs-relative')
  const fullB = await addBinding(dir, 'full', 'ecs-full')
  const ask = (s: typeof full, tok: string) => httpGet({ host: '127.0.0.1', port: portOf(s) }, '/ecs/credentials', { authorization: `Bearer ${tok}` })
  t.equal((await ask(relative, rel.token)).status, 200)
  t.equal((await ask(relative, fullB.token)).status, 403, 'a full-URI binding is not served on the relative socket')
  t.equal((await ask(full, fullB.token)).status, 200)
  t.equal((await ask(full, rel.token)).status, 403, 'a relative binding is not served on the full-URI socket')
})

t.test('SIGTERM abandons CreateSession in flight: the process exits at once, not after the upstream timeouts', async (t) => {
  const { spawn } = await import('node:child_process')
  const { createServer: createTcp } = await import('node:net')
  const { BIN, runCli } = await import('./helpers/cli.js')
  const { stopProcess } = await import('./helpers/processes.js')
  const { startScenario } = await import('./helpers/scenario.js')
  const s = await startScenario('p256')
  t.teardown(s.close)
  const held: Array<{ destroy(): void }> = []
  const hang = createTcp((socket) => void held.push(socket)) // accepts, never answers
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const c of held) c.destroy()
    hang.close()
  })
  const dir = join(s.pki.dir, 'run')
  const hangUrl = `http://127.0.0.1:${(hang.address() as { port: number }).port}`
  t.equal(
    (
      await runCli([
        'bind',
        'app',
        '--configuration-directory',
        dir,
        '--no-validate',
        '--certificate',
        s.pki.path('chain-leaf-first.pem'),
        '--private-key',
        s.pki.path('key.pem'),
        ...s.sessionArgs.slice(0, -1),
        hangUrl,
      ])
    ).code,
    0,
  )
  const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec((await import('node:fs')).readFileSync(join(dir, 'env/app'), 'utf8'))?.[1] ?? ''
  let out = ''
  const server = spawn(process.execPath, [BIN, 'serve', '--configuration-directory', dir, '--listen', '127.0.0.1:0'], {
    detached: true,
    env: { PATH: process.env.PATH ?? '' },
  })
  server.stdout.on('data', (c: Buffer) => (out += c.toString()))
  t.teardown(() => stopProcess(server))
  await pollUntil(() => /serving ECS credentials on/.test(out), { tries: 100, everyMs: 50 })
  const port = Number(/serving ECS credentials on 127\.0\.0\.1:(\d+)/.exec(out)?.[1])
  const inflight = httpGet({ host: '127.0.0.1', port }, '/ecs/credentials', { authorization: token }).catch((e: Error) => ({ status: -1, body: e.message }))
  await pollUntil(() => held.length > 0, { tries: 100, everyMs: 20 })
  t.equal(held.length, 1, 'CreateSession is hanging upstream')
  const started = Date.now()
  const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)))
  server.kill('SIGTERM')
  const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 8000))])
  t.equal(code, 0, `exited 0 after ${Date.now() - started} ms (the upstream timeouts alone would take 30 s)`)
  const answer = await inflight
  t.not(answer.status, 200, `the in-flight request got no credentials (${answer.status})`)
})

t.test('an address that cannot be listened on is LISTEN_FAILED (exit 1), not a usage error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-listen-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const taken = createServer()
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
  t.teardown(() => taken.close())
  const port = (taken.address() as AddressInfo).port
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: async () => {
      throw new Error('not called')
    },
  })
  t.teardown(() => app.fastify.close())
  const sm: ServiceManager = { kind: 'none', ready: () => {}, status: () => {}, watchdog: () => {}, stopping: () => {}, watchdogIntervalMs: () => 0 }
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  await t.rejects(
    runServer({ app, inherited: [], addresses: [{ kind: 'tcp', host: '127.0.0.1', port }], serviceManager: sm, stopSignal: stop.signal, log: () => {} }),
    { code: 'LISTEN_FAILED', exitCode: 1, message: /cannot listen: EADDRINUSE/ },
  )
})
