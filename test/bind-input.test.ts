// What bind refuses, before it writes anything: URLs the SDKs will not call, values an env file cannot
// carry, planted symbolic links, malformed ARNs, certificate or key paths that are not regular files,
// env: sources; and the code of a configuration directory it may not create.
import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseEnvFile } from '../src/binding/env-file.js'
import { BIN, runCli } from './helpers/cli.js'
import { splitAssignments } from './helpers/env-file.mjs'
import { onPath } from './helpers/processes.js'

const TA = 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01'
const PR = 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e'
const RO = 'arn:aws:iam::123456789012:role/app'

function workspace(t: Test): { root: string; cert: string; key: string; args: (dir: string, name: string, ...extra: string[]) => string[] } {
  const root = mkdtempSync(join(tmpdir(), 'iamra-bind-input-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const cert = join(root, 'cert.pem')
  const key = join(root, 'key.pem')
  // --no-validate: the content is not parsed, only the kind of file is checked.
  writeFileSync(cert, 'certificate\n', { mode: 0o600 })
  writeFileSync(key, 'key\n', { mode: 0o600 })
  const args = (dir: string, name: string, ...extra: string[]): string[] => [
    'bind',
    name,
    '--configuration-directory',
    dir,
    '--no-validate',
    '--certificate',
    cert,
    '--private-key',
    key,
    '--trust-anchor-arn',
    TA,
    '--profile-arn',
    PR,
    '--role-arn',
    RO,
    ...extra,
  ]
  return { root, cert, key, args }
}

/** Every file under a directory with its bytes and mode: "nothing changed" is this, before and after. */
function snapshot(path: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (p: string, rel: string): void => {
    const st = statSync(p, { throwIfNoEntry: false })
    if (st === undefined) return
    out[rel] = (st.mode & 0o7777).toString(8)
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e), `${rel}/${e}`)
    else if (st.isFile()) out[rel] += ` ${readFileSync(p, 'utf8')}`
  }
  walk(path, '.')
  return out
}

t.test('--url: what the SDKs call, or --force', async (t) => {
  const w = workspace(t)
  const dir = join(w.root, 'run')
  for (const url of [
    'http://10.0.0.1:7224',
    'http://example.com',
    'http://169.254.170.3',
    'http://localhost.:7224',
    'http://[fd00:ec2::24]',
    'http://192.168.1.1',
  ]) {
    const r = await runCli(w.args(dir, 'app', '--url', url))
    t.same(
      [
        r.code,
        /USAGE/.test(r.stderr),
        /127\.0\.0\.1.*\[::1\].*localhost.*169\.254\.170\.2.*169\.254\.170\.23.*\[fd00:ec2::23\].*https/.test(r.stderr),
        /--force/.test(r.stderr),
      ],
      [2, true, true, true],
      `${url} refused, with the allowed forms: ${r.stderr.trim()}`,
    )
  }
  t.notOk(existsSync(dir), 'nothing written, not even the directory')
  for (const url of [
    'http://127.0.0.1:7224',
    'http://127.0.0.2:7224',
    'http://[::1]:7224',
    'http://localhost:7224',
    'http://169.254.170.2',
    'http://169.254.170.23',
    'http://[fd00:ec2::23]',
    'https://creds.example.com:8443/base',
  ]) {
    const r = await runCli(w.args(dir, 'app', '--url', url))
    t.equal(r.code, 0, `${url} accepted: ${r.stderr}`)
    t.match(readFileSync(join(dir, 'env/app'), 'utf8'), `AWS_CONTAINER_CREDENTIALS_FULL_URI=${url.replace(/:(80)?$/, '')}`, url)
  }
  const forced = await runCli(w.args(dir, 'forced', '--url', 'http://10.0.0.1:7224', '--force'))
  t.equal(forced.code, 0, '--force writes it anyway')
  t.match(readFileSync(join(dir, 'env/forced'), 'utf8'), 'AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.0.0.1:7224/ecs/credentials')
  t.equal(
    (await runCli(w.args(dir, 'rel', '--mode', 'ecs-relative', '--url', 'http://10.0.0.1:7224'))).code,
    0,
    'the relative modes write no URL, so --url does not matter',
  )
})

t.test('env files read alike by systemd, docker --env-file and a shell', async (t) => {
  const w = workspace(t)
  const dir = join(w.root, 'run')
  const marker = join(w.root, 'executed')
  // What the attack runs wrote unquoted (or double-quoted, where $(…) still runs): refused now.
  for (const url of [
    `http://127.0.0.1:7224/$(touch ${marker})`,
    'http://127.0.0.1:7224/a&touch',
    'http://127.0.0.1:7224/a|b',
    'http://127.0.0.1:7224/a(b)',
    "http://127.0.0.1:7224/a'b",
    'http://127.0.0.1:7224/a;touch',
    'http://127.0.0.1:7224/~root',
  ]) {
    const r = await runCli(w.args(dir, 'app', '--url', url))
    t.same([r.code, /cannot carry safely/.test(r.stderr)], [2, true], `${url}: ${r.stderr.trim()}`)
  }
  const evilDir = join(w.root, '$(touch x) d')
  const r = await runCli(w.args(evilDir, 'app', '--mode', 'ecs-full-token-file'))
  t.same([r.code, /cannot carry it safely/.test(r.stderr)], [2, true], 'a directory the token-file env file would name')
  t.notOk(existsSync(evilDir), 'refused before anything is written')
  t.equal((await runCli(w.args(evilDir, 'app', '--mode', 'ecs-full'))).code, 0, 'the directory is not in the env file of the other modes')

  // Every mode's env file, read three ways.
  const hasBash = onPath('bash')
  for (const mode of ['ecs-full', 'ecs-full-query', 'ecs-relative', 'ecs-relative-query', 'ecs-full-token-file']) {
    t.equal((await runCli(w.args(dir, `m-${mode}`, '--mode', mode, '--url', 'http://[::1]:7224/base'))).code, 0)
    const file = join(dir, 'env', `m-${mode}`)
    const text = readFileSync(file, 'utf8')
    const systemd = parseEnvFile(text)
    // docker --env-file: everything after the first "=" is the value, quotes and all.
    const docker = splitAssignments(text)
    t.same(systemd, docker, `${mode}: systemd and docker read the same`)
    if (!hasBash) {
      t.skip('bash is not installed: the shell reading is not checked', async () => {})
      continue
    }
    const keys = Object.keys(docker)
    const shell = execFileSync('bash', ['-c', `set -a; . "$1"; for k in ${keys.join(' ')}; do printf '%s=%s\\0' "$k" "\${!k}"; done`, 'bash', file], {
      env: {},
      encoding: 'utf8',
    })
    t.same(splitAssignments(shell, '\0'), docker, `${mode}: a shell reads the same`)
  }
  t.notOk(existsSync(marker), 'nothing was executed')
})

t.test('planted symbolic links: refused, nothing written through them', async (t) => {
  const w = workspace(t)
  const dir = join(w.root, 'run')
  t.equal((await runCli(w.args(dir, 'app'))).code, 0)
  const elsewhere = join(w.root, 'elsewhere')
  mkdirSync(elsewhere, { mode: 0o755 })
  writeFileSync(join(elsewhere, 'victim'), 'precious\n', { mode: 0o644 })

  for (const sub of ['env', 'bindings', 'tokens']) {
    rmSync(join(dir, sub), { recursive: true, force: true })
    symlinkSync(elsewhere, join(dir, sub))
    const before = snapshot(elsewhere)
    const r = await runCli(w.args(dir, 'app', '--mode', 'ecs-full-token-file'))
    t.same([r.code, /CONFIG_DIRECTORY_UNUSABLE/.test(r.stderr), /symbolic link/.test(r.stderr)], [2, true, true], `${sub}/ as a link: ${r.stderr.trim()}`)
    t.same(snapshot(elsewhere), before, `${sub}/ as a link: the target directory's files and modes are unchanged`)
    const u = await runCli(['unbind', 'victim', '--configuration-directory', dir])
    t.equal(u.code, 2, `unbind refuses too (${sub}/)`)
    t.ok(existsSync(join(elsewhere, 'victim')), 'and removes nothing through it')
    rmSync(join(dir, sub))
  }

  t.equal((await runCli(w.args(dir, 'app'))).code, 0, 'the real directories again')
  const victim = join(elsewhere, 'victim')
  for (const planted of ['env/app', 'bindings/app.json', 'tokens/app']) {
    rmSync(join(dir, planted), { force: true })
    symlinkSync(victim, join(dir, planted))
    const before = snapshot(w.root)
    const r = await runCli(w.args(dir, 'app', '--mode', 'ecs-full-token-file'))
    t.same([r.code, /CONFIG_DIRECTORY_UNUSABLE/.test(r.stderr)], [2, true], `${planted} as a link: ${r.stderr.trim()}`)
    t.same(snapshot(w.root), before, `${planted} as a link: nothing changed anywhere`)
    t.equal(readFileSync(victim, 'utf8'), 'precious\n')
    t.equal(statSync(victim).mode & 0o777, 0o644)
    rmSync(join(dir, planted))
  }
})

t.test('ARNs the attack runs passed are refused before anything is written', async (t) => {
  const w = workspace(t)
  const dir = join(w.root, 'run')
  for (const [what, arn] of [
    ['a newline', `${RO}\nX=1`],
    ['100 KB', RO + 'x'.repeat(100_000)],
    ['non-ASCII', 'arn:aws:iam::123456789012:role/rôle'],
    ['../', 'arn:aws:iam::123456789012:role/../../x'],
  ]) {
    const r = await runCli(w.args(dir, 'app').map((a) => (a === RO ? (arn ?? '') : a)))
    t.same([r.code, /ARN_INVALID/.test(r.stderr), r.stderr.length < 1000], [2, true, true], `${what}: refused with a short message`)
  }
  t.notOk(existsSync(dir), 'nothing written')
})

t.test('certificate and key paths: regular files only, no env: sources', async (t) => {
  const w = workspace(t)
  const dir = join(w.root, 'run')
  const fifo = join(w.root, 'fifo')
  const hasMkfifo = onPath('mkfifo')
  if (hasMkfifo) execFileSync('mkfifo', [fifo])
  const cases: Array<[string, string, string[]]> = [
    ['/dev/zero as the certificate', 'CERT_UNREADABLE', ['--certificate', '/dev/zero']],
    ['/dev/zero as the key', 'KEY_UNREADABLE', ['--private-key', '/dev/zero']],
    ['a directory as the key', 'KEY_UNREADABLE', ['--private-key', w.root]],
    ...(hasMkfifo
      ? [
          ['a FIFO as the key', 'KEY_UNREADABLE', ['--private-key', fifo]] as [string, string, string[]],
          ['a FIFO as an intermediate', 'CERT_UNREADABLE', ['--intermediates', fifo]] as [string, string, string[]],
        ]
      : []),
  ]
  if (!hasMkfifo) t.skip('mkfifo is not installed: the FIFO cases are not run', async () => {})
  for (const [what, code, over] of cases) {
    for (const validate of [false, true]) {
      const args = w.args(dir, 'app', ...over)
      const started = Date.now()
      const r = await runCli(validate ? args.filter((a) => a !== '--no-validate') : args)
      t.same(
        [r.code, r.stderr.includes(code), /not a regular file|is a directory/.test(r.stderr)],
        [3, true, true],
        `${what}${validate ? '' : ' (--no-validate)'}: ${r.stderr.trim()}`,
      )
      t.ok(Date.now() - started < 5000, 'at once, without reading it')
    }
  }
  t.equal(
    (await runCli(w.args(dir, 'app', '--private-key', join(w.root, 'not-yet-installed.key')))).code,
    0,
    '--no-validate still takes a key that is not there yet',
  )
  for (const flag of ['--certificate', '--private-key', '--intermediates']) {
    const r = await runCli(w.args(join(w.root, 'other'), 'app', flag, 'env:SECRET'))
    t.same([r.code, /cannot see bind's environment/.test(r.stderr)], [2, true], `${flag} env:NAME`)
  }
  t.notOk(existsSync(join(w.root, 'other')), 'nothing written')
})

t.test('a configuration directory bind may not create: its own code, not INTERNAL', async (t) => {
  const w = workspace(t)
  const parent = join(w.root, 'locked')
  mkdirSync(parent, { mode: 0o755 })
  const dir = join(parent, 'run')
  const asRoot = process.getuid?.() === 0
  if (!asRoot) chmodSync(parent, 0o555)
  // As root, the bind runs as nobody (a parent owned by root, 0755, is then not writable for it).
  chmodSync(w.root, 0o755)
  chmodSync(w.key, 0o644)
  chmodSync(w.cert, 0o644)
  // A working directory the child may write in (tap's process-info hook writes there at exit).
  const cwd = join(w.root, 'cwd')
  mkdirSync(cwd)
  if (asRoot) chownSync(cwd, 65534, 65534)
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...w.args(dir, 'app')], {
      cwd,
      env: { PATH: process.env.PATH ?? '' },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.on('close', (code) => resolve({ code, stderr }))
  })
  const first = r.stderr.split('\n')[0] ?? ''
  t.same([r.code, /^iamra: cannot create .*: permission denied: .* \[CONFIG_DIRECTORY_UNUSABLE\]$/.test(first)], [2, true], r.stderr.trim())
  t.notOk(/INTERNAL/.test(r.stderr))
})

t.test('the docs describe the env file bind writes', async (t) => {
  const server = readFileSync(new URL('../docs/server.md', import.meta.url), 'utf8')
  t.notMatch(server, /double-quoted/, 'values are not quoted')
  t.match(server, /AWS_DEFAULT_REGION/, 'boto3 reads AWS_DEFAULT_REGION, not AWS_REGION')
  t.match(server, /--force/, 'the URL rule and its way out')
  const serve = readFileSync(new URL('../dev/serve.sh', import.meta.url), 'utf8')
  t.notMatch(serve, /IAMRA_\S* would|read it as an option/, 'dev/serve.sh promises no IAMRA_* variables')
})
