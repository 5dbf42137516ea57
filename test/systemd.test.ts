// systemd integration: the contrib units pass `systemd-analyze verify`, the bind template's
// command lines work with the example configuration, sd_notify messages arrive from both
// ServiceManager implementations, and the built server runs under socket activation
// (`systemd-socket-activate`): READY=1, STATUS, WATCHDOG=1, named sockets, STOPPING=1 on SIGTERM.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { socketAllows } from '../src/server/authorize.js'
import { createServiceManager } from '../src/server/service-manager.js'
import { addBinding } from './helpers/bindings.js'
import { envFileVars } from './helpers/env-file.mjs'
import { httpGet } from './helpers/http.js'
import { freePort, onPath } from './helpers/processes.js'
import { within } from './helpers/wait.js'

const ROOT = new URL('..', import.meta.url).pathname
const UNIT_DIR = join(ROOT, 'contrib/systemd')
const BIN = join(ROOT, 'bin/iamra.mjs')
const BIND_EXAMPLE = join(ROOT, 'contrib/bind.conf.example')

function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

// ---------------------------------------------------------------------------------------------
// Unit files

/** Copies the units to a temp dir with the binaries swapped for a script that exists. */
function stageUnits(t: Test): string {
  const dir = tempDir(t, 'iamra-units-')
  const fake = join(dir, 'fake-bin')
  writeFileSync(fake, '#!/bin/sh\nexit 0\n')
  chmodSync(fake, 0o755)
  for (const f of readdirSync(UNIT_DIR)) {
    const text = readFileSync(join(UNIT_DIR, f), 'utf8').replaceAll('/usr/bin/iamra', fake).replaceAll('/usr/bin/aws', fake)
    writeFileSync(join(dir, f), text)
  }
  return dir
}

function verify(dir: string, units: string[]): { status: number | null; relevant: string[]; stderr: string } {
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', '--generators=no', ...units.map((u) => join(dir, u))], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  const stderr = `${r.stderr ?? ''}${r.stdout ?? ''}`
  // Only lines about our units count; a host may have unrelated broken units of its own.
  const relevant = stderr.split('\n').filter((l) => l.includes(dir) || /iamra|example-consumer/.test(l))
  return { status: r.status, relevant, stderr }
}

const UNITS = readdirSync(UNIT_DIR).filter((f) => !f.includes('@.'))
const INSTANCE = 'iamra-bind@example-consumer.service'

if (!onPath('systemd-analyze')) {
  t.skip('systemd-analyze not installed', async () => {})
} else {
  t.test('systemd-analyze verify: every unit, the template as an instance, and all together', async (t) => {
    const dir = stageUnits(t)
    t.ok(existsSync(join(UNIT_DIR, 'iamra-bind@.service')), 'the bind template exists')
    for (const unit of [...UNITS, INSTANCE]) {
      const r = verify(dir, [unit])
      t.equal(r.status, 0, `${unit}: exit 0`, { stderr: r.stderr })
      t.same(r.relevant, [], `${unit}: no warnings`)
    }
    const all = verify(dir, [...UNITS, INSTANCE])
    t.equal(all.status, 0, 'all units together: exit 0', { stderr: all.stderr })
    t.same(all.relevant, [], 'all units together: no warnings')
  })

  t.test('systemd-analyze verify catches a broken unit (the check is not vacuous)', async (t) => {
    const dir = stageUnits(t)
    const template = join(dir, 'iamra-bind@.service')
    writeFileSync(template, readFileSync(template, 'utf8').replace(/^ExecStop=\S+/m, 'NoSuchSetting=1\nExecStop=/nonexistent/iamra'))
    const r = verify(dir, [INSTANCE])
    t.not(r.status, 0, 'a missing ExecStop binary fails verify')
    t.ok(
      r.relevant.some((l) => l.includes('NoSuchSetting')),
      'an unknown setting is reported',
    )
  })
}

/** A unit's `Key=` command line (continuations joined), expanded as systemd does: ${X} is one word, $X splits. */
function commandLine(unitText: string, key: string, instance: string, env: Record<string, string>): string[] {
  const joined = unitText.replace(/\\\n\s*/g, ' ')
  const line = joined.split('\n').find((l) => l.startsWith(`${key}=`))
  if (line === undefined) throw new Error(`no ${key}= line`)
  const words = line
    .slice(key.length + 1)
    .trim()
    .split(/\s+/)
  return words.flatMap((w) => {
    const whole = /^\$(\w+)$/.exec(w)
    if (whole?.[1] !== undefined) return (env[whole[1]] ?? '').split(/\s+/).filter((x) => x !== '')
    return [w.replaceAll('%i', instance).replace(/\$\{(\w+)\}/g, (_, name: string) => env[name] ?? '')]
  })
}

t.test('the bind template runs bind and unbind with the example configuration', async (t) => {
  const template = readFileSync(join(UNIT_DIR, 'iamra-bind@.service'), 'utf8')
  const conf = envFileVars(readFileSync(BIND_EXAMPLE, 'utf8'))
  t.same(
    Object.keys(conf).filter((k) => k.startsWith('IAMRA_')),
    [],
    'no IAMRA_* variables (iamra would read them as options)',
  )
  const start = commandLine(template, 'ExecStart', 'example-consumer', conf)
  const stop = commandLine(template, 'ExecStop', 'example-consumer', conf)
  const commands = template
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => /^Exec\w+=/.test(l))
    .join('\n')
  const referenced = [...commands.matchAll(/\$\{?(\w+)\}?/g)].map((m) => m[1] ?? '')
  t.ok(referenced.length >= 5, 'ExecStart= takes its values from the configuration file')
  for (const name of referenced) t.ok(name in conf, `${name} is set in bind.conf.example`)
  t.equal(start[0], '/usr/bin/iamra')
  t.same(start.slice(1, 3), ['bind', 'example-consumer'])
  t.same(stop, ['/usr/bin/iamra', 'unbind', 'example-consumer'])

  // As systemd runs them: the conf's variables in the environment, RUNTIME_DIRECTORY from the unit.
  const dir = tempDir(t, 'iamra-bindunit-')
  const env = { PATH: process.env.PATH ?? '', ...conf, RUNTIME_DIRECTORY: dir }
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 30_000 })
  // --no-validate: the example's key files do not exist here and there is no network.
  const bound = run([...start.slice(1), '--no-validate'])
  t.equal(bound.status, 0, 'ExecStart= succeeds', { stderr: bound.stderr })
  const envFile = readFileSync(join(dir, 'env', 'example-consumer'), 'utf8')
  t.match(envFile, /^AWS_CONTAINER_CREDENTIALS_FULL_URI=http:\/\/127\.0\.0\.1:7224\/ecs\/credentials$/m, 'env file for the ecs-full socket')
  t.match(envFile, /^AWS_CONTAINER_AUTHORIZATION_TOKEN=iamra\./m)
  const binding = JSON.parse(readFileSync(join(dir, 'bindings', 'example-consumer.json'), 'utf8')) as {
    request: { roleArn: string }
    certificate_files: string[]
  }
  t.equal(binding.request.roleArn, conf.ROLE_ARN)
  t.same(binding.certificate_files, [conf.CERTIFICATE])
  const unbound = run(stop.slice(1))
  t.equal(unbound.status, 0, 'ExecStop= succeeds with the same environment', { stderr: unbound.stderr })
  t.notOk(existsSync(join(dir, 'env', 'example-consumer')), 'env file removed')
})

t.test("under the bind unit's umask, token-file consumers can still reach tokens/NAME", async (t) => {
  // mkdir() modes are masked by the umask: UMask=0077 would make tokens/ 0700 and lock out the
  // --token-file-group readers. systemd's default for services is 0022.
  const template = readFileSync(join(UNIT_DIR, 'iamra-bind@.service'), 'utf8')
  const umask = /^UMask=(\d+)$/m.exec(template)?.[1] ?? '0022'
  const dir = tempDir(t, 'iamra-umask-')
  const pki = tempDir(t, 'iamra-umask-pki-')
  const conf = envFileVars(readFileSync(BIND_EXAMPLE, 'utf8'))
  const gid = String(process.getgid?.() ?? 0)
  const args = [
    BIN,
    'bind',
    'tokenfile',
    '--certificate',
    join(pki, 'c.pem'),
    '--private-key',
    join(pki, 'k.pem'),
    '--trust-anchor-arn',
    conf.TRUST_ANCHOR_ARN ?? '',
    '--profile-arn',
    conf.PROFILE_ARN ?? '',
    '--role-arn',
    conf.ROLE_ARN ?? '',
    '--mode',
    'ecs-full-token-file',
    '--token-file-group',
    gid,
    '--no-validate',
    '--configuration-directory',
    dir,
  ]
  const r = spawnSync('sh', ['-c', `umask ${umask} && exec "$@"`, 'sh', process.execPath, ...args], { encoding: 'utf8', timeout: 30_000 })
  t.equal(r.status, 0, `bind under umask ${umask}`, { stderr: r.stderr })
  const mode = (p: string): string => (statSync(join(dir, p)).mode & 0o777).toString(8)
  t.equal(mode('tokens'), '711', "tokens/ is traversable by the token file's group")
  t.equal(mode('tokens/tokenfile'), '640', 'the token file is readable by its group')
  t.equal(mode('bindings'), '700')
  t.equal(mode('env'), '700')
})

t.test('socket names in the units are the ones the server enforces', async (t) => {
  const nameOf = (file: string): string | undefined => /^FileDescriptorName=(\S+)$/m.exec(readFileSync(join(UNIT_DIR, file), 'utf8'))?.[1]
  t.equal(nameOf('iamra.socket'), 'ecs-full')
  t.equal(nameOf('iamra-ecs-relative.socket'), 'ecs-relative')
  t.ok(socketAllows('ecs-full', 'ecs-full') && !socketAllows('ecs-full', 'ecs-relative'), 'ecs-full serves only full modes')
  t.ok(socketAllows('ecs-relative', 'ecs-relative-query') && !socketAllows('ecs-relative', 'ecs-full-token-file'), 'ecs-relative serves only relative modes')
})

const sysusersSkip = !onPath('systemd-sysusers') ? 'systemd-sysusers not installed' : process.getuid?.() !== 0 ? 'systemd-sysusers --root needs root' : false
t.test('sysusers.d creates the static iamra user and group', { skip: sysusersSkip }, async (t) => {
  const root = tempDir(t, 'iamra-sysusers-')
  mkdirSync(join(root, 'etc'))
  const r = spawnSync('systemd-sysusers', [`--root=${root}`, join(ROOT, 'contrib/sysusers.d/iamra.conf')], { encoding: 'utf8', timeout: 30_000 })
  t.equal(r.status, 0, 'systemd-sysusers exits 0', { stderr: r.stderr })
  t.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^iamra:x:\d+:\d+:[^:]*:\/:\S*nologin$/m, 'system user without login')
  t.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^iamra:x:\d+:$/m, 'its group')
})

// ---------------------------------------------------------------------------------------------
// sd_notify

/** Binds an AF_UNIX datagram socket and prints each datagram (with the sender's pid) as a JSON line. */
const RECEIVER = `
import array, json, os, select, socket, struct, sys, time
path, limit = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
end = time.monotonic() + limit
while True:
    left = end - time.monotonic()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))
    pid = None
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)  # systemd-notify waits (BARRIER=1) until the manager closes these
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", cdata[:12])[0]
    print(json.dumps({"pid": pid, "data": data.decode("utf-8", "replace")}), flush=True)
`

interface Datagram {
  readonly pid: number | null
  readonly data: string
}

interface Receiver {
  readonly path: string
  readonly messages: Datagram[]
  /** The first datagram (already received or still to come) with this assignment, e.g. READY=1. */
  waitFor(assignment: string | RegExp, ms?: number): Promise<Datagram>
}

async function startReceiver(t: Test): Promise<Receiver> {
  const dir = tempDir(t, 'iamra-notify-')
  const path = join(dir, 'notify.sock')
  const child = spawn('python3', ['-c', RECEIVER, path, '90'], { stdio: ['ignore', 'pipe', 'inherit'] })
  child.on('error', (e) => t.fail(`python3: ${e.message}`))
  t.teardown(() => kill(child))
  const messages: Datagram[] = []
  const waiters: Array<() => void> = []
  let listening: () => void = () => {}
  const ready = new Promise<void>((r) => (listening = r))
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as Partial<Datagram> & { listening?: string }
    if (m.listening !== undefined) return listening()
    messages.push({ pid: m.pid ?? null, data: m.data ?? '' })
    for (const w of waiters.splice(0)) w()
  })
  await within(10_000, ready, 'the python3 notify receiver')
  const has = (a: string | RegExp) => (d: Datagram) => d.data.split('\n').some((l) => (typeof a === 'string' ? l === a : a.test(l)))
  return {
    path,
    messages,
    waitFor: (a, ms = 10_000) =>
      within(
        ms,
        new Promise<Datagram>((resolve) => {
          const check = (): void => {
            const found = messages.find(has(a))
            if (found !== undefined) resolve(found)
            else waiters.push(check)
          }
          check()
        }),
        `a notification with ${String(a)}`,
      ),
  }
}

/** Why the sd-notify addon cannot be loaded here, or undefined when it can. */
const addonMissing = ((): string | undefined => {
  try {
    createRequire(import.meta.url)('sd-notify')
    return undefined
  } catch (e) {
    // npm builds the addon for the Node that ran the install; under the other runtime it will not load.
    if (/NODE_MODULE_VERSION/.test((e as Error).message)) return `the sd-notify addon was built for another Node ABI than ${process.version}'s`
    return 'the sd-notify addon is not built (libsystemd-dev missing at install time)'
  }
})()

t.test('ServiceManager without NOTIFY_SOCKET is a no-op; watchdog interval from WATCHDOG_USEC', async (t) => {
  const none = createServiceManager({ env: {}, pid: 4242 })
  t.equal(none.kind, 'none')
  none.ready('x')
  none.status('x')
  none.watchdog()
  none.stopping()
  t.equal(none.watchdogIntervalMs(), 0)
  t.equal(createServiceManager({ env: { WATCHDOG_USEC: '30000000' }, pid: 4242 }).watchdogIntervalMs(), 30_000)
  t.equal(createServiceManager({ env: { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' }, pid: 4242 }).watchdogIntervalMs(), 30_000)
  t.equal(createServiceManager({ env: { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, pid: 4242 }).watchdogIntervalMs(), 0, 'watchdog meant for another pid')
})

if (!onPath('python3')) {
  t.skip('python3 not installed (needed for the sd_notify receiver)', async () => {})
} else {
  const addonSkip = addonMissing ?? false
  t.test('ServiceManager via the sd-notify addon: READY=1, STATUS=, WATCHDOG=1, STOPPING=1', { skip: addonSkip }, async (t) => {
    const rx = await startReceiver(t)
    // libsystemd reads NOTIFY_SOCKET from the real process environment, not from `env`.
    const saved = process.env.NOTIFY_SOCKET
    process.env.NOTIFY_SOCKET = rx.path
    t.teardown(() => {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET
      else process.env.NOTIFY_SOCKET = saved
    })
    const sm = createServiceManager({ env: { NOTIFY_SOCKET: rx.path }, pid: process.pid, preferBinary: false })
    t.equal(sm.kind, 'sd-notify')
    sm.ready('serving test')
    t.equal((await rx.waitFor('READY=1')).pid, process.pid, 'READY=1 comes from this process')
    t.ok(await rx.waitFor('STATUS=serving test'), 'STATUS=serving test arrives')
    sm.status('still serving')
    t.ok(await rx.waitFor('STATUS=still serving'), 'STATUS=still serving arrives')
    sm.watchdog()
    t.ok(await rx.waitFor('WATCHDOG=1'), 'WATCHDOG=1 arrives')
    sm.stopping()
    t.ok(await rx.waitFor('STOPPING=1'), 'STOPPING=1 arrives')
  })

  const binarySkip = onPath('systemd-notify') ? false : 'systemd-notify not installed'
  t.test('ServiceManager via the systemd-notify binary: READY=1, STATUS=, WATCHDOG=1, STOPPING=1', { skip: binarySkip }, async (t) => {
    const rx = await startReceiver(t)
    const logged: string[] = []
    const sm = createServiceManager({
      env: { NOTIFY_SOCKET: rx.path, PATH: process.env.PATH ?? '' },
      pid: process.pid,
      preferBinary: true,
      log: (l) => logged.push(l),
    })
    t.equal(sm.kind, 'systemd-notify')
    sm.ready('serving test')
    const ready = await rx.waitFor('READY=1')
    t.ok(ready.data.split('\n').includes('STATUS=serving test'), 'READY=1 and STATUS= in one message')
    sm.status('still serving')
    t.ok(await rx.waitFor('STATUS=still serving'), 'STATUS=still serving arrives')
    sm.watchdog()
    t.ok(await rx.waitFor('WATCHDOG=1'), 'WATCHDOG=1 arrives')
    sm.stopping()
    t.ok(await rx.waitFor('STOPPING=1'), 'STOPPING=1 arrives')
    t.same(logged, [], 'no systemd-notify failures logged')
  })
}

// ---------------------------------------------------------------------------------------------
// The built server under socket activation

/**
 * Whether a notification speaks for `pid`: sent by it (the addon), or naming it in MAINPID= (the
 * systemd-notify fallback, whose sender is the helper process unless it runs as root).
 */
function fromProcess(d: Datagram, pid: number | undefined): boolean {
  return pid !== undefined && (d.pid === pid || d.data.split('\n').includes(`MAINPID=${pid}`))
}

interface Activated {
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly output: () => string
}

/** Starts `systemd-socket-activate -l ... node bin/iamra.mjs serve` and waits until it listens. */
async function activate(t: Test, listen: string[], fdnames: string[], env: string[], configDir: string): Promise<Activated> {
  const args = [
    ...listen.flatMap((l) => ['-l', l]),
    `--fdname=${fdnames.join(':')}`,
    ...env.flatMap((e) => ['-E', e]),
    process.execPath,
    BIN,
    'serve',
    '--configuration-directory',
    configDir,
  ]
  const child = spawn('systemd-socket-activate', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.on('error', (e) => t.fail(`systemd-socket-activate: ${e.message}`))
  t.teardown(() => kill(child))
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  const listening = new Promise<void>((resolve, reject) => {
    let err = ''
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString()
      out += c.toString()
      if ((err.match(/^Listening on /gm) ?? []).length >= listen.length) resolve()
    })
    void exited.then(() => reject(new Error(`systemd-socket-activate exited early: ${err}`)))
  })
  listening.catch(() => {}) // a late rejection (after a timeout) must not become unhandled
  await within(10_000, listening, 'systemd-socket-activate to listen')
  return { child, exited, output: () => out }
}

if (!onPath('systemd-socket-activate') || !onPath('python3')) {
  t.skip('systemd-socket-activate or python3 not installed', async () => {})
} else {
  t.test('the built server under systemd-socket-activate: READY=1, STATUS, watchdog, STOPPING=1, exit 0', async (t) => {
    t.ok(existsSync(join(ROOT, 'dist/iamra.mjs')), 'dist/ is built (npm run build)')
    const rx = await startReceiver(t)
    const port = await freePort()
    const configDir = tempDir(t, 'iamra-activated-')
    const s = await activate(t, [`127.0.0.1:${port}`], ['ecs-full'], [`NOTIFY_SOCKET=${rx.path}`, 'WATCHDOG_USEC=1000000'], configDir)
    t.same(await httpGet({ port }, '/healthz'), { status: 200, body: 'ok' }, 'the first connection activates the server; /healthz answers ok')
    const ready = await rx.waitFor('READY=1')
    t.ok(fromProcess(ready, s.child.pid), 'READY=1 from the activated process (exec in place: LISTEN_PID matches)')
    const status = await rx.waitFor(/^STATUS=/)
    t.match(status.data, /STATUS=serving .*127\.0\.0\.1:\d+/, 'STATUS says it is serving, and where')
    t.ok(await rx.waitFor('WATCHDOG=1', 5_000), 'WATCHDOG=1 arrives')
    s.child.kill('SIGTERM')
    t.ok(await rx.waitFor('STOPPING=1'), 'STOPPING=1 arrives')
    t.same(await within(10_000, s.exited, 'the server to exit'), { code: 0, signal: null }, 'exits 0 within 10 s of SIGTERM')
  })

  t.test('two inherited sockets (TCP ecs-full, unix ecs-relative): both answer, each serves only its modes', async (t) => {
    const rx = await startReceiver(t)
    const port = await freePort()
    const configDir = tempDir(t, 'iamra-activated-')
    const socketPath = join(tempDir(t, 'iamra-uds-'), 'iamra.sock')
    const { token } = await addBinding(configDir, 'relative-app', 'ecs-relative')
    const s = await activate(t, [`127.0.0.1:${port}`, socketPath], ['ecs-full', 'ecs-relative'], [`NOTIFY_SOCKET=${rx.path}`], configDir)
    t.same(await httpGet({ port }, '/healthz'), { status: 200, body: 'ok' }, 'TCP /healthz')
    t.same(await httpGet({ socketPath }, '/healthz'), { status: 200, body: 'ok' }, 'unix socket /healthz')
    const ready = await rx.waitFor('READY=1')
    t.match((await rx.waitFor(/^STATUS=/)).data, /serving/, 'STATUS mentions serving')
    t.ok(fromProcess(ready, s.child.pid), 'READY=1 from the activated process')

    const auth = { authorization: `Bearer ${token}` }
    const onFull = await httpGet({ port }, '/ecs/credentials', auth)
    t.equal(onFull.status, 403, 'a relative-mode token on the ecs-full socket is refused')
    t.equal((JSON.parse(onFull.body) as { code: string }).code, 'TOKEN_REJECTED')
    const onRelative = await httpGet({ socketPath }, '/ecs/credentials', auth)
    t.not(onRelative.status, 403, 'on the ecs-relative socket it passes authorization (then fails on the missing test certificate)')
    t.not((JSON.parse(onRelative.body) as { code: string }).code, 'TOKEN_REJECTED')

    s.child.kill('SIGTERM')
    t.ok(await rx.waitFor('STOPPING=1'), 'STOPPING=1 arrives')
    t.same(await within(10_000, s.exited, 'the server to exit'), { code: 0, signal: null }, 'exits 0 within 10 s of SIGTERM')
  })
}
