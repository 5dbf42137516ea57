// Keys on PKCS#11 tokens (SoftHSM2 in a temp dir) through credential-process, sign-string and
// read-certificate-data, against the verifying fake endpoint; plus the URI parser and DER encoding.
import t from 'tap'
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import type * as P from 'pkcs11js'
import { testStringFor } from '../src/cli/commands/sign-string.js'
import { IamraError } from '../src/errors.js'
import { pkcs11Error } from '../src/pkcs11/errors.js'
import { rawToDer } from '../src/pkcs11/signer.js'
import { formatPkcs11Uri, parsePkcs11Uri, redactPin } from '../src/pkcs11/uri.js'
import { createCa } from '../src/testing/pki.js'
import { runCli, spawnCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { makeSoftHsm, softHsmMissing, SOFTHSM_MODULE } from './helpers/softhsm.js'

t.test('pkcs11: URIs: parsing, percent-decoding, errors, formatting, PIN redaction', async (t) => {
  const u = parsePkcs11Uri('pkcs11:token=My%20Token;serial=ab12;object=cert%2001;id=%01%ff;type=cert?pin-value=s3cret&module-path=/usr/lib/x.so')
  t.same(
    [u.token, u.object, u.id?.toString('hex'), u.type, u.pinValue, u.modulePath],
    [{ token: 'My Token', serial: 'ab12' }, 'cert 01', '01ff', 'cert', 's3cret', '/usr/lib/x.so'],
  )
  t.notMatch(u.display, /s3cret/, 'display hides the PIN')
  t.equal(parsePkcs11Uri('pkcs11:').token.token, undefined, 'an empty URI matches everything')
  t.equal(parsePkcs11Uri('pkcs11:object=a?pin-source=/run/pin').pinSource, '/run/pin')
  for (const [bad, why] of [
    ['pkcs11:bogus=1', /unknown path attribute "bogus"/],
    ['pkcs11:id=%zz', /percent-encoding/],
    ['pkcs11:token=a;token=b', /twice/],
    ['pkcs11:type=key', /type must be/],
    ['pkcs11:slot-id=x', /decimal/],
    ['pkcs11:token?pin-value=x', /not attribute=value/],
    ['pkcs11:token=a?pin-value=1&pin-source=/f', /not both/],
  ] as const) {
    t.throws(() => parsePkcs11Uri(bad), { code: 'HSM_URI_INVALID', message: why }, bad)
  }
  t.equal(
    formatPkcs11Uri({ token: { token: 'a b', serial: '1', 'slot-id': '17' }, object: 'x;y', id: Buffer.from([1, 0xab]), type: 'cert' }),
    'pkcs11:token=a%20b;serial=1;id=%01%ab;object=x%3by;type=cert',
  )
  t.equal(redactPin('see pkcs11:token=a?module-path=/m&pin-value=123456 now'), 'see pkcs11:token=a?module-path=/m&pin-value=*** now')
})

t.test('raw r||s signatures become DER that node verifies; CKR codes map to coded errors', async (t) => {
  for (const namedCurve of ['P-256', 'P-384']) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve })
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`message ${i}`)
      const raw = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
      t.ok(verify('sha256', data, publicKey, rawToDer(raw)), `${namedCurve} #${i}`)
    }
  }
  const e = (name: string): Error => Object.assign(new Error(name), { method: 'C_Login' })
  t.equal(pkcs11Error(e('CKR_PIN_LOCKED'), 'logging in').code, 'HSM_PIN_LOCKED')
  t.equal(pkcs11Error(e('CKR_PIN_INCORRECT'), 'logging in').code, 'HSM_PIN_WRONG')
  t.equal(pkcs11Error(e('CKR_DEVICE_REMOVED'), 'signing').code, 'HSM_DEVICE_ERROR')
  t.equal(pkcs11Error(e('CKR_FUNCTION_FAILED'), 'signing').message, 'PKCS#11: signing failed: CKR_FUNCTION_FAILED in C_Login')
  t.ok(pkcs11Error(new IamraError('USAGE', 'x'), 'y') instanceof IamraError)
})

const missing = softHsmMissing()
if (missing !== undefined) {
  t.skip(missing, async () => {})
} else {
  const PIN = 'pin-735916'
  const s = await startScenario('p256')
  t.teardown(s.close)
  const stranger = await createCa({ name: 'unrelated CA', key: 'p256' })
  const hsm = await makeSoftHsm(s.pki.intermediate, [
    {
      label: 'iamra-a',
      pin: PIN,
      keys: [
        { label: 'rsa', id: 1, spec: 'rsa2048', cert: 'token' },
        { label: 'ec', id: 2, spec: 'p256', cert: 'token' },
        { label: 'ec384', id: 3, spec: 'p384', cert: 'token' },
        { label: 'auth', id: 4, spec: 'p256', cert: 'token', alwaysAuth: true },
        { label: 'filekey', id: 5, spec: 'p256', cert: 'file' },
      ],
      extraCerts: [
        ['int-ca', 10, s.pki.intermediate],
        ['unrelated-ca', 11, stranger],
      ],
    },
    { label: 'iamra-b', pin: '5678', keys: [{ label: 'ec-b', id: 2, spec: 'p256', cert: 'token' }] },
    {
      label: 'iamra-imp',
      pin: PIN,
      keys: [
        // private keys written alone: the token never shows their public half (ids avoid %02)
        { label: 'imp-ec', id: 0x21, spec: 'p256', cert: 'token', imported: true },
        { label: 'imp-rsa', id: 0x22, spec: 'rsa2048', cert: 'token', imported: true },
        { label: 'imp-file', id: 0x23, spec: 'p384', cert: 'file', imported: true },
        { label: 'imp-auth', id: 0x24, spec: 'p256', cert: 'token', imported: true, alwaysAuth: true },
      ],
      extraCerts: [['int-ca', 0x30, s.pki.intermediate]],
    },
  ])
  t.teardown(hsm.cleanup)
  const uri = (path: string, query = `pin-value=${PIN}`): string => `pkcs11:${path}${query === '' ? '' : `?${query}`}`
  const cp = (args: string[], opts: { password?: string } = {}) =>
    runCli(['credential-process', '--pkcs11-lib', SOFTHSM_MODULE, ...args, ...s.sessionArgs], opts)
  const serialOf = (label: string): string => BigInt(`0x${hsm.certs.get(label)!.cert.serialNumber}`).toString(10)

  t.test('a certificate URI alone finds the key: RSA, P-256 and P-384; the chain holds only the issuer', async (t) => {
    for (const label of ['rsa', 'ec', 'ec384']) {
      const r = await cp(['--certificate', uri(`token=iamra-a;object=${label}-cert`)])
      t.equal(r.code, 0, `${label}: ${r.stderr}`)
      t.match(r.stdout, /^\{"Version":1,"AccessKeyId":"ASIA/)
      t.same(
        [s.fake.calls.at(-1)?.serial, s.fake.calls.at(-1)?.chainLength],
        [serialOf(label), 1],
        `${label}: leaf and intermediate sent, not the unrelated CA`,
      )
    }
  })

  t.test('key URI, PIN file, module-path, a certificate file with a token key', async (t) => {
    const pinFile = s.pki.write('pin.txt', `${PIN}\n`)
    const sep = await cp(['--certificate', uri('token=iamra-a;object=ec-cert', ''), '--private-key', uri('token=iamra-a;object=ec', `pin-source=${pinFile}`)])
    t.equal(sep.code, 0, `separate URIs, pin-source: ${sep.stderr}`)
    const file = await cp([
      '--certificate',
      hsm.certs.get('filekey')!.path,
      '--intermediates',
      s.pki.path('int.pem'),
      '--private-key',
      uri('token=iamra-a;id=%05'),
    ])
    t.same([file.code, s.fake.calls.at(-1)?.serial], [0, serialOf('filekey')], `certificate file, key on the token: ${file.stderr}`)
    const mp = await runCli([
      'credential-process',
      '--certificate',
      uri('token=iamra-a;object=rsa-cert', `module-path=${SOFTHSM_MODULE}&pin-value=${PIN}`),
      ...s.sessionArgs,
    ])
    t.equal(mp.code, 0, `module-path in the URI: ${mp.stderr}`)
    const dbg = await cp(['--debug', '--certificate', uri('token=iamra-a;object=ec384-cert')])
    t.equal(dbg.code, 0)
    t.match(dbg.stderr, /ignored \(does not issue the leaf\): CN=unrelated CA/, 'the unrelated token CA is named as ignored')
    t.notMatch(dbg.stderr + dbg.stdout, PIN, 'the PIN is never printed')
    const cache = ['--cache', '--cache-dir', `${s.pki.dir}/cache`, '--certificate', uri('token=iamra-a;object=ec-cert')]
    const calls = s.fake.calls.length
    const [first, second] = [await cp(cache), await cp(cache)]
    t.same([first.code, second.code, first.stdout === second.stdout, s.fake.calls.length - calls], [0, 0, true, 1], '--cache works with a pkcs11: URI')
  })

  t.test('PINs: prompt, wrong PIN, none at all; never printed', async (t) => {
    const noPin = ['--certificate', uri('token=iamra-a;object=ec-cert', '')]
    t.equal((await cp(noPin, { password: PIN })).code, 0, 'PIN from the prompt')
    const none = await cp(noPin)
    t.same([none.code, /needs its user PIN.*\[HSM_PIN_REQUIRED\]/.test(none.stderr)], [3, true], none.stderr)
    const wrong = await cp(['--certificate', uri('token=iamra-a;object=ec-cert', 'pin-value=wrong-pin-1')])
    t.same([wrong.code, /CKR_PIN_INCORRECT.*\[HSM_PIN_WRONG\]/.test(wrong.stderr)], [3, true], wrong.stderr)
    const prompted = await cp(noPin, { password: 'wrong-pin-2' })
    t.equal(prompted.code, 3)
    t.notMatch(wrong.stderr + prompted.stderr, /wrong-pin/, 'wrong PINs are not echoed')
  })

  t.test('always-authenticate key: --reuse-pin, a prompt, or a clear error', async (t) => {
    const args = ['--certificate', uri('token=iamra-a;object=auth-cert')]
    const reuse = await cp([...args, '--reuse-pin'])
    t.same([reuse.code, s.fake.calls.at(-1)?.serial], [0, serialOf('auth')], `--reuse-pin: ${reuse.stderr}`)
    t.equal((await cp(args, { password: PIN })).code, 0, 'context-specific PIN from the prompt')
    const none = await cp(args)
    t.same([none.code, /CKA_ALWAYS_AUTHENTICATE.*--reuse-pin.*\[HSM_PIN_REQUIRED\]/.test(none.stderr)], [3, true], none.stderr)
    const wrong = await cp(args, { password: 'not-it' })
    t.same([wrong.code, /\[HSM_PIN_WRONG\]/.test(wrong.stderr)], [3, true], wrong.stderr)
  })

  t.test('selection errors: tokens, objects, modules; nothing is sent', async (t) => {
    const before = s.fake.calls.length
    const cases: Array<[string, string[], number, RegExp]> = [
      [
        'no matching token',
        ['--certificate', uri('token=nope')],
        3,
        /no token in .* matches pkcs11:token=nope\?pin-value=\*\*\* \(present: .*"iamra-a" \(serial [0-9a-f]+, SoftHSM project SoftHSM v2\).*\[HSM_TOKEN_NOT_FOUND\]/,
      ],
      ['several matching tokens', ['--certificate', uri('id=%02')], 3, /2 tokens match .*add token= or serial=.*\[HSM_TOKEN_AMBIGUOUS\]/],
      ['several matching keys', ['--certificate', uri('token=iamra-a')], 3, /several certificate and key pairs match.*add object= or id=.*\[HSM_AMBIGUOUS\]/],
      ['no such certificate', ['--certificate', uri('token=iamra-a;object=nope')], 3, /no certificate on the token matches.*\[HSM_CERT_NOT_FOUND\]/],
      [
        'no such key',
        ['--certificate', hsm.certs.get('filekey')!.path, '--private-key', uri('token=iamra-a;object=nope')],
        3,
        /no private key on token .*\[HSM_KEY_NOT_FOUND\]/,
      ],
      [
        'key of another certificate',
        ['--certificate', uri('token=iamra-a;object=ec-cert'), '--private-key', uri('token=iamra-a;object=rsa')],
        3,
        /belongs to the certificate .*\[KEY_CERT_MISMATCH\]/,
      ],
      [
        'module path wrong',
        ['--pkcs11-lib', '/nonexistent/libnope.so', '--certificate', uri('token=iamra-a;object=ec-cert')],
        3,
        /cannot load the PKCS#11 module \/nonexistent\/libnope\.so.*\[HSM_MODULE_NOT_FOUND\]/,
      ],
      [
        'module-path wrong',
        ['--certificate', uri('token=iamra-a', `module-path=/nonexistent/m.so&pin-value=${PIN}`)],
        3,
        /\/nonexistent\/m\.so.*\[HSM_MODULE_NOT_FOUND\]/,
      ],
      ['bad URI', ['--certificate', 'pkcs11:token=a;label=x'], 2, /unknown path attribute "label".*\[HSM_URI_INVALID\]/],
    ]
    for (const [name, args, code, msg] of cases) {
      const r = await cp(args)
      t.equal(r.code, code, `${name}: exit ${code}`)
      t.match(r.stderr, msg, name)
      t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one stderr line`)
      t.notMatch(r.stderr, PIN, `${name}: no PIN in the message`)
    }
    t.equal(s.fake.calls.length, before, 'no request reached the endpoint')
  })

  t.test('keys whose public half the token hides are paired by a test signature', async (t) => {
    // SoftHSM shows an RSA private key's modulus: hide it (and the exponent) for imp-rsa, as tokens that keep it secret do
    const js = createRequire(import.meta.url)('pkcs11js') as typeof P
    const proto = js.PKCS11.prototype as unknown as { C_GetAttributeValue: (s: Buffer, h: Buffer, tpl: P.Template) => P.Template }
    const original = proto.C_GetAttributeValue
    proto.C_GetAttributeValue = function (this: unknown, session, handle, tpl) {
      if (tpl.some((a) => a.type === js.CKA_MODULUS || a.type === js.CKA_PUBLIC_EXPONENT)) {
        const label = original.call(this, session, handle, [{ type: js.CKA_LABEL }])[0]?.value
        if (Buffer.isBuffer(label) && label.toString() === 'imp-rsa') throw new Error('CKR_ATTRIBUTE_SENSITIVE')
      }
      return original.call(this, session, handle, tpl)
    }
    t.teardown(() => {
      proto.C_GetAttributeValue = original
    })
    for (const label of ['imp-ec', 'imp-rsa']) {
      const r = await cp(['--certificate', uri(`token=iamra-imp;object=${label}-cert`)])
      t.same(
        [r.code, s.fake.calls.at(-1)?.serial, s.fake.calls.at(-1)?.chainLength],
        [0, serialOf(label), 1],
        `${label}, certificate on the token: ${r.stderr}`,
      )
    }
    const file = hsm.certs.get('imp-file')!.path
    const named = await cp(['--certificate', file, '--intermediates', s.pki.path('int.pem'), '--private-key', uri('token=iamra-imp;object=imp-file')])
    t.same([named.code, s.fake.calls.at(-1)?.serial], [0, serialOf('imp-file')], `certificate file, key named by the URI: ${named.stderr}`)
    const any = await cp(['--certificate', file, '--intermediates', s.pki.path('int.pem'), '--private-key', uri('token=iamra-imp')], { password: PIN })
    t.same([any.code, s.fake.calls.at(-1)?.serial], [0, serialOf('imp-file')], `certificate file, every key of the token tried: ${any.stderr}`)
    const auth = ['--certificate', uri('token=iamra-imp;object=imp-auth-cert')]
    const prompted = await cp(auth, { password: PIN })
    t.same([prompted.code, s.fake.calls.at(-1)?.serial], [0, serialOf('imp-auth')], `always-authenticate key, context PIN from the prompt: ${prompted.stderr}`)
    const before = s.fake.calls.length
    const noPin = await cp(auth)
    t.same([noPin.code, /CKA_ALWAYS_AUTHENTICATE.*\[HSM_PIN_REQUIRED\]/.test(noPin.stderr)], [3, true], noPin.stderr)
    for (const [name, cert, key] of [
      ['EC key, another P-256 certificate', hsm.certs.get('ec')!.path, 'object=imp-ec'],
      ['RSA key, another RSA certificate', hsm.certs.get('rsa')!.path, 'id=%22'],
      ['EC key, an RSA certificate', hsm.certs.get('rsa')!.path, 'object=imp-ec'],
    ] as const) {
      const r = await cp(['--certificate', cert, '--private-key', uri(`token=iamra-imp;${key}`)])
      t.same([r.code, /belongs to the certificate .*hides the public key.*\[KEY_CERT_MISMATCH\]/.test(r.stderr)], [3, true], `${name}: ${r.stderr}`)
      t.notMatch(r.stderr, PIN, `${name}: no PIN in the message`)
    }
    t.equal(s.fake.calls.length, before, 'no request reached the endpoint')

    const { listTokens } = await import('../src/pkcs11/module.js')
    const { select } = await import('../src/pkcs11/select.js')
    const { Pkcs11Context } = await import('../src/pkcs11/context.js')
    const p11 = new Pkcs11Context()
    t.teardown(() => p11.dispose())
    const mod = p11.openModule(SOFTHSM_MODULE)
    const reused = await select({
      p11,
      mod,
      certUri: parsePkcs11Uri(uri('token=iamra-imp;object=imp-auth-cert')),
      keyUri: undefined,
      fileCerts: [],
      prompt: undefined,
      reusePin: true,
    })
    t.same(
      [reused.key.label, reused.tokenLeaf?.label],
      ['imp-auth', 'imp-auth-cert'],
      'reusePin: the always-authenticate test signature uses the user PIN, no prompt',
    )
    // a second copy of imp-ec: two keys sign the test message the certificate verifies
    const { lib } = mod
    const rw = lib.C_OpenSession(listTokens(mod).find((x) => x.attrs.token === 'iamra-imp')!.slot, js.CKF_SERIAL_SESSION | js.CKF_RW_SESSION)
    try {
      try {
        lib.C_Login(rw, js.CKU_USER, PIN)
      } catch (e) {
        if (!/CKR_USER_ALREADY_LOGGED_IN/.test((e as Error).message)) throw e
      }
      lib.C_FindObjectsInit(rw, [
        { type: js.CKA_CLASS, value: js.CKO_PRIVATE_KEY },
        { type: js.CKA_LABEL, value: 'imp-ec' },
      ])
      const [original] = lib.C_FindObjects(rw, 1)
      lib.C_FindObjectsFinal(rw)
      lib.C_CopyObject(rw, original!, [
        { type: js.CKA_ID, value: Buffer.from([0x25]) },
        { type: js.CKA_LABEL, value: 'imp-ec-copy' },
      ])
    } finally {
      lib.C_CloseSession(rw)
    }
    const twice = await cp(['--certificate', hsm.certs.get('imp-ec')!.path, '--private-key', uri('token=iamra-imp')], { password: PIN })
    t.same(
      [twice.code, /several certificate and key pairs match: .*object=imp-ec;.*object=imp-ec-copy;.*add object= or id=.*\[HSM_AMBIGUOUS\]/.test(twice.stderr)],
      [3, true],
      twice.stderr,
    )
  })

  t.test('sign-string and read-certificate-data with token keys', async (t) => {
    for (const [label, digest] of [
      ['rsa', 'SHA256'],
      ['rsa', 'SHA512'],
      ['ec', 'SHA384'],
      ['ec384', 'SHA256'],
    ] as const) {
      const r = await runCli([
        'sign-string',
        '--pkcs11-lib',
        SOFTHSM_MODULE,
        '--private-key',
        uri(`token=iamra-a;object=${label}`),
        '--digest',
        digest,
        '--format',
        'text',
      ])
      const pub = hsm.certs.get(label)!.publicKey
      t.ok(r.code === 0 && verify(digest.toLowerCase(), testStringFor(pub), pub, Buffer.from(r.stdout, 'hex')), `${label} ${digest}: ${r.stderr}`)
    }
    const several = await runCli(['sign-string', '--pkcs11-lib', SOFTHSM_MODULE, '--private-key', uri('token=iamra-a')])
    t.match(several.stderr, /5 private keys match .*\[HSM_AMBIGUOUS\]/, 'several keys and no certificate')
    const list = await runCli(['read-certificate-data', '--pkcs11-lib', SOFTHSM_MODULE, '--certificate', 'pkcs11:token=iamra-a;object=ec384-cert'])
    const c = hsm.certs.get('ec384')!.cert
    t.equal(
      list.stdout,
      `Matching identities\n1) Hex Fingerprint: ${createHash('sha1').update(c.raw).digest('hex')}\n\tSubject: O=iamra test,CN=ec384\n` +
        `\tIssuer: O=iamra test,CN=iamra test intermediate\n\tSerial Number: ${c.serialNumber.toUpperCase()}\n` +
        `\tURI: pkcs11:token=iamra-a;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=${/serial=([0-9a-f]+)/.exec(list.stdout)?.[1] ?? '?'};id=%03;object=ec384-cert;type=cert\n`,
    )
    const none = await runCli(['read-certificate-data', '--pkcs11-lib', SOFTHSM_MODULE, '--certificate', 'pkcs11:token=iamra-a;object=nope'])
    t.same([none.code, none.stdout], [0, 'No matching identities\n'])
  })

  t.test('one session serves many signatures and is reopened and logged in again after a token error', async (t) => {
    const { loadPkcs11Identity, Pkcs11Context } = await import('../src/pkcs11/identity.js')
    const { listTokens } = await import('../src/pkcs11/module.js')
    const p11 = new Pkcs11Context()
    t.teardown(() => p11.dispose())
    const id = await loadPkcs11Identity(p11, { certificateFiles: [uri('token=iamra-a;object=ec-cert')], pkcs11Lib: SOFTHSM_MODULE, now: new Date() })
    const check = async (what: string): Promise<void> => {
      const data = Buffer.from(what)
      const sigs = await Promise.all([1, 2, 3].map(() => id.signer.sign(data)))
      t.ok(
        sigs.every((sig) => verify('sha256', data, id.leaf.publicKey, sig)),
        what,
      )
    }
    await check('concurrent signatures on one session')
    const mod = p11.openModule(SOFTHSM_MODULE)
    mod.lib.C_CloseAllSessions(listTokens(mod).find((x) => x.attrs.token === 'iamra-a')!.slot)
    await check('after the token closed every session (CKR_SESSION_HANDLE_INVALID)')
    t.same([id.chain.length, id.family], [1, 'EC'])
  })

  t.test('the built bundle with the default module (p11-kit-proxy) finds the SoftHSM token', async (t) => {
    const lib = existsSync('/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so') ? [] : ['--pkcs11-lib', SOFTHSM_MODULE]
    const r = await spawnCli(['credential-process', ...lib, '--certificate', uri('token=iamra-a;object=rsa-cert'), ...s.sessionArgs], {
      SOFTHSM2_CONF: hsm.conf,
    })
    t.same([r.code, r.stderr], [0, ''])
    t.same(Object.keys(JSON.parse(r.stdout) as object), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'])
  })
}
