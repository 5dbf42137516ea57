// Token keys through bind and the server: pin-source only, nothing secret in the binding, one session reused.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readBinding } from '../src/binding/store.js'
import { KeyBackends } from '../src/keys/key-backends.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { makeSoftHsm, softHsmMissing, SOFTHSM_MODULE } from './helpers/softhsm.js'

const missing = softHsmMissing()
if (missing !== undefined) t.skip(`SoftHSM tests skipped: ${missing}`, async () => {})
else {
  t.test('bind and serve with a key on a PKCS#11 token', async (t) => {
    const s = await startScenario('p256')
    t.teardown(s.close)
    const PIN = '4321'
    const hsm = await makeSoftHsm(s.pki.intermediate, [{ label: 'srv', pin: PIN, keys: [{ label: 'ec', id: 7, spec: 'p384', cert: 'token' }] }])
    const keys = new KeyBackends()
    t.teardown(async () => {
      await keys.dispose()
      hsm.cleanup()
    })
    const pinFile = join(s.pki.dir, 'pin')
    writeFileSync(pinFile, PIN, { mode: 0o600 })
    const dir = join(s.pki.dir, 'run')
    const cert = (query: string) => `pkcs11:token=srv;object=ec-cert?${query}`
    const bind = (certificate: string, ...extra: string[]) =>
      runCli([
        'bind',
        'hsm',
        '--configuration-directory',
        dir,
        '--certificate',
        certificate,
        '--intermediates',
        s.pki.path('int.pem'),
        '--private-key',
        certificate.replace('object=ec-cert', 'object=ec'),
        '--pkcs11-lib',
        SOFTHSM_MODULE,
        ...s.sessionArgs,
        ...extra,
      ])

    const withPin = await bind(cert(`pin-value=${PIN}`))
    t.same([withPin.code, /must not hold a PIN; use pin-source/.test(withPin.stderr)], [2, true], 'a PIN in the URI is refused for a binding')
    t.equal((await bind('pkcs11:token=srv;object=ec-cert')).code, 2, 'no pin-source: refused, the server cannot prompt')
    t.equal((await bind(cert('pin-source=relative/pin'))).code, 2, 'pin-source must be absolute')
    const ok = await bind(cert(`pin-source=${pinFile}`))
    t.equal(ok.code, 0, ok.stderr)
    t.equal(s.fake.calls.at(-1)?.serial, BigInt(`0x${hsm.certs.get('ec')?.cert.serialNumber ?? '0'}`).toString(), 'validated with the token key')
    const json = readFileSync(join(dir, 'bindings/hsm.json'), 'utf8')
    t.notOk(json.includes(PIN), 'the binding file holds no PIN')
    const stored = await readBinding(dir, 'hsm')
    t.same([stored?.certificateFiles[0], stored?.pkcs11Lib], [cert(`pin-source=${pinFile}`), SOFTHSM_MODULE], 'the URI is stored as written, with the module')

    const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(\S+)/.exec(readFileSync(join(dir, 'env/hsm'), 'utf8'))?.[1] ?? ''
    const app = await buildApp({
      configurationDirectory: dir,
      resolveCredentials: bindingCredentials({ env: {}, keys, now: () => new Date(), random: Math.random }),
    })
    t.teardown(() => app.fastify.close())
    for (let i = 0; i < 3; i++) {
      const res = await app.fastify.inject({ method: 'GET', url: '/ecs/credentials', headers: { authorization: token } })
      t.equal(res.statusCode, 200, `request ${i + 1}: signed on the token (${res.statusCode === 200 ? 'ok' : res.body})`)
    }
    t.equal(s.fake.calls.filter((c) => c.status === 201).length, 4, 'one validation and three uncached exchanges, all accepted')
    t.same((await keys.pkcs11()).context.size, { modules: 1, sessions: 1 }, 'the server kept one module and one token session across the requests')
  })
}
