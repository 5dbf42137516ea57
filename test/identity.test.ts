// Identity loading: key formats, leaf selection, chain order, and every local error.
import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { loadIdentity } from '../src/identity/identity.js'
import { IamraError } from '../src/errors.js'
import { createCa, createLeaf } from '../src/testing/pki.js'
import { EC_PARAMETERS, makePkiFiles } from './helpers/pki-files.js'

const now = () => new Date()

async function rejectsWith(t: Test, p: Promise<unknown>, code: string, msg: RegExp): Promise<void> {
  try {
    await p
    t.fail(`expected ${code}`)
  } catch (e) {
    t.type(e, IamraError)
    t.equal((e as IamraError).code, code)
    t.match((e as Error).message, msg)
  }
}

t.test('full chain in either order, leaf found by its key, chain in issuing order', async (t) => {
  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  for (const file of ['chain-leaf-first.pem', 'chain-root-first.pem']) {
    const id = await loadIdentity({ certificateFiles: [pki.path(file)], privateKeyFile: pki.path('key.pem'), now: now() })
    t.equal(id.leaf.fingerprint256, pki.leaf.cert.fingerprint256, `${file}: leaf`)
    t.same(
      id.chain.map((c) => c.fingerprint256),
      [pki.intermediate.cert.fingerprint256, pki.root.cert.fingerprint256],
      `${file}: chain order`,
    )
    t.equal(id.family, 'EC')
  }
  const withInts = await loadIdentity({
    certificateFiles: [pki.path('leaf.pem')],
    intermediatesFiles: [pki.path('root.pem'), pki.path('int.pem')],
    privateKeyFile: pki.path('key.pem'),
    now: now(),
  })
  t.same(
    withInts.chain.map((c) => c.fingerprint256),
    [pki.intermediate.cert.fingerprint256, pki.root.cert.fingerprint256],
    '--intermediates in any order',
  )
  const unrelated = await createCa({ name: 'unrelated', key: 'p256' })
  pki.write('extra.pem', unrelated.certPem)
  const id = await loadIdentity({
    certificateFiles: [pki.path('leaf.pem')],
    intermediatesFiles: [pki.path('int.pem'), pki.path('extra.pem'), pki.path('int.pem')],
    privateKeyFile: pki.path('key.pem'),
    now: now(),
  })
  t.equal(id.chain.length, 1, 'unrelated and duplicate certificates stay out of the chain')
  t.equal(id.unrelated.length, 1)
  const der = pki.write('leaf.der', pki.leaf.der)
  t.equal(
    (await loadIdentity({ certificateFiles: [der], privateKeyFile: pki.path('key.pem'), now: now() })).serial,
    BigInt(`0x${pki.leaf.cert.serialNumber}`).toString(),
  )
  const combined = pki.write('combined.pem', pki.leaf.certPem + pki.leaf.keyPem)
  t.ok(await loadIdentity({ certificateFiles: [combined], now: now() }), 'a combined certificate+key file needs no --private-key')
})

t.test('private key formats', async (t) => {
  for (const spec of ['rsa2048', 'p256', 'p384', 'p521'] as const) {
    const pki = await makePkiFiles(spec)
    t.teardown(pki.cleanup)
    const k = pki.leaf.key
    const variants: Record<string, string | Buffer> = {
      pkcs8: k.export({ type: 'pkcs8', format: 'pem' }),
      der: k.export({ type: 'pkcs8', format: 'der' }),
      encrypted: k.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pa$$ word' }),
    }
    if (spec === 'rsa2048') variants.pkcs1 = k.export({ type: 'pkcs1', format: 'pem' })
    else {
      variants.sec1 = k.export({ type: 'sec1', format: 'pem' })
      const params = EC_PARAMETERS[spec]
      if (params !== undefined) variants['sec1+params'] = params + (variants.sec1 as string)
    }
    for (const [name, content] of Object.entries(variants)) {
      const file = pki.write(`key-${name}`, content)
      const password = name === 'encrypted' ? 'pa$$ word' : undefined
      const id = await loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: file, password, now: now() })
      t.equal(id.leaf.fingerprint256, pki.leaf.cert.fingerprint256, `${spec} ${name}`)
    }
    const enc = pki.path('key-encrypted')
    await rejectsWith(
      t,
      loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: enc, now: now() }),
      'KEY_PASSWORD_REQUIRED',
      /key-encrypted is encrypted/,
    )
    await rejectsWith(
      t,
      loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: enc, password: 'wrong', now: now() }),
      'KEY_PASSWORD_WRONG',
      /wrong password/,
    )
    let asked = ''
    const prompted = await loadIdentity({
      certificateFiles: [pki.path('leaf.pem')],
      privateKeyFile: enc,
      prompt: async (m) => {
        asked = m
        return 'pa$$ word'
      },
      now: now(),
    })
    t.ok(prompted && asked.includes(enc), 'prompts, naming the file')
  }
})

t.test('local errors name the file and change nothing', async (t) => {
  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  const other = await createLeaf({ name: 'other', key: 'p256', issuer: pki.intermediate })
  const otherKey = pki.write('other-key.pem', other.keyPem)
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: otherKey, now: now() }),
    'KEY_CERT_MISMATCH',
    /other-key\.pem matches none of the certificates in .*leaf\.pem/,
  )
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('missing.pem')], privateKeyFile: pki.path('key.pem'), now: now() }),
    'CERT_UNREADABLE',
    /missing\.pem: no such file/,
  )
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.path('nokey.pem'), now: now() }),
    'KEY_UNREADABLE',
    /nokey\.pem: no such file/,
  )
  const garbage = pki.write('garbage.pem', '-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n')
  await rejectsWith(t, loadIdentity({ certificateFiles: [garbage], privateKeyFile: pki.path('key.pem'), now: now() }), 'CERT_MALFORMED', /garbage\.pem/)
  const text = pki.write('text.pem', 'hello\n')
  await rejectsWith(t, loadIdentity({ certificateFiles: [text], privateKeyFile: pki.path('key.pem'), now: now() }), 'CERT_MALFORMED', /text\.pem/)
  await rejectsWith(t, loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: text, now: now() }), 'KEY_MALFORMED', /text\.pem/)
  const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.write('ed.pem', ed), now: now() }),
    'KEY_UNSUPPORTED',
    /ed\.pem: unsupported key type ed25519/,
  )
  const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' })
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.write('k1.pem', k256), now: now() }),
    'KEY_UNSUPPORTED',
    /secp256k1/,
  )
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' })
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: pki.write('small.pem', small), now: now() }),
    'KEY_UNSUPPORTED',
    /1024 bits/,
  )
  if (process.getuid?.() !== 0) {
    const locked = pki.write('locked.pem', pki.leaf.keyPem, 0o000)
    await rejectsWith(t, loadIdentity({ certificateFiles: [pki.path('leaf.pem')], privateKeyFile: locked, now: now() }), 'KEY_UNREADABLE', /permission denied/)
  } else {
    t.test('unreadable key file', { skip: 'running as root: file modes do not stop reads' }, async () => {})
  }
})

t.test('validity is checked against the given instant, with the dates in the message', async (t) => {
  const past = await makePkiFiles('p256', { leafNotBefore: new Date('2020-01-01T00:00:00Z'), leafNotAfter: new Date('2021-01-01T00:00:00Z') })
  t.teardown(past.cleanup)
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [past.path('leaf.pem')], privateKeyFile: past.path('key.pem'), now: now() }),
    'CERT_EXPIRED',
    /leaf\.pem: certificate .*iamra test client.* expired \(valid from 2020-01-01T00:00:00.000Z to 2021-01-01T00:00:00.000Z\)/,
  )
  const ok = await loadIdentity({ certificateFiles: [past.path('leaf.pem')], privateKeyFile: past.path('key.pem'), now: new Date('2020-06-01T00:00:00Z') })
  t.ok(ok, 'valid at an instant inside its window')
  const future = await makePkiFiles('p256', { leafNotBefore: new Date(Date.now() + 86_400_000), leafNotAfter: new Date(Date.now() + 2 * 86_400_000) })
  t.teardown(future.cleanup)
  await rejectsWith(
    t,
    loadIdentity({ certificateFiles: [future.path('leaf.pem')], privateKeyFile: future.path('key.pem'), now: now() }),
    'CERT_NOT_YET_VALID',
    /not valid yet .*check the clock/,
  )
})

t.test('negative serials are read; PINs are hidden wherever they stand in a PKCS#11 URI', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const { X509Certificate } = await import('node:crypto')
  const { decimalSerial } = await import('../src/identity/certificates.js')
  const { redactPin } = await import('../src/pkcs11/uri.js')
  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  const pem = execFileSync('openssl', ['req', '-x509', '-new', '-key', pki.path('key.pem'), '-subj', '/CN=neg', '-days', '1', '-set_serial', '-12345'], {
    encoding: 'utf8',
  })
  t.equal(decimalSerial(new X509Certificate(pem)), '-12345', 'signed, as Go prints it')
  for (const uri of [
    'pkcs11:token=x;pin-value=S3CRET',
    'pkcs11:token=x?pin-value=S3CRET&module-path=/m',
    'pkcs11:token=x?pin%2Dvalue=S3CRET',
    'pkcs11:pin-value=S3CRET',
  ]) {
    t.notOk(redactPin(`invalid PKCS#11 URI ${uri}: reason`).includes('S3CRET'), uri)
  }
})

t.test('a wrong password that happens to leave valid padding is still a wrong password, not a malformed key', async (t) => {
  const { generateKeyPairSync, createPrivateKey: create } = await import('node:crypto')
  const { parsePrivateKey: parse } = await import('../src/identity/private-key.js')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'the-right-one' }).toString()
  // About 1 wrong password in 256 decrypts to garbage with valid padding; find one (bounded).
  let lucky: string | undefined
  for (let i = 0; i < 4000 && lucky === undefined; i++) {
    try {
      create({ key: pem, format: 'pem', passphrase: `wrong-${i}` })
    } catch (e) {
      if (!/BAD_DECRYPT/.test((e as { code?: string }).code ?? '')) lucky = `wrong-${i}`
    }
  }
  if (lucky === undefined) {
    t.fail('no wrong password with valid padding among 4000 (expected about 16)')
    return
  }
  await t.rejects(parse(Buffer.from(pem), 'enc.pem', { password: lucky }), { code: 'KEY_PASSWORD_WRONG' }, `${lucky}: KEY_PASSWORD_WRONG`)
  await t.rejects(parse(Buffer.from(pem), 'enc.pem', { password: 'wrong-x' }), { code: 'KEY_PASSWORD_WRONG' }, 'an ordinary wrong password too')
  const opened = await parse(Buffer.from(pem), 'enc.pem', { password: 'the-right-one' })
  t.equal('asymmetricKeyType' in opened ? opened.asymmetricKeyType : undefined, 'ec', 'the right one opens it')
})
