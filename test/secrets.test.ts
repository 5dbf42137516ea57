// Secrets never echoed (key material passed where a path belongs, in every command and flag, with
// --debug), env:NAME sources for certificates, keys and passwords, and command lines that cannot
// steer the Node runtime (its own --env-file).
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { looksLikeKeyMaterial, redactKeyMaterial } from '../src/secrets/key-material.js'
import { BIN, runCli, type CliResult } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'

/** Every line of a PEM body, each long enough to be unmistakable in output. */
function secretLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'))
}

function leaked(out: string, lines: readonly string[]): string[] {
  const compact = out.replace(/\s+/g, '')
  return lines.filter((l) => out.includes(l) || compact.includes(l) || out.includes(l.slice(0, 24)))
}

t.test('key material where a path or value belongs is refused, never quoted, in every command', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const pem = s.pki.leaf.keyPem
  const lines = secretLines(pem)
  const forms: Array<[string, string]> = [
    ['PEM', pem],
    ['PEM with literal \\n', pem.replace(/\n/g, '\\n')],
    ['base64 of the PEM body on one line', lines.join('')],
  ]
  const cert = s.pki.path('leaf.pem')
  const key = s.pki.path('key.pem')
  const ARNS = [...s.sessionArgs] // with the fake endpoint: nothing may leave this machine
  const commands: Array<[string, string[], string[]]> = [
    [
      'credential-process',
      ['--certificate', cert, '--private-key', key, ...ARNS, '--debug'],
      ['certificate', 'private-key', 'intermediates', 'env-file', 'cache-dir', 'pkcs11-lib', 'pkcs8-password', 'endpoint', 'role-session-name'],
    ],
    ['sign-string', ['--certificate', cert, '--private-key', key, '--debug'], ['certificate', 'private-key', 'pkcs8-password']],
    ['read-certificate-data', ['--certificate', cert, '--debug'], ['certificate']],
    ['update', ['--certificate', cert, '--private-key', key, ...ARNS, '--once', '--debug'], ['certificate', 'private-key', 'intermediates', 'pkcs8-password']],
    ['serve', ['--certificate', cert, '--private-key', key, ...ARNS, '--debug'], ['certificate', 'private-key', 'intermediates', 'configuration-directory']],
    ['bind', ['app', '--certificate', cert, '--private-key', key, ...ARNS], ['certificate', 'private-key', 'intermediates', 'configuration-directory', 'url']],
    ['unbind', ['app'], ['configuration-directory']],
    ['fake-endpoint', ['--port', '0'], ['trust-anchor', 'sts-secret-access-key']],
  ]
  let runs = 0
  for (const [command, base, flags] of commands) {
    for (const flag of flags) {
      for (const [form, value] of /password|secret/.test(flag) ? forms.slice(0, 2) : forms) {
        for (const argv of [[`--${flag}=${value}`], [`--${flag}`, value]]) {
          const r = await runCli([command, ...base, ...argv])
          runs++
          const out = r.stdout + r.stderr
          const bad = leaked(out, lines)
          if (bad.length > 0 || r.code !== 2)
            t.fail(`${command} --${flag} (${form}, ${argv.length === 1 ? '=' : 'separate'}): exit ${r.code}, leaked ${bad.length} lines`, { out })
        }
      }
    }
  }
  t.ok(runs > 100, `${runs} command lines, none echoed a line of the key, all refused as usage errors`)
  const one = await runCli(['credential-process', '--certificate', cert, `--private-key=${pem}`, ...ARNS])
  t.match(
    one.stderr,
    /the value of --private-key looks like the contents of a key or certificate, not a file name \(not shown here\).*env:NAME.*\[USAGE\]/,
    'the message says what happened and what to do',
  )
  t.equal(one.stderr.split('\n').filter(Boolean).length, 1, 'on one line')
})

t.test('the installed command echoes no key either (real process, every command that takes a key path)', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const pem = s.pki.leaf.keyPem
  const cert = s.pki.path('leaf.pem')
  const ARNS = [...s.sessionArgs]
  for (const command of ['credential-process', 'update', 'sign-string', 'serve', 'bind']) {
    const extra = command === 'bind' ? ['app'] : []
    const r = await spawnBin([command, ...extra, '--certificate', cert, `--private-key=${pem}`, ...(command === 'sign-string' ? [] : ARNS), '--debug'], {})
    t.same([r.code, leaked(r.stdout + r.stderr, secretLines(pem))], [2, []], `${command}: exit 2, nothing of the key shown`)
  }
})

t.test('recognising key material', async (t) => {
  t.ok(looksLikeKeyMaterial('-----BEGIN PRIVATE KEY-----'), 'armour')
  t.ok(
    looksLikeKeyMaterial('MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgm3Bq8QhP6Zr7l4a2\nnA9S7vK1yLdZcW0pQv3Xq9XJq2ahRANCAAT'),
    'a PEM body without its armour, over lines',
  )
  t.notOk(looksLikeKeyMaterial('arn:aws:iam::123456789012:role/x\nX=1'), 'a line break alone is for the command to judge (an ARN check names it)')
  t.ok(looksLikeKeyMaterial('MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgm3Bq8QhP6Zr7l4a2nA9S7vK1yLdZcW0pQv3Xq9XJq2ahRANCAAT'), 'a base64 body on one line')
  t.notOk(looksLikeKeyMaterial('/etc/pki/tls/private/a-very-long-directory-name-for-the-service-account-keys/key.pem'), 'a long path')
  t.notOk(looksLikeKeyMaterial('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'), 'a hex digest')
  t.notOk(looksLikeKeyMaterial('/etc/pki/tls/private/aVeryLongDirectoryNameForTheServiceAccountKeysOfThisHost/key'), 'a long path without dots')
  t.notOk(
    looksLikeKeyMaterial('Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVkcGx1Z3h5enp5', { secretFlag: true }),
    'a long random password is a password',
  )
  t.ok(looksLikeKeyMaterial('-----BEGIN EC PRIVATE KEY-----\\nMHc', { secretFlag: true }), 'but armour in a password flag is a key')
  const msg = redactKeyMaterial(
    'cannot read -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY----- here; digest e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  )
  t.equal(msg, 'cannot read [key material not shown] here; digest e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'redaction keeps digests')
})

t.test('env:NAME gives the certificate, chain, key and password from the environment', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const { leaf, intermediate } = s.pki
  const keyPem = leaf.keyPem
  const der = leaf.key.export({ type: 'pkcs8', format: 'der' })
  const ok = async (name: string, env: Record<string, string>, args: string[]): Promise<CliResult> => {
    const r = await runCli(
      ['credential-process', ...args, ...(args.includes('--intermediates') ? [] : ['--intermediates', s.pki.path('int.pem')]), ...s.sessionArgs],
      { env },
    )
    t.equal(r.code, 0, `${name} ${r.stderr}`)
    return r
  }
  await ok('PEM with real newlines', { C: leaf.certPem, I: intermediate.certPem, K: keyPem }, [
    '--certificate',
    'env:C',
    '--intermediates',
    'env:I',
    '--private-key',
    'env:K',
  ])
  await ok('PEM with literal \\n (GitLab)', { C: leaf.certPem.replace(/\n/g, '\\n'), K: keyPem.replace(/\n/g, '\\n') }, [
    '--certificate',
    'env:C',
    '--private-key',
    'env:K',
  ])
  await ok('base64 of PEM', { C: Buffer.from(leaf.certPem).toString('base64'), K: Buffer.from(keyPem).toString('base64') }, [
    '--certificate',
    'env:C',
    '--private-key',
    'env:K',
  ])
  await ok('base64 of DER', { C: Buffer.from(leaf.der).toString('base64'), K: der.toString('base64') }, ['--certificate', 'env:C', '--private-key', 'env:K'])
  const encPem = leaf.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'pw-from-env' }).toString()
  await ok('encrypted key and its password', { C: leaf.certPem, K: encPem, PW: 'pw-from-env' }, [
    '--certificate',
    'env:C',
    '--private-key',
    'env:K',
    '--pkcs8-password',
    'env:PW',
  ])
  t.ok(
    s.fake.calls.every((c) => c.status === 201),
    'every call accepted by the verifying endpoint',
  )

  const dir = mkdtempSync(join(tmpdir(), 'iamra-envfile-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'env:x'))
  writeFileSync(join(dir, 'env:x', 'key.pem'), keyPem, { mode: 0o600 })
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    await ok('./env:x/… is a file, not a variable', {}, ['--certificate', s.pki.path('leaf.pem'), '--private-key', './env:x/key.pem'])
  } finally {
    process.chdir(cwd)
  }

  const refused: Array<[string, Record<string, string>, string[], RegExp, number]> = [
    [
      'unset variable',
      {},
      ['--private-key', 'env:NOPE'],
      /env:NOPE: the environment variable NOPE that should hold the private key file is not set or empty \[KEY_UNREADABLE\]/,
      3,
    ],
    [
      'not a key',
      { K: 'hunter2-is-not-a-key' },
      ['--private-key', 'env:K'],
      /env:K: the environment variable K holds no private key file: expected PEM.*\[KEY_UNREADABLE\]/,
      3,
    ],
    ['a bad name', {}, ['--private-key', 'env:1X'], /after env: comes an environment variable name/, 3],
    [
      'unset password',
      { K: encPem },
      ['--private-key', 'env:K', '--pkcs8-password', 'env:NOPW'],
      /env:NOPW: the environment variable NOPW that should hold the password is not set/,
      2,
    ],
    [
      'wrong password',
      { K: encPem, PW: 'wrong-password-value' },
      ['--private-key', 'env:K', '--pkcs8-password', 'env:PW'],
      /env:K: wrong password.*\[KEY_PASSWORD_WRONG\]/,
      3,
    ],
  ]
  for (const [name, env, args, message, code] of refused) {
    const r = await runCli(
      ['credential-process', '--certificate', s.pki.path('leaf.pem'), '--intermediates', s.pki.path('int.pem'), ...args, ...s.sessionArgs],
      { env },
    )
    t.equal(r.code, code, `${name}: exit ${code}`)
    t.match(r.stderr, message, `${name}: ${r.stderr.trim()}`)
    for (const v of Object.values(env)) t.notOk(r.stderr.includes(v.slice(0, 20)), `${name}: the variable's value is not shown`)
  }
})

t.test('--cache works with env: sources and pipes, keyed by their content', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const cacheDir = mkdtempSync(join(tmpdir(), 'iamra-cache-'))
  t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }))
  const env = { C: s.pki.leaf.certPem, K: s.pki.leaf.keyPem }
  const args = [
    'credential-process',
    '--certificate',
    'env:C',
    '--intermediates',
    s.pki.path('int.pem'),
    '--private-key',
    'env:K',
    ...s.sessionArgs,
    '--cache',
    '--cache-dir',
    cacheDir,
  ]
  const first = await runCli(args, { env })
  const second = await runCli(args, { env })
  t.same([first.code, second.code, s.fake.calls.length], [0, 0, 1], 'env: sources: the second run is a cache hit')
  t.equal(first.stdout, second.stdout, 'the same credentials')
  const other = await startScenario('p256')
  t.teardown(other.close)
  await runCli(
    args.map((a) => (a === s.pki.path('int.pem') ? other.pki.path('int.pem') : a === s.fake.url ? other.fake.url : a)),
    { env: { C: other.pki.leaf.certPem, K: other.pki.leaf.keyPem } },
  )
  t.equal(s.fake.calls.length + other.fake.calls.length, 2, 'other content in the same variables is another cache entry')

  // Process substitution hands over /dev/fd/N, a pipe that can be read only once.
  const bash = (script: string) =>
    new Promise<CliResult>((resolve) => {
      execFile('bash', ['-c', script], { env: { PATH: process.env.PATH ?? '', KEY_PEM: s.pki.leaf.keyPem }, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
      )
    })
  const quoted = [
    process.execPath,
    BIN,
    'credential-process',
    '--certificate',
    s.pki.path('leaf.pem'),
    '--intermediates',
    s.pki.path('int.pem'),
    ...s.sessionArgs,
    '--cache',
    '--cache-dir',
    cacheDir,
  ]
    .map((a) => `'${a}'`)
    .join(' ')
  const before = s.fake.calls.length
  const viaPipe = await bash(`${quoted} --private-key <(printf '%s' "$KEY_PEM")`)
  t.equal(viaPipe.code, 0, `a pipe with --cache works ${viaPipe.stderr}`)
  const again = await bash(`${quoted} --private-key <(printf '%s' "$KEY_PEM")`)
  t.same([again.code, again.stdout, s.fake.calls.length], [0, viaPipe.stdout, before + 1], 'the pipe is read once per run: the second run is a cache hit')
})

t.test('the command line cannot steer the Node runtime (its own --env-file)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-runtime-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const marker = join(dir, 'ran')
  writeFileSync(join(dir, 'evil.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')\n`)
  const envFile = join(dir, 'binding.env')
  writeFileSync(
    envFile,
    `NODE_OPTIONS=--require ${join(dir, 'evil.cjs')}\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/x\nAWS_CONTAINER_AUTHORIZATION_TOKEN=abc\n`,
  )
  // As npm installs it: a symlink to bin/iamra.mjs, started through its #! line.
  const link = join(dir, 'iamra')
  symlinkSync(BIN, link)
  for (const args of [['--env-file', envFile], [`--env-file=${envFile}`]]) {
    const r = await spawnInstalled(link, ['credential-process', ...args, '--timeout', '1'])
    t.notOk(existsSync(marker), `${args.join(' ')}: nothing in the file ran inside iamra`)
    t.match(r.stderr, /iamra: .*\[SERVER_UNREACHABLE\]/, `${args.join(' ')}: iamra read the file itself`)
  }
  for (const [what, path] of [
    ['a missing file', join(dir, 'none.env')],
    ['a directory', dir],
  ] as const) {
    const r = await spawnInstalled(link, ['credential-process', '--env-file', path])
    t.not(r.code, 9, `${what}: not Node's exit 9`)
    t.match(r.stderr, /^iamra: .*\[[A-Z_]+\]\n$/, `${what}: iamra's own one-line error (${r.stderr.trim()})`)
  }
})

function spawnBin(argv: string[], env: Record<string, string>): Promise<CliResult> {
  return spawnInstalled(process.execPath, [BIN, ...argv], env)
}

function spawnInstalled(file: string, argv: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(file, argv, { env: { PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}`, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
