// PKCS#12 files made by `openssl pkcs12 -export` (modern AES/PBES2, -legacy RC2/3DES, empty
// password, unencrypted) as --certificate, through credential-process and sign-string.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { verify } from 'node:crypto'
import { testStringFor } from '../src/cli/commands/sign-string.js'
import { createCa, createLeaf } from '../src/testing/pki.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'

const s = await startScenario('p256')
t.teardown(s.close)
const rsa = await createLeaf({ name: 'p12 rsa', key: 'rsa2048', issuer: s.pki.intermediate })
const unrelated = await createCa({ name: 'unrelated CA', key: 'p256' })
s.pki.write('rsa.pem', rsa.certPem)
s.pki.write('rsa.key', rsa.keyPem)
s.pki.write('extra.pem', unrelated.certPem + s.pki.root.certPem + s.pki.intermediate.certPem)

/** `openssl pkcs12 -export` of a leaf (leaf.pem/key.pem or rsa.pem/rsa.key) with the CA certificates. */
function p12(name: string, password: string, extra: string[], leaf = 'leaf'): string {
  const key = leaf === 'leaf' ? 'key.pem' : `${leaf}.key`
  execFileSync(
    'openssl',
    [
      'pkcs12',
      '-export',
      '-in',
      s.pki.path(`${leaf}.pem`),
      '-inkey',
      s.pki.path(key),
      '-certfile',
      s.pki.path('extra.pem'),
      '-passout',
      `pass:${password}`,
      '-out',
      s.pki.path(name),
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  return s.pki.path(name)
}

const cp = (file: string, extra: string[] = [], password?: string) =>
  runCli(['credential-process', '--certificate', file, ...extra, ...s.sessionArgs], password === undefined ? {} : { password })

t.test('round trips: modern and legacy containers, password by flag, prompt or empty', async (t) => {
  const files: Array<[string, string, string[], string?]> = [
    ['modern (PBES2, AES-256, HMAC-SHA256)', 'pw-modern', []],
    ['legacy (RC2-40 certificates, 3DES key, SHA-1 MAC)', 'pw-legacy', ['-legacy']],
    ['legacy 3DES everywhere', 'pw-3des', ['-legacy', '-certpbe', 'PBE-SHA1-3DES']],
    ['modern RSA', 'pw-rsa', [], 'rsa'],
  ]
  for (const [name, pw, extra, leaf] of files) {
    const file = p12(`${pw}.p12`, pw, extra, leaf)
    const r = await cp(file, ['--pkcs8-password', pw])
    t.equal(r.code, 0, `${name}: ${r.stderr}`)
    const call = s.fake.calls.at(-1)
    t.equal(call?.serial, BigInt(`0x${(leaf === 'rsa' ? rsa : s.pki.leaf).cert.serialNumber}`).toString(10), `${name}: the leaf is the key's certificate`)
    t.equal(call?.chainLength, 2, `${name}: intermediate and root, not the unrelated CA`)
  }
  const modern = s.pki.path('pw-modern.p12')
  t.equal((await cp(modern, [], 'pw-modern')).code, 0, 'password from the prompt')
  const none = await cp(modern)
  t.same([none.code, /password-protected PKCS#12.*\[KEY_PASSWORD_REQUIRED\]/.test(none.stderr)], [3, true], none.stderr)
  const wrong = await cp(s.pki.path('pw-legacy.p12'), ['--pkcs8-password', 'nope'])
  t.same([wrong.code, /wrong password for the PKCS#12 file \[KEY_PASSWORD_WRONG\]/.test(wrong.stderr)], [3, true], wrong.stderr)
  const wrongPrompt = await cp(modern, [], 'nope')
  t.equal(wrongPrompt.code, 3, 'wrong password from the prompt')
  t.equal((await cp(p12('empty.p12', '', []))).code, 0, 'empty password: no prompt needed')
  t.equal((await cp(p12('plain.p12', '', ['-keypbe', 'NONE', '-certpbe', 'NONE', '-nomac']))).code, 0, 'unencrypted, no MAC')
  const certsOnly = await cp(p12('nokey.p12', 'x', ['-nokeys']), ['--pkcs8-password', 'x'])
  t.same([certsOnly.code, /no private key given/.test(certsOnly.stderr)], [2, true], certsOnly.stderr)
  const withKey = await cp(s.pki.path('nokey.p12'), ['--pkcs8-password', 'x', '--private-key', s.pki.path('key.pem')])
  t.equal(withKey.code, 0, `a certificates-only PKCS#12 with --private-key: ${withKey.stderr}`)
  const garbage = await cp(s.pki.write('bad.p12', Buffer.from([0x30, 0x10, 0x02, 0x01, 0x03, 0x30, 0x0b, 0x06, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9])))
  t.same([garbage.code, /not a valid PKCS#12 file.*\[CERT_MALFORMED\]/.test(garbage.stderr)], [3, true], garbage.stderr)
})

t.test('sign-string with the key of a PKCS#12 file', async (t) => {
  for (const [file, pw, pub] of [
    ['pw-legacy.p12', 'pw-legacy', s.pki.leaf.cert.publicKey],
    ['pw-rsa.p12', 'pw-rsa', rsa.cert.publicKey],
  ] as const) {
    const r = await runCli(['sign-string', '--certificate', s.pki.path(file), '--pkcs8-password', pw, '--format', 'text'])
    t.ok(r.code === 0 && verify('sha256', testStringFor(pub), pub, Buffer.from(r.stdout, 'hex')), `${file}: ${r.stderr}`)
  }
})
