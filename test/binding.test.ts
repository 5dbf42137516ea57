// bind/unbind: tokens, names, env files per mode, the store's atomicity rules, and the CLI end to end.
import t from 'tap'
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { envFor, renderEnvFile, type MODES } from '../src/binding/modes.js'
import { isValidName } from '../src/binding/names.js'
import { hashSecret, issueToken, parseToken, secretMatches } from '../src/binding/token.js'
import { realRandom } from './helpers/runtime.js'
import { parseBinding, readBinding } from '../src/binding/store.js'
import { parseEnvFile } from '../src/binding/env-file.js'
import { buildApp } from '../src/server/app.js'
import { bindingCredentials } from '../src/server/binding-credentials.js'
import { createCa, createLeaf } from '../src/testing/pki.js'
import { runCli } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { KeyBackends } from '../src/keys/key-backends.js'

/** A token binding named app, with a fresh token; only its role and mode vary. */
function appEntry(roleArn: string, mode: (typeof MODES)[number] = 'ecs-full') {
  const issued = issueToken('app', realRandom.randomBytes)
  return {
    issued,
    binding: {
      name: 'app',
      secretHash: issued.secretHash,
      certificateFiles: ['/c'],
      intermediatesFiles: [],
      privateKeyFile: '/k',
      mode,
      createdAt: '',
      request: { durationSeconds: 900, trustAnchorArn: 't', profileArn: 'p', roleArn },
    },
  }
}

t.test('tokens', async (t) => {
  t.equal(hashSecret(Buffer.from('thisisatest.')), 'HMH2ZT39k34kFlafxZaIu2h8P5gfnx4k5jX6mkTib7-QWAwXBaKd7uC9B6Y59mcf', "needroleshere's hash vector")
  const a = issueToken('app', realRandom.randomBytes)
  const b = issueToken('app', realRandom.randomBytes)
  t.not(a.token, b.token)
  const parsed = parseToken(a.token)
  t.equal(parsed?.name, 'app')
  t.ok((parsed?.secret.length ?? 0) * 8 >= 256, `${(parsed?.secret.length ?? 0) * 8} bits of secret`)
  t.ok(secretMatches(parsed?.secret ?? Buffer.alloc(0), a.secretHash))
  t.notOk(secretMatches(parsed?.secret ?? Buffer.alloc(0), b.secretHash))
  t.notOk(secretMatches(Buffer.from('x'), 'short'), 'a malformed stored hash never matches')
  t.equal(parseToken(`needroleshere.app.${'A'.repeat(86)}`)?.name, 'app', "needroleshere's tokens parse")
  for (const bad of ['iamra.app', `other.app.${'A'.repeat(40)}`, `iamra.a/b.${'A'.repeat(40)}`, 'iamra.app.short']) t.equal(parseToken(bad), undefined, bad)
  const fixed = issueToken('n', (n) => Buffer.alloc(n, 7))
  t.equal(fixed.token, `iamra.n.${Buffer.alloc(64, 7).toString('base64url')}`, 'randomness is injected')
})

t.test('names', async (t) => {
  for (const ok of ['app', 'app2', 'team@host', 'a_b-c', '0']) t.ok(isValidName(ok), ok)
  for (const bad of ['', '.', '..', 'a/b', 'a.b', 'a b', '../x', 'x'.repeat(129), 'é']) t.notOk(isValidName(bad), JSON.stringify(bad))
})

t.test('env files per mode', async (t) => {
  const url = new URL('http://127.0.0.1:7224')
  const token = 'iamra.app.SECRET'
  const env = (mode: (typeof MODES)[number]) => renderEnvFile(envFor({ mode, token, url, tokenFile: '/run/iamra/tokens/app' }))
  t.equal(env('ecs-full'), 'AWS_CONTAINER_AUTHORIZATION_TOKEN=iamra.app.SECRET\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials\n')
  t.equal(env('ecs-full-query'), 'AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials?access_token=iamra.app.SECRET\n')
  t.equal(env('ecs-relative'), 'AWS_CONTAINER_AUTHORIZATION_TOKEN=iamra.app.SECRET\nAWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/ecs/credentials\n')
  t.equal(env('ecs-relative-query'), 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/ecs/credentials?access_token=iamra.app.SECRET\n')
  t.equal(
    env('ecs-full-token-file'),
    'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/iamra/tokens/app\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials\n',
  )
  t.equal(
    renderEnvFile(envFor({ mode: 'ecs-full-query', token: 'iamra.a@b.S', url: new URL('http://127.0.0.1:9/base/'), tokenFile: '' })),
    'AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/base/ecs/credentials?access_token=iamra.a%40b.S\n',
    '@ form-encoded, base path kept',
  )
  t.same(parseEnvFile('# c\nA=1\nB="x \\"y\\" \\\\z"\nC=\'q r\'\nexport D=4\n\nbad line\n'), { A: '1', B: 'x "y" \\z', C: 'q r', D: '4' })
  for (const v of ['a "b"', 'x\\y', '$(id)', '`id`', "it's", 'a b', 'a\nB=1', '~root', 'a;b'])
    t.throws(() => renderEnvFile([['K', v]]), { code: 'INTERNAL' }, `refused rather than quoted: ${JSON.stringify(v)}`)
})

t.test('binding files: needroleshere compatibility and validation of the file', async (t) => {
  const nrh = JSON.stringify({
    name: 'x',
    secret_hash: 'h',
    certificate_files: ['/c'],
    private_key_file: '/k',
    request: { durationSeconds: null, profileArn: 'p', roleArn: 'r', sessionName: null, trustAnchorArn: 't' },
    mode: { kind: 'EcsFullQuery' },
  })
  const b = parseBinding(nrh.replace('"durationSeconds":null', '"durationSeconds":900'), 'nrh.json')
  t.same([b.mode, b.request.durationSeconds, b.intermediatesFiles], ['ecs-full-query', 900, []])
  t.throws(() => parseBinding('{"name":"x"}', 'bad.json'), {
    code: 'BINDING_INVALID',
    message: /bad\.json: missing or invalid secret_hash, private_key_file, certificate_files, mode/,
  })
  t.throws(() => parseBinding('nope', 'bad.json'), { code: 'BINDING_INVALID' })
})

t.test('a binding during a rebind: previous entries open with their own settings', async (t) => {
  const { mkdtempSync, mkdirSync, writeFileSync: write } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { authorize } = await import('../src/server/authorize.js')
  const { BindingLookup } = await import('../src/server/binding-lookup.js')
  const { entryForSecret, serialiseBinding } = await import('../src/binding/store.js')
  const dir = mkdtempSync(join(tmpdir(), 'iamra-previous-'))
  mkdirSync(join(dir, 'bindings'), { mode: 0o700 })
  const lookup = new BindingLookup(dir)
  const entry = appEntry
  const oldHeader = entry('role/old', 'ecs-full')
  const oldQuery = entry('role/older', 'ecs-full-query')
  const next = entry('role/new', 'ecs-full-token-file')
  const text = serialiseBinding({ ...next.binding, previous: [oldHeader.binding, oldQuery.binding] })
  const parsed = parseBinding(text, 'b.json')
  t.same(
    [parsed.request.roleArn, parsed.previous?.map((p) => [p.name, p.request.roleArn, p.mode])],
    [
      'role/new',
      [
        ['app', 'role/old', 'ecs-full'],
        ['app', 'role/older', 'ecs-full-query'],
      ],
    ],
    'round trip',
  )
  t.equal(parseBinding(serialiseBinding(next.binding), 'b.json').previous, undefined, 'no previous once a bind completes')
  const secret = (tok: string) => parseToken(tok)?.secret ?? Buffer.alloc(0)
  t.equal(entryForSecret(parsed, secret(oldQuery.issued.token))?.request.roleArn, 'role/older')
  t.equal(entryForSecret(parsed, secret(issueToken('app', realRandom.randomBytes).token)), undefined, "a stranger's secret opens nothing")
  write(join(dir, 'bindings/app.json'), text, { mode: 0o600 })
  t.equal(
    (await authorize(lookup, { token: oldHeader.issued.token, from: 'header' })).request.roleArn,
    'role/old',
    'the token in the old env file works, with its settings',
  )
  t.equal((await authorize(lookup, { token: oldQuery.issued.token, from: 'query' })).request.roleArn, 'role/older', "placement checked by the entry's own mode")
  await t.rejects(authorize(lookup, { token: oldQuery.issued.token, from: 'header' }), { code: 'TOKEN_REJECTED' })
  t.equal((await authorize(lookup, { token: next.issued.token, from: 'header' })).request.roleArn, 'role/new')
  write(join(dir, 'bindings/app.json'), serialiseBinding(next.binding), { mode: 0o600 })
  await t.rejects(authorize(lookup, { token: oldHeader.issued.token, from: 'header' }), { code: 'TOKEN_REJECTED' }, 'refused once the bind completed')
  for (const bad of [{ previous: 'x' }, { previous: [{}, {}, {}] }, { previous: [{ secret_hash: 'h' }] }]) {
    t.throws(
      () => parseBinding(JSON.stringify({ ...JSON.parse(serialiseBinding(next.binding)), ...bad }), 'bad.json'),
      { code: 'BINDING_INVALID' },
      JSON.stringify(bad).slice(0, 40),
    )
  }
})

t.test('bind and unbind through the CLI', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  const bindArgs = (name: string, ...extra: string[]) => [
    'bind',
    name,
    '--configuration-directory',
    dir,
    '--certificate',
    s.pki.path('leaf.pem'),
    '--intermediates',
    s.pki.path('int.pem'),
    '--private-key',
    s.pki.path('key.pem'),
    ...s.sessionArgs,
    ...extra,
  ]

  const ok = await runCli(bindArgs('app1'))
  t.equal(ok.code, 0, ok.stderr)
  t.equal(ok.stdout, '', 'nothing on stdout')
  t.equal(s.fake.calls.length, 1, 'validated with one CreateSession')
  const envText = readFileSync(join(dir, 'env/app1'), 'utf8')
  const token = /AWS_CONTAINER_AUTHORIZATION_TOKEN=(iamra\.app1\.[A-Za-z0-9_-]+)\n/.exec(envText)?.[1] ?? ''
  t.ok(token.length > 80)
  const json = readFileSync(join(dir, 'bindings/app1.json'), 'utf8')
  t.notOk(json.includes(token.split('.')[2] ?? 'x'), 'the binding file never holds the secret')
  t.notOk(ok.stderr.includes(token.split('.')[2] ?? 'x'), 'nor does the output')
  for (const f of ['env/app1', 'bindings/app1.json']) t.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`)
  const stored = await readBinding(dir, 'app1')
  t.equal(stored?.privateKeyFile, s.pki.path('key.pem'), 'absolute paths')
  t.same(stored?.intermediatesFiles, [s.pki.path('int.pem')])

  // Validation failures write nothing.
  const stranger = await createCa({ name: 'stranger', key: 'p256' })
  const strangerLeaf = await createLeaf({ name: 'x', key: 'p256', issuer: stranger })
  const refused = await runCli([
    'bind',
    'bad',
    '--configuration-directory',
    dir,
    '--certificate',
    s.pki.write('s.pem', strangerLeaf.certPem),
    '--private-key',
    s.pki.write('s.key', strangerLeaf.keyPem),
    ...s.sessionArgs,
  ])
  t.equal(refused.code, 4, refused.stderr)
  const mismatch = await runCli(bindArgs('bad', '--private-key', s.pki.path('s.key')))
  t.equal(mismatch.code, 3, 'local identity problem')
  t.notOk(existsSync(join(dir, 'env/bad')) || existsSync(join(dir, 'bindings/bad.json')), 'nothing written for a failed validation')
  const encrypted = s.pki.write('enc.key', s.pki.leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }))
  const enc = await runCli(bindArgs('enc', '--private-key', encrypted))
  t.same(
    [enc.code, /is encrypted, and the server cannot ask for its password/.test(enc.stderr)],
    [3, true],
    'an encrypted key: a clear refusal, not advice to use a flag bind lacks',
  )
  const noValidate = await runCli(bindArgs('novalid', '--no-validate', '--private-key', s.pki.path('s.key')))
  t.equal(noValidate.code, 0, '--no-validate skips the checks')

  // Rebind: new token, env file keeps its mode and owner; every temp file of the name goes, old or new
  // (binds of one name hold its lock, so none is being written).
  chmodSync(join(dir, 'env/app1'), 0o640)
  chownSync(join(dir, 'env/app1'), 65534, 65534)
  writeFileSync(join(dir, 'bindings/.app1.json.deadbeef.tmp'), 'partial')
  writeFileSync(join(dir, 'bindings/.wip.app1'), 'needroleshere leftover')
  writeFileSync(join(dir, 'bindings/.app1.json.fresh0.tmp'), 'left seconds ago')
  const old = new Date(Date.now() - 3_600_000)
  for (const f of ['.app1.json.deadbeef.tmp', '.wip.app1']) utimesSync(join(dir, 'bindings', f), old, old)
  t.equal((await runCli(bindArgs('app1', '--mode', 'ecs-full-token-file'))).code, 0)
  const st = statSync(join(dir, 'env/app1'))
  t.same([st.mode & 0o777, st.uid, st.gid], [0o640, 65534, 65534], 'rebind keeps the env file mode and owner')
  t.same(readdirSync(join(dir, 'bindings')).sort(), ['app1.json', 'novalid.json'], 'temp files cleaned up, however fresh')
  const tokenFile = readFileSync(join(dir, 'tokens/app1'), 'utf8')
  t.match(tokenFile, /^iamra\.app1\.[A-Za-z0-9_-]+$/, 'token file without a trailing newline')
  t.not(tokenFile, token, 'rebind rotated the token')
  t.equal(statSync(join(dir, 'tokens/app1')).mode & 0o777, 0o600)
  t.equal((await runCli(bindArgs('grp', '--mode', 'ecs-full-token-file', '--token-file-group', '65534'))).code, 0)
  t.same([statSync(join(dir, 'tokens/grp')).mode & 0o777, statSync(join(dir, 'tokens/grp')).gid], [0o640, 65534], '--token-file-group')
  t.equal((await runCli(bindArgs('grp', '--mode', 'ecs-full-token-file'))).code, 0)
  t.same([statSync(join(dir, 'tokens/grp')).mode & 0o777, statSync(join(dir, 'tokens/grp')).gid], [0o600, 0], 'a rebind without the group revokes it')

  // Names, directories, flags.
  t.equal((await runCli(bindArgs('../evil'))).code, 2, 'a name that escapes the directory is refused')
  t.equal((await runCli(bindArgs('app1', '--mode', 'bogus'))).code, 2)
  t.equal((await runCli(bindArgs('app1', '--session-duration', '100'))).code, 2)
  const noDir = await runCli(bindArgs('x').filter((a, i, all) => a !== '--configuration-directory' && all[i - 1] !== '--configuration-directory'))
  t.same([noDir.code, /CONFIG_DIRECTORY_MISSING/.test(noDir.stderr)], [2, true])
  const viaRuntime = await runCli(
    bindArgs('rt').filter((a, i, all) => a !== '--configuration-directory' && all[i - 1] !== '--configuration-directory'),
    { env: { RUNTIME_DIRECTORY: join(s.pki.dir, 'rt-dir') } },
  )
  t.equal(viaRuntime.code, 0, '$RUNTIME_DIRECTORY is the default')
  t.ok(existsSync(join(s.pki.dir, 'rt-dir/env/rt')))
  t.match((await runCli(['bind', '--help'])).stdout, /--trust-anchor-arn/)

  // Unbind: removes everything, succeeds when already gone or when only an orphan env file is left.
  t.equal((await runCli(['unbind', 'app1', '--configuration-directory', dir])).code, 0)
  t.notOk(existsSync(join(dir, 'bindings/app1.json')) || existsSync(join(dir, 'env/app1')) || existsSync(join(dir, 'tokens/app1')))
  const again = await runCli(['unbind', 'app1', '--configuration-directory', dir])
  t.same([again.code, /nothing to remove/.test(again.stderr)], [0, true])
  writeFileSync(join(dir, 'env/orphan'), 'X=1\n')
  t.equal((await runCli(['unbind', 'orphan', '--configuration-directory', dir])).code, 0)
  t.notOk(existsSync(join(dir, 'env/orphan')), 'an orphan env file is removed too')
})

t.test('credential-process through the server (--env-file, --from-environment)', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = join(s.pki.dir, 'run')
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: bindingCredentials({ env: {}, keys: new KeyBackends(), now: () => new Date(), random: Math.random }),
  })
  await app.fastify.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.fastify.close())
  const url = `http://127.0.0.1:${(app.fastify.server.address() as AddressInfo).port}`
  const bind = (name: string, mode: string) =>
    runCli([
      'bind',
      name,
      '--mode',
      mode,
      '--url',
      url,
      '--configuration-directory',
      dir,
      '--no-validate',
      '--certificate',
      s.pki.path('chain-leaf-first.pem'),
      '--private-key',
      s.pki.path('key.pem'),
      ...s.sessionArgs,
    ])
  for (const mode of ['ecs-full', 'ecs-full-query', 'ecs-full-token-file']) {
    t.equal((await bind(`m-${mode}`, mode)).code, 0)
    const r = await runCli(['credential-process', '--env-file', join(dir, 'env', `m-${mode}`)])
    t.equal(r.code, 0, `${mode}: ${r.stderr}`)
    t.match(r.stdout, /^\{"Version":1,"AccessKeyId":"ASIA/, mode)
  }
  const vars = parseEnvFile(readFileSync(join(dir, 'env/m-ecs-full'), 'utf8'))
  const fromEnv = await runCli(['credential-process', '--from-environment'], { env: vars })
  t.equal(fromEnv.code, 0, fromEnv.stderr)
  const wrong = await runCli(['credential-process', '--from-environment'], {
    env: { ...vars, AWS_CONTAINER_AUTHORIZATION_TOKEN: `Bearer iamra.m-ecs-full.${'A'.repeat(86)}` },
  })
  t.same([wrong.code, /TOKEN_REJECTED/.test(wrong.stderr)], [4, true], "the server's code reaches the user")
  const remote = await runCli(['credential-process', '--from-environment'], {
    env: { ...vars, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://example.com/creds' },
  })
  t.same([remote.code, /refusing to send a token over plain http/.test(remote.stderr)], [2, true])
  const down = await runCli(['credential-process', '--from-environment', '--timeout', '1'], {
    env: { ...vars, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:1/ecs/credentials' },
  })
  t.same([down.code, /SERVER_UNREACHABLE/.test(down.stderr)], [5, true])
  const mixed = await runCli(['credential-process', '--env-file', join(dir, 'env/m-ecs-full'), '--role-arn', 'x'])
  t.equal(mixed.code, 2, 'key or ARN flags do not mix with --env-file')
})

t.test('several files replaced together, or none', async (t) => {
  const { mkdtempSync, readdirSync: ls, readFileSync: read, writeFileSync: write } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { writeFilesAtomic } = await import('../src/fs/atomic-write.js')
  const dir = mkdtempSync(join(tmpdir(), 'iamra-atomic-'))
  write(join(dir, 'a'), 'old a')
  await t.rejects(
    writeFilesAtomic([
      { path: join(dir, 'a'), data: 'new a', opts: realRandom },
      { path: join(dir, 'missing-dir', 'b'), data: 'b', opts: realRandom },
    ]),
  )
  t.equal(read(join(dir, 'a'), 'utf8'), 'old a', 'the first file is untouched when the second cannot be prepared')
  t.same(ls(dir), ['a'], 'no temp file left behind')
  await writeFilesAtomic([
    { path: join(dir, 'a'), data: 'new a', opts: realRandom },
    { path: join(dir, 'b'), data: 'b', opts: { mode: 0o640, ...realRandom } },
  ])
  t.same([read(join(dir, 'a'), 'utf8'), read(join(dir, 'b'), 'utf8'), statSync(join(dir, 'b')).mode & 0o777], ['new a', 'b', 0o640])
})

t.test("the server's lookup: one look per name per event-loop turn; a bind or unbind shows in the next turn", async (t) => {
  const { mkdtempSync, mkdirSync, rmSync, unlinkSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { BindingLookup } = await import('../src/server/binding-lookup.js')
  const { serialiseBinding } = await import('../src/binding/store.js')
  const dir = mkdtempSync(join(tmpdir(), 'iamra-turns-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'bindings'), { mode: 0o700 })
  let forget: (() => void) | undefined
  const endTurn = (): void => {
    forget?.()
    forget = undefined
  }
  const lookup = new BindingLookup(dir, { afterTurn: (f) => (forget = f) })
  const { binding } = appEntry('role/app')
  t.equal(lookup.lookup('app').found, false, 'not bound yet')
  writeFileSync(join(dir, 'bindings/app.json'), serialiseBinding(binding), { mode: 0o600 })
  t.equal(lookup.lookup('app').found, false, 'the same turn: the look it already took')
  endTurn()
  const found = lookup.lookup('app')
  t.equal(found.found && found.binding.request.roleArn, 'role/app', 'the next turn finds the new binding')
  unlinkSync(join(dir, 'bindings/app.json'))
  t.equal(lookup.lookup('app').found, true, 'unbound within the turn: still the look of this turn')
  endTurn()
  t.equal(lookup.lookup('app').found, false, 'the next turn: gone')
  const everyCall = new BindingLookup(dir)
  writeFileSync(join(dir, 'bindings/app.json'), serialiseBinding(binding), { mode: 0o600 })
  t.equal(everyCall.lookup('app').found, true)
  unlinkSync(join(dir, 'bindings/app.json'))
  t.equal(everyCall.lookup('app').found, false, 'without afterTurn, every call looks')
})

t.test("the server's lookup re-reads a binding file changed in the last 2 s; once settled, its identity stands for it", async (t) => {
  const { mkdtempSync, mkdirSync, rmSync, statSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { BindingLookup } = await import('../src/server/binding-lookup.js')
  const { serialiseBinding } = await import('../src/binding/store.js')
  const dir = mkdtempSync(join(tmpdir(), 'iamra-settle-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'bindings'), { mode: 0o700 })
  const file = join(dir, 'bindings/app.json')
  writeFileSync(file, serialiseBinding(appEntry('role/app').binding), { mode: 0o600 })
  const binding = (lookup: InstanceType<typeof BindingLookup>) => {
    const found = lookup.lookup('app')
    return found.found ? found.binding : undefined
  }
  // A new object means the file was read and parsed again; the same one, that its identity was trusted.
  const fresh = new BindingLookup(dir, { now: Date.now })
  const a = binding(fresh)
  t.ok(a !== undefined && a !== binding(fresh), 'changed just now: read again at the next look (a same-size rewrite in the same tick would keep its times)')
  const changed = Math.max(statSync(file).mtimeMs, statSync(file).ctimeMs)
  const settled = new BindingLookup(dir, { now: () => changed + 2000 })
  const b = binding(settled)
  t.ok(b !== undefined && b === binding(settled), 'settled: known by its identity, not read again')
  const noClock = new BindingLookup(dir)
  const c = binding(noClock)
  t.ok(c !== undefined && c === binding(noClock), 'without a clock, the identity is trusted at once')
})
