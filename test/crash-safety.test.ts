// Issue 8, attack-style: writers killed with SIGKILL at many points (update, the --cache entry, the lock), holders
// left as zombies, special files given as the credentials file, paths iamra cannot write. Every loop is bounded.
import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { build } from 'esbuild'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { IamraError } from '../src/errors.js'
import { cachedAcrossProcesses } from '../src/cache/process-cache.js'
import { writeProfile } from '../src/update/run-update.js'
import type { MintRequest } from '../src/testing/fake-endpoint/handler.js'
import { runCli, spawnCli, BIN } from './helpers/cli.js'
import { startScenario } from './helpers/scenario.js'
import { testLocks } from './helpers/runtime.js'
import { pollUntil, sleep as delay } from './helpers/wait.js'

type Tap = { teardown(fn: () => unknown): void }
const tmp = (t: Tap): string => {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
const dirOf = (p: string): string => (p.endsWith('credentials') ? join(p, '..') : p)
const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (e instanceof IamraError ? e.code : `not an IamraError: ${String(e)}`),
  )
const C = { accessKeyId: 'ASIAKILLED', secretAccessKey: 'secret/killed', sessionToken: 'token-killed==' }
const root = process.getuid?.() === 0
const haveProc = spawnSync('test', ['-r', '/proc/self/stat']).status === 0

/** A worker bundled from the source: `hold FILE` takes the lock and keeps it; the loops write until killed. */
const workerDir = mkdtempSync(join(tmpdir(), 'iamra-crash-worker-'))
t.teardown(() => rmSync(workerDir, { recursive: true, force: true }))
chmodSync(workerDir, 0o755)
const WORKER = join(workerDir, 'worker.mjs')
await build({
  stdin: {
    contents: `import { writeProfile } from './update/run-update.ts'
import { FileLocks } from './fs/lock.ts'
import { randomBytes } from 'node:crypto'
import { cachedAcrossProcesses } from './cache/process-cache.ts'
const locks = new FileLocks({ now: () => new Date(), random: Math.random, randomBytes })
const withLock = (path, fn, opts) => locks.withLock(path, fn, opts)
const [mode, path] = process.argv.slice(2)
// Bounded: a worker the test failed to kill (the test itself killed or timed out) stops on its own.
setTimeout(() => process.exit(3), 120_000).unref()
const orphaned = () => process.ppid === 1
const creds = (i) => ({ accessKeyId: 'ASIA' + i, secretAccessKey: 'secret-' + i, sessionToken: 'token-' + i })
if (mode === 'hold') await withLock(path, async () => { console.log('held'); await new Promise((resolve) => { const check = setInterval(() => { if (orphaned()) { clearInterval(check); resolve() } }, 200) }) })
if (mode === 'write') await writeProfile(path, 'p', creds(0), locks).then(() => console.log('ok'), (e) => console.log('code:' + (e.code ?? e.message)))
if (mode === 'update-loop') for (let i = 0; i < 1_000_000 && !orphaned(); i++) { await writeProfile(path, 'p', creds(i), locks); if (i === 0) console.log('ready') }
if (mode === 'cache-loop') for (let i = 0; i < 1_000_000 && !orphaned(); i++) {
  // Credentials that expire at once: every call finds the entry stale and writes it again under the lock.
  await cachedAcrossProcesses({ dir: path, key: 'k', now: () => new Date(), locks }, async () => ({ ...creds(i), expiration: new Date(Date.now() + 1), expiresAt: new Date(Date.now() + 1), roleArn: 'r', assumedRoleArn: undefined }))
  if (i === 0) console.log('ready')
}`,
    resolveDir: new URL('../src', import.meta.url).pathname,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: WORKER,
  logLevel: 'error',
})

/** This test process's file locks. */
const locks = testLocks()
const withLock = <T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number } = {}): Promise<T> => locks.withLock(path, fn, opts)

/** Resolves with the first stdout line matching `re`, or rejects after `ms`. */
const lineFrom = (child: ChildProcess, re: RegExp, ms: number): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms (got ${JSON.stringify(out)})`)), ms)
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = out.split('\n').find((l) => re.test(l))
      if (m !== undefined) {
        clearTimeout(timer)
        resolve(m)
      }
    })
  })

/**
 * Runs `argv` (node arguments) under a parent that never reaps it (`sh` exec'd into `sleep`), so that once killed it
 * stays a zombie, as when the process that started it has not waited for it yet. Returns its pid and a SIGKILL.
 */
async function zombieable(t: Tap, argv: string[], env: Record<string, string> = {}): Promise<{ pid: number; child: ChildProcess; kill: () => Promise<void> }> {
  const child = spawn('sh', ['-c', '"$0" "$@" & echo "pid:$!"; exec sleep 60', process.execPath, ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  t.teardown(() => void child.kill('SIGKILL'))
  const pid = Number((await lineFrom(child, /^pid:\d+$/, 10_000)).slice(4))
  return {
    pid,
    child,
    kill: async () => {
      process.kill(pid, 'SIGKILL')
      // Bounded: the kernel makes it a zombie within moments.
      await pollUntil(() => !haveProc || /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), { tries: 200, everyMs: 10 })
    },
  }
}

t.test(
  'a lock whose holder was SIGKILLed (and is a zombie) is taken over at once',
  { skip: haveProc ? false : 'needs /proc (Linux) to make and check a zombie' },
  async (t) => {
    const dir = tmp(t)
    const file = join(dir, 'credentials')
    writeFileSync(file, '[keep]\nx = 1\n', { mode: 0o600 })
    const holder = await zombieable(t, [WORKER, 'hold', file])
    await lineFrom(holder.child, /^held$/, 10_000)
    await holder.kill()
    t.match(readFileSync(`/proc/${holder.pid}/stat`, 'utf8'), /\) Z /, 'the killed holder is a zombie: kill(pid, 0) still succeeds')
    const started = Date.now()
    await writeProfile(file, 'p', C, locks)
    const ms = Date.now() - started
    t.ok(ms < 1000, `the next writer took ${ms} ms (before: 10 s, then LOCK_TIMEOUT)`)
    t.match(readFileSync(file, 'utf8'), /^\[keep\]\nx = 1\n\[p\]\naws_access_key_id = ASIAKILLED\n/)
    t.same(readdirSync(dir), ['credentials'], 'the dead lock is gone')
  },
)

t.test(
  'a lock naming a live pid started at another time (a reused pid) is taken over; the real holder is not',
  { skip: haveProc ? false : 'needs /proc (Linux)' },
  async (t) => {
    const dir = tmp(t)
    const file = join(dir, 'credentials')
    const lockPath = `${file}.lock`
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8')
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    writeFileSync(lockPath, `${process.ppid}@${hostname()} 0123456789abcdef ${Number(start) + 1}\n`)
    const started = Date.now()
    t.equal(await withLock(file, async () => 'ran', { timeoutMs: 5000 }), 'ran')
    t.ok(Date.now() - started < 1000, 'taken over at once')
    writeFileSync(lockPath, `${process.ppid}@${hostname()} 0123456789abcdef ${start}\n`)
    t.equal(await codeOf(withLock(file, async () => t.fail('must not run'), { timeoutMs: 300 })), 'LOCK_TIMEOUT', 'the live holder keeps it')
    t.equal(readFileSync(lockPath, 'utf8'), `${process.ppid}@${hostname()} 0123456789abcdef ${start}\n`, 'and its lock is untouched')
  },
)

t.test(
  'credential-process --cache killed during CreateSession: the next invocation does not wait',
  { skip: haveProc ? false : 'needs /proc (Linux)' },
  async (t) => {
    let calls = 0
    const s = await startScenario('p256', {
      mint: async (r: MintRequest) => {
        // The first CreateSession never answers: its caller holds the cache entry's lock when it is killed.
        if (++calls === 1) await new Promise(() => {})
        return { accessKeyId: 'ASIAAFTERKILL', secretAccessKey: 'sk', sessionToken: 'tok', expiration: new Date(Date.now() + r.durationSeconds * 1000) }
      },
    })
    t.teardown(s.close)
    const cacheDir = join(s.pki.dir, 'cache')
    const args = ['credential-process', ...s.args, '--cache', '--cache-dir', cacheDir]
    const holder = await zombieable(t, [BIN, ...args])
    const locked = (): boolean => existsSync(cacheDir) && readdirSync(cacheDir).some((n) => n.endsWith('.json.lock'))
    await pollUntil(() => locked() && calls === 1, { tries: 500, everyMs: 20 })
    t.ok(locked() && calls === 1, 'the first invocation holds the lock, waiting for CreateSession')
    await holder.kill()
    const started = Date.now()
    const r = await spawnCli(args)
    const ms = Date.now() - started
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /ASIAAFTERKILL/)
    t.ok(ms < 5000, `the next invocation took ${ms} ms, process start-up included (before: 30 s)`)
    t.same(
      readdirSync(cacheDir).filter((n) => !n.endsWith('.json')),
      [],
      'no lock or temp file left',
    )
  },
)

const ROUNDS = 15

/** SIGKILLs a looping writer `rounds` times at random moments; after each kill the next writer runs and is checked. */
async function killRounds(
  t: Tap & { ok: (v: unknown, m: string) => void },
  mode: string,
  path: string,
  rounds: number,
  next: () => Promise<void>,
  clean: () => boolean,
): Promise<{ leftBehind: number; slowest: number }> {
  let leftBehind = 0
  let slowest = 0
  for (let i = 0; i < rounds; i++) {
    const child = spawn(process.execPath, [WORKER, mode, path], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    await lineFrom(child, /^ready$/, 10_000)
    await delay(Math.floor(((i + Math.random()) * 25) / rounds)) // spread over the first 25 ms of writing
    child.kill('SIGKILL')
    await exited
    if (!clean()) leftBehind++
    const started = Date.now()
    await next()
    slowest = Math.max(slowest, Date.now() - started)
    t.ok(clean(), `round ${i}: nothing left after the next writer (${readdirSync(dirOf(path)).join(' ')})`)
  }
  return { leftBehind, slowest }
}

t.test('update killed at many points: the file is whole, no temp file or lock outlives the next run, which never waits', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  writeFileSync(file, '# mine\n[keep]\nx = 1\n', { mode: 0o600 })
  const { leftBehind, slowest } = await killRounds(
    t,
    'update-loop',
    file,
    ROUNDS,
    async () => {
      await writeProfile(file, 'p', C, locks)
      t.match(readFileSync(file, 'utf8'), /^# mine\n\[keep\]\nx = 1\n\[p\]\naws_access_key_id = ASIAKILLED\n/)
    },
    () => readdirSync(dir).length === 1,
  )
  t.ok(slowest < 1000, `the slowest next run took ${slowest} ms`)
  t.comment(`${ROUNDS} kills: ${leftBehind} left a temp or lock file behind, all removed by the next run`)
  t.equal(statSync(file).mode & 0o777, 0o600)
})

t.test('credential-process --cache killed at many points: no temp file holding credentials outlives the next write', async (t) => {
  const dir = join(tmp(t), 'cache')
  const { leftBehind, slowest } = await killRounds(
    t,
    'cache-loop',
    dir,
    ROUNDS,
    async () => {
      const got = await cachedAcrossProcesses({ dir, key: 'k', now: () => new Date(), locks }, async () => ({
        ...C,
        expiration: new Date(Date.now() + 3_600_000),
        expiresAt: new Date(Date.now() + 3_600_000),
        roleArn: 'r',
        assumedRoleArn: undefined,
      }))
      t.equal(got.accessKeyId.startsWith('ASIA'), true)
      // Make the entry stale again for the next round's worker and next writer.
      writeFileSync(join(dir, 'k.json'), '{}', { mode: 0o600 })
    },
    () => readdirSync(dir).every((n) => n === 'k.json'),
  )
  t.ok(slowest < 1000, `the slowest next write took ${slowest} ms`)
  t.comment(`${ROUNDS} kills: ${leftBehind} left a temp or lock file behind, all removed by the next write`)
})

t.test('temp files of older versions (random names) are removed under the lock too', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  writeFileSync(join(dir, '.credentials.0123456789ab.tmp'), '[p]\naws_secret_access_key = leaked\n', { mode: 0o600 })
  writeFileSync(join(dir, '.other.0123456789ab.tmp'), 'not ours to remove')
  await writeProfile(file, 'p', C, locks)
  t.same(readdirSync(dir).sort(), ['.other.0123456789ab.tmp', 'credentials'])
})

t.test('update refuses what is not a regular file, before any CreateSession, and changes nothing', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = tmp(t)
  const fifo = join(dir, 'fifo')
  spawnSync('mkfifo', [fifo])
  mkdirSync(join(dir, 'directory'))
  symlinkSync(fifo, join(dir, 'link-to-fifo'))
  const targets = ['fifo', 'directory', 'link-to-fifo']
  if (root && spawnSync('mknod', [join(dir, 'null'), 'c', '1', '3']).status === 0) {
    symlinkSync(join(dir, 'null'), join(dir, 'link-to-null'))
    targets.push('null', 'link-to-null')
  } else t.skip('character device cases: mknod needs root (CI runs them as root)', async () => {})
  for (const name of targets) {
    const path = join(dir, name)
    const before = lstatSync(path)
    const started = Date.now()
    t.equal(await codeOf(writeProfile(path, 'p', C, locks)), 'FILE_UNWRITABLE', name)
    t.ok(Date.now() - started < 2000, `${name}: at once`)
    const r = await runCli(['update', '--once', ...s.args], { env: { AWS_SHARED_CREDENTIALS_FILE: path } })
    t.equal(r.code, 1, `${name}: exit 1`)
    t.match(r.stderr, /not a regular file.*\[FILE_UNWRITABLE\]/, name)
    const after = lstatSync(path)
    t.same([after.mode, after.ino, after.rdev], [before.mode, before.ino, before.rdev], `${name}: unchanged`)
  }
  t.equal(s.fake.calls.length, 0, 'no CreateSession for a file that cannot be written')
  t.same(readdirSync(dir).sort(), targets.slice().sort(), 'no lock or temp file created beside them')
  // A dangling link is followed: its target is created and the link kept.
  mkdirSync(join(dir, 'real'))
  symlinkSync('real/credentials', join(dir, 'dangling'))
  await writeProfile(join(dir, 'dangling'), 'p', C, locks)
  t.ok(lstatSync(join(dir, 'dangling')).isSymbolicLink(), 'the link stays a link')
  t.match(readFileSync(join(dir, 'real', 'credentials'), 'utf8'), /^\[p\]\naws_access_key_id = ASIAKILLED\n/)
})

t.test('codes that say what happened: unwritable places, --cache-dir naming a file', async (t) => {
  const s = await startScenario('p256')
  t.teardown(s.close)
  const dir = tmp(t)
  chmodSync(dir, 0o755)
  const locked = join(dir, 'locked')
  mkdirSync(locked, { mode: 0o555 })
  chmodSync(locked, 0o555)
  // Root ignores modes: the case then runs as nobody.
  const asUser = root ? { uid: 65534, gid: 65534 } : {}
  for (const path of [join(locked, 'credentials'), join(locked, 'sub', 'credentials')]) {
    const r = spawnSync(process.execPath, [WORKER, 'write', path], { encoding: 'utf8', ...asUser })
    t.equal(r.stdout.trim(), 'code:FILE_UNWRITABLE', `permission denied writing ${path}`)
  }
  const file = s.pki.path('leaf.pem')
  for (const cacheDir of [file, join(file, 'sub')]) {
    const r = await runCli(['credential-process', ...s.args, '--cache', '--cache-dir', cacheDir])
    t.equal(r.code, 1, cacheDir)
    t.match(r.stderr, /is not a directory.*\[FILE_UNWRITABLE\]/, `--cache-dir ${cacheDir}`)
    t.notMatch(r.stderr, /INTERNAL/)
  }
})

t.test('credential-process --env-file: a directory, FIFO, device or missing file is refused at once, by iamra', async (t) => {
  const dir = tmp(t)
  const fifo = join(dir, 'fifo')
  spawnSync('mkfifo', [fifo])
  const tokenFifo = join(dir, 'token-fifo')
  spawnSync('mkfifo', [tokenFifo])
  const envFile = join(dir, 'env')
  writeFileSync(envFile, `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1/x\nAWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=${tokenFifo}\n`)
  const empty = join(dir, 'empty')
  writeFileSync(empty, '')
  const cases: Array<[string, RegExp]> = [
    [dir, /is a directory/],
    [fifo, /is a named pipe/],
    ['/dev/zero', /is a character device/],
    [join(dir, 'missing'), /no such file/],
    [empty, /is empty/],
    [envFile, /token file .*is a named pipe/],
  ]
  for (const [path, msg] of cases) {
    const started = Date.now()
    const r = await runCli(['credential-process', '--env-file', path])
    t.ok(Date.now() - started < 2000, `${path}: at once`)
    // An env or token file that cannot be read is FILE_UNREADABLE (exit 3: nothing was sent); an empty env file is a usage error.
    t.same([r.code, /\[(\w+)\]$/m.exec(r.stderr)?.[1]], path === empty ? [2, 'USAGE'] : [3, 'FILE_UNREADABLE'], path)
    t.match(r.stderr, msg, path)
    t.match(r.stderr, /^iamra: cannot read the|^iamra: the env file/, path)
  }
})

t.test('a FIFO, symlink or directory planted where the lock belongs is reported at once, never waited on', async (t) => {
  const dir = tmp(t)
  const file = join(dir, 'credentials')
  const elsewhere = join(dir, 'elsewhere')
  writeFileSync(elsewhere, `${process.ppid}@${hostname()} 0123456789abcdef\n`)
  const plant: Array<[string, () => void]> = [
    ['FIFO', () => void spawnSync('mkfifo', [`${file}.lock`])],
    ['symlink', () => symlinkSync(elsewhere, `${file}.lock`)],
    ['directory', () => mkdirSync(`${file}.lock`)],
  ]
  for (const [name, make] of plant) {
    rmSync(`${file}.lock`, { recursive: true, force: true })
    make()
    const started = Date.now()
    t.equal(await codeOf(writeProfile(file, 'p', C, locks, { timeoutMs: 5000 })), 'FILE_UNWRITABLE', name)
    t.ok(Date.now() - started < 2000, `${name}: at once`)
  }
  t.equal(readFileSync(elsewhere, 'utf8'), `${process.ppid}@${hostname()} 0123456789abcdef\n`, 'the symlink target is untouched')
})
