// The sidecar's probes: IMDS mode answers /healthz without a token and with nothing secret, and
// `iamra probe` (the exec probe of a loopback-only server) exits 0 only on a 200.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildImdsApp } from '../src/imds/app.js'
import { TokenStore } from '../src/imds/token-store.js'
import { runCli } from './helpers/cli.js'
import { randomBytes } from 'node:crypto'

t.test('IMDS mode: GET /healthz needs no token and says only "ok"', async (t) => {
  let asked = 0
  const app = await buildImdsApp({
    roleName: 'app',
    credentials: async () => {
      asked++
      throw new Error('not used')
    },
    tokens: new TokenStore({ now: Date.now, random: randomBytes }),
  })
  t.teardown(() => app.fastify.close())
  const r = await app.fastify.inject({ method: 'GET', url: '/healthz', headers: { host: '10.244.1.7:9911' } })
  t.equal(r.statusCode, 200)
  t.equal(r.body, 'ok')
  t.equal(r.headers['content-type'], 'text/plain')
  t.equal(asked, 0, 'no credentials fetched for a probe')
  const rebinding = await app.fastify.inject({ method: 'GET', url: '/healthz', headers: { host: 'evil.example' } })
  t.equal(rebinding.statusCode, 400, 'the DNS-rebinding guard still applies')
  const creds = await app.fastify.inject({ method: 'GET', url: '/latest/meta-data/iam/security-credentials/app', headers: { host: '127.0.0.1' } })
  t.equal(creds.statusCode, 401, 'credentials still need a token')
})

t.test('iamra probe: exit 0 on 200, 5 otherwise, 2 on a bad URL', async (t) => {
  const server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 503).end('x'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.equal((await runCli(['probe', `${base}/healthz`])).code, 0)
  const down = await runCli(['probe', `${base}/other`])
  t.equal(down.code, 5)
  t.match(down.stderr, /answered HTTP 503 \[SERVER_UNREACHABLE\]/)
  const closed = await runCli(['probe', 'http://127.0.0.1:1/healthz', '--timeout', '2'])
  t.equal(closed.code, 5)
  t.match(closed.stderr, /ECONNREFUSED/)
  t.equal((await runCli(['probe', 'https://127.0.0.1/healthz'])).code, 2)
  t.equal((await runCli(['probe'])).code, 2)
  t.equal((await runCli(['probe', `${base}/healthz`, '--timeout', '0'])).code, 2)
})
