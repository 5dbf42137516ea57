// A full run of the real server process: metrics, expiry warnings, /healthz, and no secret in any log line.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnvFile } from '../src/binding/env-file.js'
import { createLeaf } from '../src/testing/pki.js'
import { BIN, runCli } from './helpers/cli.js'
import { stopProcess } from './helpers/processes.js'
import { startScenario } from './helpers/scenario.js'
import { pollUntil } from './helpers/wait.js'

t.test('metrics, expiry warnings and redacted logs', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  const soon = await createLeaf({ name: 'short-lived', key: 'p256', issuer: s.pki.intermediate, notAfter: new Date(Date.now() + 3 * 86_400_000) })
  const keyPem = [s.pki.leaf.keyPem, soon.keyPem]
  const bind = (name: string, mode: string, cert: string, key: string) =>
    runCli([
      'bind',
      name,
      '--mode',
      mode,
      '--configuration-directory',
      dir,
      '--no-validate',
      '--certificate',
      cert,
      '--intermediates',
      s.pki.path('int.pem'),
      '--private-key',
      key,
      ...s.sessionArgs,
    ])
  t.equal((await bind('app', 'ecs-full', s.pki.path('leaf.pem'), s.pki.path('key.pem'))).code, 0)
  t.equal((await bind('soon', 'ecs-full-query', s.pki.write('soon.pem', soon.certPem), s.pki.write('soon.key', soon.keyPem))).code, 0)

  let output = ''
  const server = spawn(process.execPath, [BIN, 'serve', '--configuration-directory', dir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], {
    detached: true,
    env: { PATH: process.env.PATH ?? '' },
  })
  server.stdout.on('data', (c: Buffer) => (output += c.toString()))
  server.stderr.on('data', (c: Buffer) => (output += c.toString()))
  t.teardown(() => stopProcess(server))
  await pollUntil(() => /metrics on/.test(output), { tries: 100, everyMs: 50 })
  const ecs = /serving ECS credentials on (127\.0\.0\.1:\d+)/.exec(output)?.[1]
  const metricsAt = /metrics on (127\.0\.0\.1:\d+)\/metrics/.exec(output)?.[1]
  t.ok(ecs && metricsAt, `listening: ${ecs}, metrics ${metricsAt}`)

  const app = parseEnvFile(readFileSync(join(dir, 'env/app'), 'utf8'))
  const soonEnv = parseEnvFile(readFileSync(join(dir, 'env/soon'), 'utf8'))
  const secrets: string[] = [...keyPem.map((k) => k.split('\n')[1] ?? 'x')]
  const fetchJson = async (url: string, headers: Record<string, string> = {}) => {
    const r = await fetch(url, { headers })
    const body = await r.text()
    return { status: r.status, body }
  }
  for (let i = 0; i < 5; i++) {
    const r = await fetchJson(`http://${ecs}/ecs/credentials`, { authorization: app.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? '' })
    t.equal(r.status, 200)
    const c = JSON.parse(r.body) as Record<string, string>
    secrets.push(c.SecretAccessKey ?? '', c.Token ?? '')
  }
  const q = await fetchJson((soonEnv.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? '').replace(/127\.0\.0\.1:7224/, ecs ?? ''))
  t.equal(q.status, 200, 'query-mode binding')
  secrets.push(...[(JSON.parse(q.body) as Record<string, string>).SecretAccessKey ?? ''])
  const tokens = [app.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? '', soonEnv.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? ''].map(
    (v) => /iamra\.[^.]+\.([A-Za-z0-9_-]+)/.exec(v)?.[1] ?? 'x',
  )
  secrets.push(...tokens)
  t.equal(
    (await fetchJson(`http://${ecs}/ecs/credentials?access_token=${encodeURIComponent(`iamra.app.${tokens[0]}`)}`)).status,
    403,
    'header-mode token in the query',
  )
  t.equal((await fetchJson(`http://${ecs}/ecs/credentials`, { authorization: `Bearer iamra.app.${'B'.repeat(86)}` })).status, 403)

  const health = await fetchJson(`http://${ecs}/healthz`)
  t.match(health.body, /^ok; warning: 1 certificate\(s\) expire within 7 days, the first on \d{4}-/)
  t.notOk(/app|soon/.test(health.body), '/healthz names no binding')
  t.equal((await fetchJson(`http://${ecs}/metrics`)).status, 404, 'no metrics on the ECS listener')
  const m = (await fetchJson(`http://${metricsAt}/metrics`)).body
  t.match(m, /iamra_http_requests_total\{route="\/ecs\/credentials",status="200"\} 6/)
  t.match(m, /iamra_http_requests_total\{route="\/ecs\/credentials",status="403"\} 2/)
  t.match(m, /iamra_create_session_total\{binding="app",result="ok"\} 1\n/, 'five requests, one CreateSession')
  t.match(m, /iamra_cache_events_total\{event="hit"\} 4/)
  t.match(m, /iamra_certificate_not_after_seconds\{binding="soon"\} \d+/)
  t.match(m, /iamra_create_session_duration_seconds_count\{binding="app"\} 1/)
  t.match(output, /"level":40.*the certificate of binding soon expires on/, 'expiry warning in the log')

  t.equal((await runCli(['unbind', 'soon', '--configuration-directory', dir])).code, 0)
  t.equal((await fetchJson(`http://${ecs}/healthz`)).body, 'ok', 'an unbound binding leaves /healthz')
  t.notMatch((await fetchJson(`http://${metricsAt}/metrics`)).body, /iamra_certificate_not_after_seconds\{binding="soon"\}/, 'and the certificate metric')

  await stopProcess(server)
  t.ok(output.split('\n').length > 5, `${output.split('\n').length} log lines scanned`)
  for (const secret of secrets) t.notOk(secret.length > 8 && output.includes(secret), 'no secret in the logs')
})
