// `iamra update`: the credentials-file editor (upstream golden cases), the lock, the refresh loop, and end to end.
import t from 'tap'
import { execFile, spawn, spawnSync } from 'node:child_process'
import { build } from 'esbuild'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromCertificate } from '../src/credentials/from-certificate.js'
import { IamraError } from '../src/errors.js'
import type { FakeFailure, MintRequest } from '../src/testing/fake-endpoint/handler.js'
import { resolveSessionConfig } from '../src/rolesanywhere/session-config.js'
import { updateProfile, type FileCredentials } from '../src/update/credentials-file.js'
import type { LockDeps, LockOptions } from '../src/fs/lock.js'
import { credentialsFilePath, retryDelay, runUpdate, writeProfile } from '../src/update/run-update.js'
import { BIN, runCli, spawnCli } from './helpers/cli.js'
import { realRandom, testLocks } from './helpers/runtime.js'
import { PROFILE_ARN, ROLE_ARN, startScenario, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { KeyBackends } from '../src/keys/key-backends.js'

/** This test process's file locks; a call with its own sleep stands for another process (its own queue). */
const locks = testLocks()
const withLock = <T>(path: string, fn: () => Promise<T>, opts: LockOptions & Pick<LockDeps, 'sleep'> = {}): Promise<T> =>
  (opts.sleep === undefined ? locks : testLocks({ sleep: opts.sleep })).withLock(path, fn, opts)

const C: FileCredentials = { accessKeyId: 'ASIANEW', secretAccessKey: 'new/secret+key', sessionToken: 'new-token==' }
const KEYS = 'aws_access_key_id = ASIANEW\naws_secret_access_key = new/secret+key\naws_session_token = new-token==\n'
const PRE = 'test\ntest\ntest\n' // upstream's inputs start with three non-section lines

const tmp = (t: Tap): string => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-update-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
type Tap = { teardown(fn: () => unknown): void }
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (e) {
    return e instanceof IamraError ? e.code : 'not an IamraError'
  }
  return undefined
}

t.test('the six upstream golden cases, without the dropped last line', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    [
      'space-separated keys',
      'test profile',
      `${PRE}[test profile]\naws_access_key_id = old\n[test]\naws_access_key_id = other\n`,
      `${PRE}[test profile]\n${KEYS}[test]\naws_access_key_id = other\n`,
    ],
    [
      'profile with other keys',
      'test profile',
      `${PRE}[test profile]\naws_access_key_id = old\ntest_key = test\n[test]\naws_access_key_id = other\n`,
      `${PRE}[test profile]\naws_access_key_id = ASIANEW\ntest_key = test\naws_secret_access_key = new/secret+key\naws_session_token = new-token==\n[test]\naws_access_key_id = other\n`,
    ],
    ['commented profile', 'test profile', `${PRE}# [test profile]\n`, `${PRE}# [test profile]\n[test profile]\n${KEYS}\n`],
    [
      'profile does not exist',
      'test profile',
      `${PRE}[test]\naws_access_key_id = other\n`,
      `${PRE}[test]\naws_access_key_id = other\n[test profile]\n${KEYS}\n`,
    ],
    [
      'first word matches (end-of-file path)',
      'test',
      `${PRE}[test profile]\naws_access_key_id = x\n[test]\naws_access_key_id = old\n`,
      `${PRE}[test profile]\naws_access_key_id = x\n[test]\n${KEYS}`,
    ],
    [
      'duplicate sections',
      'test',
      `${PRE}[test]\naws_access_key_id = old\n[test profile]\naws_access_key_id = x\n[test]\naws_access_key_id = old2\n`,
      `${PRE}[test]\n${KEYS}[test profile]\naws_access_key_id = x\n[test]\naws_access_key_id = old2\n`,
    ],
  ]
  for (const [name, profile, input, expected] of cases) t.equal(updateProfile(input, profile, C), expected, name)
  // Upstream drops the section's last line on the end-of-file path and duplicates a header on the last line.
  t.equal(updateProfile(`${PRE}[test]\nregion = eu-west-1\n`, 'test', C), `${PRE}[test]\nregion = eu-west-1\n${KEYS}`, 'last line kept')
  t.equal(updateProfile(`${PRE}[test]`, 'test', C), `${PRE}[test]\n${KEYS}`, 'header on the last line, no newline: no duplicate section')
})

t.test('every other byte is kept: comments, other profiles, blank lines, odd keys', async (t) => {
  const input = [
    '# managed by hand',
    '; another comment',
    '',
    '[default]',
    'region = eu-west-1',
    'aws_secret_access_key=old-secret',
    '# keep me',
    'aws_session_token_ttl = 3600',
    '',
    '[other]',
    'aws_access_key_id = KEEP',
    'aws_secret_access_key = KEEP/=',
    '',
  ].join('\n')
  const out = updateProfile(input, 'default', C)
  t.equal(
    out,
    input
      .replace('aws_secret_access_key=old-secret', 'aws_secret_access_key = new/secret+key')
      .replace('\n[other]', '\naws_access_key_id = ASIANEW\naws_session_token = new-token==\n[other]'),
  )
  t.equal(updateProfile(out, 'default', { ...C, sessionToken: 'second' }), out.replace('new-token==', 'second'), 'a second update changes only the values')
  t.match(out, /^aws_session_token = new-token==$/m, 'a value holding = is written bare (ini would quote it, and botocore keeps quotes)')
  t.equal(
    updateProfile('[p]\naws_session_token = old\n  continued\n\tmore\nx = 1\n', 'p', C),
    '[p]\naws_session_token = new-token==\nx = 1\naws_access_key_id = ASIANEW\naws_secret_access_key = new/secret+key\n',
    'continuation lines of the old value go',
  )
})

t.test('line endings, empty and unterminated files', async (t) => {
  const crlf = '# c\r\n[a]\r\naws_access_key_id = old\r\n\r\n[b]\r\nx = 1\r\n'
  const out = updateProfile(crlf, 'a', C)
  t.equal(out, '# c\r\n[a]\r\naws_access_key_id = ASIANEW\r\n\r\naws_secret_access_key = new/secret+key\r\naws_session_token = new-token==\r\n[b]\r\nx = 1\r\n')
  t.notMatch(out.replace(/\r\n/g, ''), /\n/, 'a CRLF file stays CRLF')
  t.equal(updateProfile(crlf, 'new', C), `${crlf}[new]\r\n${KEYS.replace(/\n/g, '\r\n')}\r\n`, 'appended section in CRLF')
  t.equal(updateProfile('', 'default', C), `[default]\n${KEYS}\n`, 'empty file')
  t.equal(updateProfile('[x]\ny = 1', 'default', C), `[x]\ny = 1\n[default]\n${KEYS}\n`, 'no final newline: one is added before appending')
  t.equal(
    updateProfile('[x]\naws_access_key_id = a\naws_secret_access_key = b\naws_session_token = c', 'x', C),
    `[x]\n${KEYS.slice(0, -1)}`,
    'no final newline and nothing appended: still none',
  )
})

t.test('refuses values and names that would corrupt the file', async (t) => {
  // CreateSession answers are checked where they are parsed (UPSTREAM_BAD_RESPONSE, test/rolesanywhere.test.ts);
  // the editor's own check is a last guard, so a value reaching it is a bug.
  t.equal(
    codeOf(() => updateProfile('', 'p', { ...C, sessionToken: 'a\n[evil]' })),
    'INTERNAL',
  )
  t.equal(
    codeOf(() => updateProfile('', 'p', { ...C, accessKeyId: '' })),
    'INTERNAL',
  )
  for (const bad of ['', 'a]b', 'x\ny'])
    t.equal(
      codeOf(() => updateProfile('', bad, C)),
      'USAGE',
      JSON.stringify(bad),
    )
})

t.test('files: created 0600 in 0700 directories, mode, owner, symlink and foreign bytes kept', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'a', 'b', 'credentials')
  await writeProfile(file, 'default', C, locks)
  t.equal(readFileSync(file, 'utf8'), `[default]\n${KEYS}\n`)
  t.equal(statSync(file).mode & 0o777, 0o600, 'new file 0600')
  t.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700, 'new directory 0700')
  t.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700)
  chmodSync(file, 0o640)
  const root = process.getuid?.() === 0
  if (root) chownSync(file, 1234, 4321)
  const before = statSync(file)
  await writeProfile(file, 'default', { ...C, accessKeyId: 'ASIASECOND' }, locks)
  const after = statSync(file)
  t.same([after.mode & 0o777, after.uid, after.gid], [0o640, before.uid, before.gid], `mode 0640 and owner ${root ? '1234:4321' : '(own)'} kept`)
  t.not(after.ino, before.ino, 'replaced by rename, not rewritten in place')
  t.same(readdirSync(join(dir, 'a', 'b')), ['credentials'], 'no temp or lock file left')

  const real = join(dir, 'real-credentials')
  writeFileSync(real, Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9, 0xff]), Buffer.from('\n[p]\n')]))
  const link = join(dir, 'link')
  symlinkSync(real, link)
  await writeProfile(link, 'p', C, locks)
  t.ok(lstatSync(link).isSymbolicLink(), 'the symlink stays a symlink')
  t.same(readFileSync(real).subarray(0, 7), Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9, 0xff])]), 'non-UTF-8 bytes kept')
  t.match(readFileSync(real, 'latin1'), /\[p\]\naws_access_key_id = ASIANEW\n/)
  await writeProfile(real, 'café', C, locks)
  t.match(readFileSync(real, 'utf8'), /\[café\]\naws_access_key_id/, 'UTF-8 profile name')
})

t.test('the file path', async (t) => {
  t.equal(credentialsFilePath({ HOME: '/home/u' }, '/cwd'), '/home/u/.aws/credentials')
  t.equal(credentialsFilePath({ HOME: '/home/u', AWS_SHARED_CREDENTIALS_FILE: '~/x/creds' }, '/cwd'), '/home/u/x/creds')
  t.equal(credentialsFilePath({ AWS_SHARED_CREDENTIALS_FILE: 'rel/creds' }, '/cwd'), '/cwd/rel/creds')
  t.equal(
    codeOf(() => credentialsFilePath({}, '/cwd')),
    'USAGE',
  )
})

t.test('lock: serialises writers, takes over stale locks, bounded wait', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const profiles = Array.from({ length: 20 }, (_, i) => `p${i}`)
  await Promise.all(profiles.map((p) => writeProfile(file, p, { ...C, accessKeyId: `ASIA${p.toUpperCase()}` }, locks)))
  const text = readFileSync(file, 'utf8')
  t.same(
    profiles.filter((p) => !text.includes(`[${p}]\naws_access_key_id = ASIA${p.toUpperCase()}\n`)),
    [],
    '20 concurrent in-process writers: nothing lost',
  )

  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout
  writeFileSync(`${file}.lock`, `${dead}@${hostname()} 0123456789abcdef\n`)
  const waited: number[] = []
  await writeProfile(file, 'p0', { ...C, accessKeyId: 'ASIAAFTERSTALE' }, testLocks({ sleep: async (ms) => void waited.push(ms) }))
  t.same(waited, [], 'a lock of a dead process is taken over at once (no wait at all)')
  t.match(readFileSync(file, 'utf8'), /aws_access_key_id = ASIAAFTERSTALE/)
  t.notOk(
    readdirSync(dir).some((n) => n.includes('.lock')),
    'lock released',
  )

  writeFileSync(`${file}.lock`, `${process.pid}@${hostname()} 0123456789abcdef\n`)
  await withLock(file, async () => {}, { timeoutMs: 1000 })
  t.pass('our own pid in a lock we do not hold is a leftover')

  writeFileSync(`${file}.lock`, `${process.ppid}@${hostname()} 0123456789abcdef\n`)
  const sleeps: number[] = []
  let err: unknown
  await withLock(file, async () => t.fail('must not run'), {
    timeoutMs: 300,
    sleep: async (ms) => {
      sleeps.push(ms)
      await new Promise((r) => setTimeout(r, ms))
    },
  }).catch((e: unknown) => {
    err = e
  })
  t.equal((err as IamraError).code, 'LOCK_TIMEOUT', 'a live holder: gives up after the timeout')
  t.ok(sleeps.length > 2 && sleeps.every((ms) => ms > 0 && ms <= 250), `bounded backoff ${sleeps.join(',')}`)
  const old = new Date(Date.now() - 120_000)
  utimesSync(`${file}.lock`, old, old)
  t.equal(await withLock(file, async () => 'ran', { timeoutMs: 1000 }), 'ran', 'an old lock is stale whatever its pid')
  let inside = 0
  let most = 0
  await Promise.all(
    [1, 2, 3].map(() =>
      withLock(file, async () => {
        most = Math.max(most, ++inside)
        await new Promise((r) => setTimeout(r, 20))
        inside--
      }),
    ),
  )
  t.equal(most, 1, 'one holder at a time within a process')
})

t.test('retry delays: jittered, exponential, capped at 5 minutes', async (t) => {
  t.same(
    [1, 2, 3].map((n) => retryDelay(n, () => 0)),
    [2500, 5000, 10_000],
  )
  t.same(
    [1, 2, 3].map((n) => retryDelay(n, () => 1)),
    [5000, 10_000, 20_000],
  )
  t.equal(
    retryDelay(30, () => 1),
    300_000,
  )
})

t.test('the loop: refresh at expiry - 20 min, backoff after failures, stop on abort', async (t) => {
  let clock = Date.now()
  const now = (): Date => new Date(clock)
  const down = (): FakeFailure => ({ status: 503, errorType: 'ServiceUnavailableException', message: 'down' })
  const s = await startScenario('p256', { now, failures: Array.from({ length: 6 }, down) })
  t.teardown(s.close)
  const file = join(tmp(t), 'credentials')
  const session = resolveSessionConfig({
    trustAnchorArn: TRUST_ANCHOR_ARN,
    profileArn: PROFILE_ARN,
    roleArn: ROLE_ARN,
    endpoint: s.fake.url,
    verifyTls: true,
    environment: {},
  })
  const provider = fromCertificate({
    keys: new KeyBackends(),
    identity: { certificateFiles: [s.pki.path('leaf.pem')], intermediatesFiles: [s.pki.path('int.pem')], privateKeyFile: s.pki.path('key.pem') },
    session,
    now,
    sleep: async (ms) => {
      clock += ms
    },
    random: () => 0.5,
  })
  const stop = new AbortController()
  const t0 = clock
  const sleeps: number[] = []
  const log: string[] = []
  const writes: number[] = []
  const code = await runUpdate({
    provider: async () => {
      const c = await provider()
      writes.push(clock - t0)
      return c
    },
    file,
    profile: 'loop',
    once: false,
    now,
    random: () => 1,
    locks,
    log: (l) => log.push(l),
    signal: stop.signal,
    sleep: async (ms) => {
      sleeps.push(ms)
      clock += ms
      if (writes.length === 3) stop.abort()
    },
  })
  t.equal(code, 0, 'returns 0 when stopped')
  const okCalls = s.fake.calls.filter((c) => c.status === 201).map((c) => c.at.getTime() - t0)
  t.equal(s.fake.calls.filter((c) => c.status === 503).length, 6, 'two failed provider calls of three attempts each')
  t.equal(okCalls[0], writes[0], 'first success after the failures')
  t.ok(writes[0]! >= 5000 + 10_000 && writes[0]! < 5000 + 10_000 + 2000, `backoff 5 s then 10 s (plus CreateSession's own retries): ${writes[0]}`)
  // The service's expiration has whole seconds, hence the tolerance.
  t.ok(Math.abs(writes[1]! - writes[0]! - 40 * 60_000) < 1000, 'a one-hour session is refreshed 20 minutes before it expires')
  t.ok(Math.abs(writes[2]! - writes[1]! - 40 * 60_000) < 1000)
  t.ok(
    sleeps.every((ms) => ms <= 60_000),
    'long waits are sliced, so the clock is re-read after a suspend',
  )
  t.match(log.join('\n'), /attempt 1 failed: .*ServiceUnavailableException.*\[UPSTREAM_UNAVAILABLE\]; retrying in 5 s/)
  t.match(log.join('\n'), /attempt 2 failed: .*retrying in 10 s/)
  t.match(log.join('\n'), /credentials will be refreshed at \d{4}-\d\d-\d\dT/)
  t.match(log.at(-1), /stopped/)
  t.match(readFileSync(file, 'utf8'), /^\[loop\]\naws_access_key_id = ASIA/)
  const secret = /aws_secret_access_key = (\S+)/.exec(readFileSync(file, 'utf8'))?.[1] ?? 'missing'
  t.notOk(
    log.some((l) => l.includes(secret)),
    'no secret in the log',
  )

  // Short sessions are refreshed at half their lifetime, and an abort interrupts a pending CreateSession.
  const short = new AbortController()
  const at: number[] = []
  await runUpdate({
    provider: async () => {
      at.push(clock)
      if (at.length === 2) setImmediate(() => short.abort())
      return at.length === 2 ? new Promise(() => {}) : { ...C, expiresAt: new Date(clock + 15 * 60_000) }
    },
    file,
    profile: 'short',
    once: false,
    now,
    random: () => 1,
    locks,
    log: () => {},
    signal: short.signal,
    sleep: async (ms) => {
      clock += ms
    },
  })
  t.equal(at[1]! - at[0]!, 7.5 * 60_000, '15-minute credentials refreshed after 7.5 minutes; a hung provider does not block the stop')
})

t.test('update --once end to end: in-process, a file botocore reads, errors', async (t) => {
  const s = await startScenario('p256', {
    mint: async (r: MintRequest) => ({
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: 'se/cr+et=',
      sessionToken: `tok${r.durationSeconds}==`,
      expiration: new Date(Date.now() + r.durationSeconds * 1000),
    }),
  })
  t.teardown(s.close)
  const home = tmp(t)
  const r = await runCli(['update', '--once', '--profile', 'ra', ...s.args], { env: { HOME: home } })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '', 'nothing on stdout')
  const file = join(home, '.aws', 'credentials')
  const text = readFileSync(file, 'utf8')
  t.match(text, /^\[ra\]\naws_access_key_id = ASIA[0-9A-F]{16}\naws_secret_access_key = se\/cr\+et=\naws_session_token = tok3600==\n\n$/)
  t.notOk(r.stderr.includes('se/cr+et=') || r.stderr.includes('tok3600'), 'no secret on stderr')
  t.equal(statSync(join(home, '.aws')).mode & 0o777, 0o700)

  const haveBotocore = spawnSync('python3', ['-c', 'import botocore.session'], { stdio: 'ignore' }).status === 0
  if (!haveBotocore) t.skip('botocore is not installed: python3 -c "import botocore.session" failed', async () => {})
  else {
    const py =
      'import botocore.session, json; c = botocore.session.Session(profile="ra").get_credentials(); print(json.dumps([c.access_key, c.secret_key, c.token, c.method]))'
    const b = spawnSync('python3', ['-c', py], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: home, AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(home, 'none') },
    })
    t.equal(b.status, 0, b.stderr)
    const [ak, sk, tok, method] = JSON.parse(b.stdout) as string[]
    t.same([sk, tok, method], ['se/cr+et=', 'tok3600==', 'shared-credentials-file'], 'botocore reads the values unquoted')
    t.match(text, `aws_access_key_id = ${ak}\n`)
  }

  const cases: Array<[string, string[], Record<string, string>, number, RegExp]> = [
    ['no HOME', [...s.args], {}, 2, /set HOME or AWS_SHARED_CREDENTIALS_FILE .*\[USAGE\]/],
    ['bad profile', ['--profile', 'a]b', ...s.args], { HOME: home }, 2, /--profile must be/],
    ['stray argument', ['oops', ...s.args], { HOME: home }, 2, /unexpected argument/],
    ['missing key', ['--certificate', s.pki.path('leaf.pem'), '--private-key', '/nonexistent.pem', ...s.sessionArgs], { HOME: home }, 3, /KEY_UNREADABLE/],
  ]
  for (const [name, args, env, code, msg] of cases) {
    const e = await runCli(['update', '--once', ...args], { env })
    t.equal(e.code, code, name)
    t.match(e.stderr, msg, name)
  }
  t.match((await runCli(['update', '--help'])).stdout, /--profile NAME.*default default/)
})

t.test('separate processes updating different profiles lose nothing', async (t) => {
  const last = new Map<string, string>()
  let n = 0
  const s = await startScenario('p256', {
    mint: async (r: MintRequest) => {
      const id = `ASIA${String(++n).padStart(4, '0')}${(r.roleSessionName ?? '').toUpperCase()}`
      last.set(r.roleSessionName ?? '', id)
      return { accessKeyId: id, secretAccessKey: `secret-${id}`, sessionToken: `token-${id}==`, expiration: new Date(Date.now() + 3_600_000) }
    },
  })
  t.teardown(s.close)
  const dir = tmp(t)
  mkdirSync(join(dir, 'aws'))
  const file = join(dir, 'aws', 'credentials')
  writeFileSync(file, '# shared by many updaters\n[keep]\nregion = eu-west-1\n')
  const names = Array.from({ length: 8 }, (_, i) => `p${i}`)
  const failures: string[] = []
  await Promise.all(
    names.map(async (name) => {
      for (let i = 0; i < 3; i++) {
        const r = await spawnCli(['update', '--once', '--profile', name, '--role-session-name', name, ...s.args], { AWS_SHARED_CREDENTIALS_FILE: file })
        if (r.code !== 0) failures.push(`${name}: ${r.stderr}`)
      }
    }),
  )
  t.same(failures, [], '24 processes, all exit 0')
  const text = readFileSync(file, 'utf8')
  t.ok(text.startsWith('# shared by many updaters\n[keep]\nregion = eu-west-1\n'), 'the existing content is kept')
  for (const name of names) {
    const id = last.get(name)
    t.ok(
      text.includes(`[${name}]\naws_access_key_id = ${id}\naws_secret_access_key = secret-${id}\naws_session_token = token-${id}==\n`),
      `${name} has its latest keys`,
    )
  }
  t.equal(text.match(/^\[/gm)?.length, names.length + 1, 'one section per profile')
  t.same(readdirSync(join(dir, 'aws')), ['credentials'], 'no lock or temp file left')
})

t.test('separate processes hammering one file: lock plus atomic replace lose nothing', async (t) => {
  // A worker bundled from the source, so that many read-modify-write cycles overlap for certain.
  const dir = tmp(t)
  const worker = join(dir, 'worker.mjs')
  await build({
    stdin: {
      contents: `import { writeProfile } from './update/run-update.ts'
import { FileLocks } from './fs/lock.ts'
import { randomBytes } from 'node:crypto'
const locks = new FileLocks({ now: () => new Date(), random: Math.random, randomBytes })
const withLock = (path, fn, opts) => locks.withLock(path, fn, opts)
const [file, profile, n] = process.argv.slice(2)
if (profile === '--hold') await withLock(file, async () => { console.log('held'); await new Promise((r) => setTimeout(r, Number(n))) }, { staleMs: 300 })
else for (let i = 1; i <= Number(n); i++) await writeProfile(file, profile, { accessKeyId: 'ASIA' + i, secretAccessKey: profile, sessionToken: 'token' }, locks)`,
      resolveDir: new URL('../src', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: worker,
    logLevel: 'error',
  })
  const file = join(dir, 'credentials')
  const names = Array.from({ length: 6 }, (_, i) => `w${i}`)
  const results = await Promise.all(
    names.map(
      (name) =>
        new Promise<string>((resolve) => {
          execFile(process.execPath, [worker, file, name, '40'], { timeout: 60_000 }, (err, _out, stderr) =>
            resolve(err === null ? '' : `${name}: ${stderr || err.message}`),
          )
        }),
    ),
  )
  t.same(results.filter(Boolean), [], '6 processes x 40 writes, all succeed')
  const text = readFileSync(file, 'utf8')
  t.same(
    names.filter((n) => !text.includes(`[${n}]\naws_access_key_id = ASIA40\naws_secret_access_key = ${n}\n`)),
    [],
    'every profile holds its last write',
  )
  t.same(readdirSync(dir).sort(), ['credentials', 'worker.mjs'], 'no lock or temp file left')

  // A holder in another process that keeps the lock far past staleMs is not robbed: it touches the lock.
  const holder = spawn(process.execPath, [worker, file, '--hold', '1200'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number>((resolve) => holder.once('exit', () => resolve(Date.now())))
  await new Promise((resolve) => holder.stdout.once('data', resolve))
  const got = await withLock(file, async () => Date.now(), { staleMs: 300, timeoutMs: 5000 })
  t.ok(got >= (await exited) - 50, 'the lock was granted only once the holder let go')
})

t.test('the built CLI refreshes until SIGTERM, then exits 0 at once', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const file = join(tmp(t), 'credentials')
  const child = spawn(process.execPath, [BIN, 'update', '--profile', 'svc', ...s.args], {
    env: { PATH: process.env.PATH ?? '', AWS_SHARED_CREDENTIALS_FILE: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  const waiting = new Promise<void>((resolve) =>
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
      if (/will be refreshed at/.test(stderr)) resolve()
    }),
  )
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await Promise.race([waiting, exited, new Promise((r) => setTimeout(r, 20_000))])
  t.match(stderr, /refreshed at (\S+)/, stderr)
  // Read off the CLI's own lines and the fake's record, not the test's wall clock.
  const next = Date.parse(/refreshed at (\S+)/.exec(stderr)?.[1] ?? '')
  const expiring = Date.parse(/expiring (\S+)/.exec(stderr)?.[1] ?? '')
  const issued = s.fake.calls.at(-1)?.at.getTime() ?? Number.NaN
  t.ok(Math.abs(expiring - issued - 60 * 60_000) <= 1000, 'a one-hour session (expiration in whole seconds)')
  t.equal(next, expiring - 20 * 60_000, 'next refresh 40 minutes ahead for a one-hour session: 20 minutes before it expires')
  t.match(readFileSync(file, 'utf8'), /^\[svc\]\n/)
  child.kill('SIGTERM')
  // The loop sleeps in slices of 60 s: an exit within 30 s means SIGTERM cut the sleep short.
  t.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]), 0, 'exit 0 on SIGTERM, promptly: the sleep is interrupted')
  t.equal(stdout, '', 'nothing on stdout')
})

t.test('a credentials file readable by others is kept as is, with a warning', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  writeFileSync(file, '[other]\nx = 1\n', { mode: 0o644 })
  chmodSync(file, 0o644)
  const log: string[] = []
  const code = await runUpdate({
    provider: async () => ({ ...C, expiresAt: new Date(Date.now() + 3_600_000) }),
    file,
    profile: 'default',
    once: true,
    now: () => new Date(),
    random: () => 0,
    locks,
    log: (l) => log.push(l),
    signal: new AbortController().signal,
    sleep: async () => {},
  })
  t.equal(code, 0)
  t.equal(statSync(file).mode & 0o777, 0o644, "the mode is the user's choice")
  t.match(log.join('\n'), /warning: .*credentials is readable by others \(mode 644\).*chmod 600/)
})

// The stale-lock takeover. Each "process" is its own instance of the lock module (its own in-process
// queue) with its own pid; one of them runs on a file system whose steps the test interleaves with the others.
type LockModule = typeof import('../src/fs/lock.js')
type FsPromises = typeof import('node:fs/promises')
const realFs: FsPromises = await import('node:fs/promises')
/** One simulated process's withLock: its own FileLocks (own queue), made on its first call with that call's pid, isAlive and sleep. */
type LockCall = <T>(path: string, fn: () => Promise<T>, opts: LockOptions & Partial<LockDeps>) => Promise<T>
const lockProcess = async (
  t: Tap & { mockImport<T>(m: string, mocks: Record<string, unknown>): Promise<T> },
  fs: Partial<FsPromises> = {},
): Promise<LockCall> => {
  const mod = await t.mockImport<LockModule>('../src/fs/lock.js', { 'node:fs/promises': { ...realFs, ...fs } })
  let own: InstanceType<LockModule['FileLocks']> | undefined
  return (path, fn, opts) => {
    own ??= new mod.FileLocks({ now: () => new Date(), ...realRandom, pid: opts.pid, isAlive: opts.isAlive, sleep: opts.sleep })
    return own.withLock(path, fn, opts)
  }
}
const DEAD_PID = 999_999 // never alive: every instance is told so
const isAlive = (pid: number): boolean => pid !== DEAD_PID
const signal = (): { promise: Promise<void>; fire: () => void } => {
  let fire = (): void => {}
  const promise = new Promise<void>((r) => (fire = r))
  return { promise, fire }
}
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
/** Before and after `a` first removes the lock file (rename or unlink), run the given steps of the other processes. */
const aroundFirstRemoval = (lockPath: string, before: () => Promise<void>, after: () => Promise<void>): Partial<FsPromises> => {
  let armed = true
  const hook = async <R>(path: unknown, step: () => Promise<R>): Promise<R> => {
    if (!armed || String(path) !== lockPath) return step()
    armed = false
    await before()
    try {
      return await step()
    } finally {
      await after()
    }
  }
  return {
    rename: ((from: string, to: string) => hook(from, () => realFs.rename(from, to))) as FsPromises['rename'],
    unlink: ((path: string) => hook(path, () => realFs.unlink(path))) as FsPromises['unlink'],
  }
}

t.test('taking over a stale lock never removes a live lock (three processes interleaved)', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const lockPath = `${file}.lock`
  writeFileSync(lockPath, `${DEAD_PID}@${hostname()} 0123456789abcdef\n`)
  let inside = 0
  let most = 0
  const ran: string[] = []
  const release = signal()
  const body = (name: string, entered: () => void) => async (): Promise<void> => {
    most = Math.max(most, ++inside)
    ran.push(name)
    entered()
    await release.promise
    inside--
  }
  // B and C get as far as they can (into the lock, or into their first backoff) before A goes on.
  const step = async (withLock: LockCall, name: string, pid: number): Promise<{ done: Promise<void> }> => {
    const progressed = signal()
    const done = withLock(file, body(name, progressed.fire), {
      pid,
      isAlive,
      timeoutMs: 10_000,
      sleep: async (ms) => {
        progressed.fire()
        await delay(ms)
      },
    })
    await Promise.race([progressed.promise, done])
    return { done } // wrapped: an async function returning a promise would wait for it
  }
  const b = await lockProcess(t)
  const c = await lockProcess(t)
  let bDone: Promise<void> = Promise.resolve()
  let cDone: Promise<void> = Promise.resolve()
  // A judges the dead process's lock stale; B takes it over first; C arrives while A has the lock file out of the way.
  const a = await lockProcess(
    t,
    aroundFirstRemoval(
      lockPath,
      async () => {
        ;({ done: bDone } = await step(b, 'B', 1002))
      },
      async () => {
        ;({ done: cDone } = await step(c, 'C', 1003))
      },
    ),
  )
  const aProgressed = signal()
  const aDone = a(
    file,
    body('A', () => {}),
    {
      pid: 1001,
      isAlive,
      timeoutMs: 10_000,
      sleep: async (ms) => {
        aProgressed.fire()
        await delay(ms)
      },
    },
  )
  await Promise.race([aProgressed.promise, aDone])
  release.fire()
  await aDone
  await Promise.all([bDone, cDone]) // set by then: A's hooks started B and C
  t.same(ran.slice().sort(), ['A', 'B', 'C'], 'all three ran')
  t.equal(most, 1, `one holder at a time (order ${ran.join(' ')})`)
  t.same(readdirSync(dir), [], 'no lock, guard or grave left')
})

t.test('an empty stale lock is never confused with a new one still being written', async (t) => {
  // A crash between creating the lock and writing it leaves an empty file, stale once old. B replaces it and has
  // created (not yet written) its own when A, which judged the old one stale, removes the lock file.
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const lockPath = `${file}.lock`
  writeFileSync(lockPath, '')
  const old = new Date(Date.now() - 120_000)
  utimesSync(lockPath, old, old)
  let inside = 0
  let most = 0
  const ran: string[] = []
  const body = (name: string) => async (): Promise<void> => {
    most = Math.max(most, ++inside)
    ran.push(name)
    const until = Date.now() + 150
    while (ran.length < 2 && Date.now() < until) await delay(5)
    inside--
  }
  let pauseB = true
  const bCreated = signal()
  const resumeB = signal()
  const b = await lockProcess(t, {
    open: (async (...args: Parameters<FsPromises['open']>) => {
      const fh = await realFs.open(...args)
      if (pauseB && String(args[0]) === lockPath && args[1] === 'wx') {
        pauseB = false
        bCreated.fire()
        await resumeB.promise
      }
      return fh
    }) as FsPromises['open'],
  })
  let bDone: Promise<void> = Promise.resolve()
  const a = await lockProcess(
    t,
    aroundFirstRemoval(
      lockPath,
      async () => {
        const bSlept = signal()
        bDone = b(file, body('B'), {
          pid: 1002,
          isAlive,
          timeoutMs: 10_000,
          sleep: async (ms) => {
            bSlept.fire()
            await delay(ms)
          },
        })
        await Promise.race([bCreated.promise, bSlept.promise, bDone])
      },
      async () => {
        pauseB = false // B goes on once A got as far as it can: into the lock, or into its first backoff
      },
    ),
  )
  const bodyA = body('A')
  const aDone = a(
    file,
    async () => {
      resumeB.fire()
      await bodyA()
    },
    {
      pid: 1001,
      isAlive,
      timeoutMs: 10_000,
      sleep: async (ms) => {
        resumeB.fire()
        await delay(ms)
      },
    },
  )
  await aDone
  await bDone // set by then: A's hook started B
  t.same(ran.slice().sort(), ['A', 'B'], 'both ran')
  t.equal(most, 1, `one holder at a time (order ${ran.join(' ')})`)
  t.same(readdirSync(dir), [], 'no lock, guard or grave left')
})

t.test('the guard of a takeover: a live one is waited for, one left by a dead process is removed', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const lockPath = `${file}.lock`
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout
  writeFileSync(lockPath, `${dead}@${hostname()} 0123456789abcdef\n`)
  writeFileSync(`${lockPath}.break`, `${process.ppid}@${hostname()} 0123456789abcdef\n`)
  let err: unknown
  await withLock(file, async () => t.fail('must not run'), { timeoutMs: 300 }).catch((e: unknown) => {
    err = e
  })
  t.equal((err as IamraError).code, 'LOCK_TIMEOUT', 'a live process removing the stale lock is left to it')
  t.same(readdirSync(dir).sort(), ['credentials.lock', 'credentials.lock.break'], 'neither removed')
  writeFileSync(`${lockPath}.break`, `${dead}@${hostname()} 0123456789abcdef\n`)
  const started = Date.now()
  t.equal(await withLock(file, async () => 'ran', { timeoutMs: 5000 }), 'ran')
  t.ok(Date.now() - started < 2000, 'a guard left by a dead process is removed at once, then the stale lock')
  writeFileSync(lockPath, `${dead}@${hostname()} 0123456789abcdef\n`)
  writeFileSync(`${lockPath}.break`, '')
  const old = new Date(Date.now() - 120_000)
  utimesSync(`${lockPath}.break`, old, old)
  t.equal(await withLock(file, async () => 'ran', { timeoutMs: 5000 }), 'ran', 'an old empty guard is stale')
  t.same(readdirSync(dir), [], 'no lock or guard left')
})

t.test("what killed processes leave beside a lock goes with the next taker; a live process's guard stays", async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const lockPath = `${file}.lock`
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout
  const tokenOf = (pid: string | number): string => `${pid}@${hostname()} 0123456789abcdef\n`
  // Killed while clearing a stale guard: the guard above a free one, which nothing on the way to the lock looks at.
  writeFileSync(`${lockPath}.break.break`, tokenOf(dead))
  writeFileSync(`${lockPath}.break.break.break.break`, tokenOf(dead))
  writeFileSync(`${lockPath}.break.${dead}.new`, tokenOf(dead))
  t.equal(await withLock(file, async () => 'ran', { timeoutMs: 5000 }), 'ran')
  t.same(readdirSync(dir), [], "the dead process's guards and pending file are gone")
  writeFileSync(`${lockPath}.break.break`, tokenOf(process.ppid))
  t.equal(await withLock(file, async () => 'ran', { timeoutMs: 5000 }), 'ran')
  t.same(readdirSync(dir), ['credentials.lock.break.break'], "a live process's guard is left to it")
  rmSync(`${lockPath}.break.break`)
  // Processes killed one after another while creating the lock: their pending files go even while it is held.
  writeFileSync(lockPath, tokenOf(process.ppid))
  writeFileSync(`${lockPath}.${dead}.new`, tokenOf(dead))
  writeFileSync(`${lockPath}.break.${dead}.new`, tokenOf(dead))
  writeFileSync(`${lockPath}.${process.ppid}.new`, tokenOf(process.ppid))
  let err: unknown
  await withLock(file, async () => t.fail('must not run'), { timeoutMs: 300 }).catch((e: unknown) => {
    err = e
  })
  t.equal((err as IamraError).code, 'LOCK_TIMEOUT', 'the live holder keeps the lock')
  t.same(readdirSync(dir).sort(), ['credentials.lock', `credentials.lock.${process.ppid}.new`], "only the dead process's pending files are removed")
})
