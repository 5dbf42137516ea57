// Key backends (PKCS#11 context, TPM device) are created by the entry point and disposed in one place:
// sessions closed, modules finalized, once; nothing of it is module-level state.
import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type * as P from 'pkcs11js'
import { KeyBackends } from '../src/keys/key-backends.js'
import { Pkcs11Context } from '../src/pkcs11/context.js'
import type { TokenSlot } from '../src/pkcs11/module.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { makeSoftHsm, softHsmMissing, SOFTHSM_MODULE } from './helpers/softhsm.js'

/** A pkcs11js stand-in that counts what is done to it. */
function countingAddon() {
  const calls = { addonLoads: 0, load: 0, initialize: 0, finalize: 0, close: 0, openSession: 0, closeSession: 0 }
  class PKCS11 {
    load(): void {
      calls.load++
    }
    C_Initialize(): void {
      calls.initialize++
    }
    C_Finalize(): void {
      calls.finalize++
    }
    close(): void {
      calls.close++
    }
    C_OpenSession(): Buffer {
      calls.openSession++
      return Buffer.from([calls.openSession])
    }
    C_CloseSession(): void {
      calls.closeSession++
    }
  }
  return {
    calls,
    addon: () => {
      calls.addonLoads++
      return { PKCS11, CKF_SERIAL_SESSION: 4 }
    },
  }
}

const token = (label: string): TokenSlot => ({ slot: Buffer.from([1]), flags: 0, attrs: { token: label, serial: '1' } })

t.test('a PKCS#11 context: one module per path, one session per token; dispose closes them once', async (t) => {
  const { calls, addon } = countingAddon()
  const p11 = new Pkcs11Context(addon)
  const mod = p11.openModule('/fake/one.so')
  t.equal(p11.openModule('/fake/one.so'), mod, 'the same module object for the same path')
  p11.openModule('/fake/two.so')
  t.equal(p11.tokenSession(mod, token('a')), p11.tokenSession(mod, token('a')), 'the same session for the same token')
  for (const label of ['a', 'b']) await p11.tokenSession(mod, token(label)).run(undefined, 'test', () => undefined)
  await p11.tokenSession(mod, token('a')).run(undefined, 'test', () => undefined)
  t.same([calls.addonLoads, calls.load, calls.initialize, calls.openSession], [1, 2, 2, 2], 'addon loaded once; two modules; two sessions, the first reused')
  t.same(p11.size, { modules: 2, sessions: 2 })
  p11.dispose()
  t.same([calls.closeSession, calls.finalize, calls.close], [2, 2, 2], 'each session closed, each module finalized and unloaded')
  p11.dispose()
  t.same([calls.closeSession, calls.finalize, calls.close, p11.size.modules, p11.size.sessions], [2, 2, 2, 0, 0], 'a second dispose does nothing')
})

t.test('key backends: PKCS#11 loaded only when used, one context per backends, disposed once', async (t) => {
  const idle = new KeyBackends()
  await idle.dispose()
  t.notOk(idle.pkcs11Used, 'disposing unused backends loads no PKCS#11 code')

  const { calls, addon } = countingAddon()
  const keys = new KeyBackends({ pkcs11Addon: addon })
  const backend = await keys.pkcs11()
  t.equal(await keys.pkcs11(), backend, 'one PKCS#11 backend per KeyBackends')
  const mod = backend.context.openModule('/fake/m.so')
  await backend.context.tokenSession(mod, token('a')).run(undefined, 'test', () => undefined)
  await keys.dispose()
  await keys.dispose()
  t.same([calls.closeSession, calls.finalize, calls.close], [1, 1, 1], 'disposed once, however often dispose() is called')
  await t.rejects(keys.pkcs11(), /after the key backends were disposed/, 'no PKCS#11 after dispose')

  const a = countingAddon()
  const b = countingAddon()
  const first = new KeyBackends({ pkcs11Addon: a.addon })
  const second = new KeyBackends({ pkcs11Addon: b.addon })
  ;(await first.pkcs11()).context.openModule('/fake/m.so')
  ;(await second.pkcs11()).context.openModule('/fake/m.so')
  await first.dispose()
  t.same([a.calls.finalize, b.calls.finalize], [1, 0], 'two backends share nothing: disposing one leaves the other open')
  await second.dispose()
})

t.test('the TPM device and its transport are the ones the key backends were given', async (t) => {
  const opened: unknown[] = []
  const keys = new KeyBackends({
    tpmDevice: 'swtpm:host=127.0.0.1,port=2999',
    tpmTransport: async (device) => {
      opened.push(device)
      throw new Error('test transport: refused')
    },
  })
  await t.rejects(keys.tpmKey({ reference: 'handle:0x81000001' }), /test transport: refused/)
  t.same(opened, [{ kind: 'swtpm', host: '127.0.0.1', port: 2999 }], 'the device named at the entry point, through its transport')
  t.notOk(keys.pkcs11Used, 'a TPM key loads no PKCS#11 code')
})

t.test('no module-level mutable state in the key code (src/pkcs11, src/tpm, src/identity, src/keys)', async (t) => {
  const offenders: string[] = []
  for (const dir of ['pkcs11', 'tpm', 'identity', 'keys']) {
    const root = new URL(`../src/${dir}/`, import.meta.url)
    for (const file of readdirSync(root).filter((f) => f.endsWith('.ts'))) {
      readFileSync(new URL(file, root), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // top-level only (no indentation): a `let`/`var`, or a Map/WeakMap/empty Set to fill at run time
          if (/^(export )?(let|var) /.test(line) || /^(export )?const \w+(: [^=]+)? = new (Map|WeakMap|Set\(\)|WeakSet)/.test(line))
            offenders.push(`src/${dir}/${file}:${i + 1}: ${line.trim()}`)
        })
    }
  }
  t.same(offenders, [], 'state lives in objects an entry point creates (Pkcs11Context, KeyBackends)')
})

const missing = softHsmMissing()
if (missing !== undefined) t.skip(`SoftHSM tests skipped: ${missing}`, async () => {})
else {
  /** True when SoftHSM is still initialized in this process, i.e. a command left its module (and sessions) open. */
  const leftOpen = (): boolean => {
    const pk = createRequire(import.meta.url)('pkcs11js') as typeof P
    const lib = new pk.PKCS11()
    lib.load(SOFTHSM_MODULE)
    try {
      lib.C_Initialize()
      lib.C_Finalize()
      return false
    } catch (e) {
      if (/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test((e as Error).message)) return true
      throw e
    } finally {
      lib.close()
    }
  }

  t.test('every command with a pkcs11: key leaves no module or session open when it returns', async (t) => {
    const s = await startScenario('p256')
    t.teardown(s.close)
    const PIN = '2468'
    const hsm = await makeSoftHsm(s.pki.intermediate, [{ label: 'disp', pin: PIN, keys: [{ label: 'ec', id: 9, spec: 'p256', cert: 'token' }] }])
    t.teardown(hsm.cleanup)
    t.notOk(leftOpen(), 'nothing open before')
    const pinFile = join(s.pki.dir, 'pin')
    writeFileSync(pinFile, PIN, { mode: 0o600 })
    const cert = `pkcs11:token=disp;object=ec-cert?pin-source=${pinFile}`
    const key = `pkcs11:token=disp;object=ec?pin-source=${pinFile}`
    const lib = ['--pkcs11-lib', SOFTHSM_MODULE]
    const runs: Array<[string, string[], Record<string, string>?]> = [
      ['credential-process', ['credential-process', ...lib, '--certificate', cert, '--intermediates', s.pki.path('int.pem'), ...s.sessionArgs]],
      ['sign-string', ['sign-string', ...lib, '--private-key', key]],
      ['read-certificate-data', ['read-certificate-data', ...lib, '--certificate', cert]],
      [
        'bind',
        [
          'bind',
          'disp',
          '--configuration-directory',
          join(s.pki.dir, 'run'),
          '--certificate',
          cert,
          '--intermediates',
          s.pki.path('int.pem'),
          '--private-key',
          key,
          ...lib,
          ...s.sessionArgs,
        ],
      ],
      [
        'update --once',
        ['update', '--once', ...lib, '--certificate', cert, '--intermediates', s.pki.path('int.pem'), ...s.sessionArgs],
        { HOME: join(s.pki.dir, 'home') },
      ],
    ]
    for (const [name, argv, env] of runs) {
      const r = await runCli(argv, { env: env ?? {} })
      t.equal(r.code, 0, `${name}: ${r.stderr}`)
      t.notOk(leftOpen(), `${name}: the token sessions were closed and the module finalized`)
    }
    const failed = await runCli(['credential-process', ...lib, '--certificate', cert.replace('object=ec-cert', 'object=nope'), ...s.sessionArgs])
    t.same([failed.code, /\[HSM_CERT_NOT_FOUND\]/.test(failed.stderr)], [3, true], failed.stderr)
    t.notOk(leftOpen(), 'a failed command disposes too')
  })
}
