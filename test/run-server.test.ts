// runServer in-process: several listeners, named sockets, readiness, graceful stop; listen parsing.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../src/server/app.js'
import { parseListen, takeListenFds } from '../src/server/listen.js'
import { runServer } from '../src/server/run-server.js'
import type { ServiceManager } from '../src/server/service-manager.js'
import type { SessionCredentials } from '../src/rolesanywhere/response.js'
import { addBinding } from './helpers/bindings.js'
import { httpGet } from './helpers/http.js'
import { pollUntil } from './helpers/wait.js'

const CREDS: SessionCredentials = {
  accessKeyId: 'ASIAX', secretAccessKey: 's', sessionToken: 't', expiration: new Date('2099-01-01T00:00:00Z'),
  expiresAt: new Date('2099-01-01T00:00:00Z'), roleArn: 'arn:aws:iam::123456789012:role/app', assumedRoleArn: undefined,
}

t.test('listen parsing and inherited sockets', async (t) => {
  t.same(parseListen('127.0.0.1:7224'), { kind: 'tcp', host: '127.0.0.1', port: 7224 })
  t.same(parseListen('[::1]:80'), { kind: 'tcp', host: '::1', port: 80 })
  t.same(parseListen('/run/iamra.sock'), { kind: 'unix', path: '/run/iamra.sock' })
  for (const bad of ['7224', 'host', '1.2.3.4:99999', '::1:80']) t.throws(() => parseListen(bad), { code: 'USAGE' }, bad)
  const env: Record<string, string | undefined> = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'ecs-full:ecs-relative', OTHER: 'x' }
  t.same(takeListenFds(env, 42), [{ fd: 3, name: 'ecs-full' }, { fd: 4, name: 'ecs-relative' }])
  t.same(Object.keys(env), ['OTHER'], 'LISTEN_* removed so children do not inherit them')
  t.same(takeListenFds({ LISTEN_PID: '1', LISTEN_FDS: '1' }, 42), [], 'sockets meant for another process are ignored')
})

t.test('several listeners, readiness, graceful stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-run-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let release: () => void = () => {}
  const gate = new Promise<void>((r) => (release = r))
  let slow = false
  const app = await buildApp({ configurationDirectory: dir, resolveCredentials: async () => {
    if (slow) await gate
    return CREDS
  } })
  const calls: string[] = []
  const sm: ServiceManager = {
    kind: 'none', ready: (s) => calls.push(`ready:${s}`), status: (s) => calls.push(`status:${s}`), watchdog: () => calls.push('watchdog'),
    stopping: () => calls.push('stopping'), watchdogIntervalMs: () => 1000,
  }
  const stop = new AbortController()
  const sock = join(dir, 'iamra.sock')
  let bound: string[] = []
  const running = runServer({
    app, inherited: [], addresses: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }, { kind: 'unix', path: sock }], serviceManager: sm,
    stopSignal: stop.signal, log: () => {}, onListening: (b) => (bound = b),
  })
  await pollUntil(() => bound.length > 0, { tries: 100, everyMs: 20 })
  t.equal(bound.length, 2, `listening on ${bound.join(', ')}`)
  const port = Number(bound[0]?.split(':').pop())
  t.equal((await httpGet({ host: '127.0.0.1', port }, '/healthz')).body, 'ok', 'TCP')
  t.equal((await httpGet({ socketPath: sock }, '/healthz')).body, 'ok', 'unix socket')
  t.match(calls[0], /^ready:serving ECS credentials on 127\.0\.0\.1:\d+, .*iamra\.sock$/)
  await new Promise((r) => setTimeout(r, 700))
  t.ok(calls.includes('watchdog'), 'watchdog pinged at half the interval')

  const { token } = await addBinding(dir, 'app', 'ecs-full')
  slow = true
  const inflight = httpGet({ host: '127.0.0.1', port }, '/ecs/credentials', { authorization: `Bearer ${token}` })
  await new Promise((r) => setTimeout(r, 100))
  stop.abort()
  await new Promise((r) => setTimeout(r, 100))
  const late = await httpGet({ socketPath: sock }, '/ecs/credentials', { authorization: `Bearer ${token}` }).catch((e: Error) => ({ status: -1, body: e.message }))
  t.ok(late.status === 503 || late.status === -1, `a request during shutdown is refused (${late.status})`)
  if (late.status === 503) t.match(late.body, /"Code":"SERVER_STOPPING"/)
  release()
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
  t.teardown(() => { for (const c of held) c.destroy(); hang.close() })
  const dir = join(s.pki.dir, 'run')
  const hangUrl = `http://127.0.0.1:${(hang.address() as { port: number }).port}`
  t.equal((await runCli(['bind', 'app', '--configuration-directory', dir, '--no-validate', '--certificate', s.pki.path('chain-leaf-first.pem'), '--private-key', s.pki.path('key.pem'), ...s.sessionArgs.slice(0, -1), hangUrl])).code, 0)
  const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec((await import('node:fs')).readFileSync(join(dir, 'env/app'), 'utf8'))?.[1] ?? ''
  let out = ''
  const server = spawn(process.execPath, [BIN, 'serve', '--configuration-directory', dir, '--listen', '127.0.0.1:0'], { detached: true, env: { PATH: process.env.PATH ?? '' } })
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
