// The released artifacts themselves (dist/release, built by `npm run package` when stale): the x64
// single executable alone in an empty directory with no node on PATH (credential-process, serve
// under systemd-socket-activate with botocore, a SoftHSM key), the arm64 one under
// qemu-aarch64-static, lintian on both .debs, checksums and SBOMs.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureRelease, RELEASE, releaseToolsMissing, ROOT, VERSION } from './helpers/release.js'
import { startScenario } from './helpers/scenario.js'
import { makeSoftHsm, softHsmMissing, SOFTHSM_MODULE } from './helpers/softhsm.js'
import { freePort, onPath } from './helpers/processes.js'
import { isolatedEnv, readEnvFile, runIsolated } from './helpers/server-process.js'
import { pollUntil } from './helpers/wait.js'

t.setTimeout(20 * 60_000)
const missing = releaseToolsMissing()
if (missing !== undefined) {
  t.skip(`release artifacts not tested: ${missing}`, async () => {})
} else {
  const built = await ensureRelease()
  t.comment(built > 0 ? `npm run package took ${(built / 1000).toFixed(0)} s` : 'dist/release is up to date')

  const alone = mkdtempSync(join(tmpdir(), 'iamra-alone-'))
  t.teardown(() => rmSync(alone, { recursive: true, force: true }))
  const bin = join(alone, 'iamra')
  copyFileSync(join(RELEASE, `iamra-${VERSION}-linux-x64`), bin)
  const emptyPath = mkdtempSync(join(alone, 'path-'))
  const run = (args: string[], env: Record<string, string> = {}) => runIsolated(bin, args, { PATH: emptyPath, HOME: alone, ...env }, 60_000)

  t.test('SHA256SUMS covers every artifact; each has a CycloneDX SBOM naming the runtime and bundle', async (t) => {
    const sums = readFileSync(join(RELEASE, 'SHA256SUMS'), 'utf8')
    for (const a of [
      `iamra-${VERSION}-linux-x64`,
      `iamra-${VERSION}-linux-arm64`,
      `iamra_${VERSION}_amd64.deb`,
      `iamra_${VERSION}_arm64.deb`,
      `iamra-${VERSION}-oci-amd64.tar`,
      `iamra-${VERSION}-oci-arm64.tar`,
    ]) {
      t.match(sums, new RegExp(`^[0-9a-f]{64}  ${a.replace(/[.+]/g, '\\$&')}$`, 'm'), `${a} listed`)
      const bom = JSON.parse(readFileSync(join(RELEASE, `${a}.cdx.json`), 'utf8')) as {
        bomFormat: string
        components: Array<{ name: string; version?: string }>
      }
      t.equal(bom.bomFormat, 'CycloneDX')
      const names = bom.components.map((c) => `${c.name}@${c.version ?? ''}`)
      t.ok(
        names.some((n) => /^node-linux-(x64|arm64)@24\./.test(n)),
        `${a}: the Node 24 runtime`,
      )
      t.ok(names.some((n) => n.startsWith('yargs@')) && names.some((n) => n.startsWith('fastify@')), `${a}: bundled npm packages`)
      if (a.includes('-oci-'))
        t.ok(
          bom.components.some((c) => /libstdc\+\+/.test(c.name)),
          `${a}: its shared libraries`,
        )
    }
    for (const a of ['pkcs11js-linux-x64.node', 'pkcs11js-linux-arm64.node']) t.match(sums, new RegExp(`  ${a.replace(/[.]/g, '\\.')}$`, 'm'), `${a} listed`)
    const check = spawnSync('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: RELEASE, encoding: 'utf8' })
    t.equal(check.status, 0, `sha256sum --check: ${check.stdout}${check.stderr}`)
  })

  t.test('the x64 binary alone, no node on PATH: version, credential-process against the fake endpoint', async (t) => {
    t.ok([1, 127].includes(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: emptyPath } }).status ?? -1), 'no node on this PATH')
    const v = await run(['version'])
    t.equal(v.stdout.trim(), VERSION)
    const s = await startScenario('p256')
    t.teardown(s.close)
    const r = await run(['credential-process', ...s.args])
    t.equal(r.code, 0, r.stderr)
    t.same(Object.keys(JSON.parse(r.stdout) as object), ['Version', 'AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'])
    t.equal(s.fake.calls.length, 1)
    const bad = await run(['credential-process', ...s.args, '--session-duration', '10'])
    t.same([bad.code, bad.stdout], [2, ''], 'usage errors as from source')
  })

  t.test('the x64 binary: nothing on its command line or in NODE_OPTIONS steers the embedded runtime', async (t) => {
    const marker = join(alone, 'ran')
    writeFileSync(join(alone, 'evil.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x')\n`)
    const envFile = join(alone, 'binding.env')
    writeFileSync(
      envFile,
      `NODE_OPTIONS=--require ${join(alone, 'evil.cjs')}\nAWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/x\nAWS_CONTAINER_AUTHORIZATION_TOKEN=abc\n`,
    )
    for (const args of [['--env-file', envFile], [`--env-file=${envFile}`]]) {
      const r = await run(['credential-process', ...args, '--timeout', '1'])
      t.notOk(existsSync(marker), `${args.join(' ')}: nothing in the file ran inside iamra`)
      t.match(r.stderr, /^iamra: .*\[SERVER_UNREACHABLE\]\n$/, `${args.join(' ')}: iamra read the file itself`)
    }
    for (const path of [join(alone, 'none.env'), alone]) {
      const r = await run(['credential-process', '--env-file', path])
      t.not(r.code, 9, `${path}: not the runtime's exit 9`)
      t.match(r.stderr, /^iamra: .*\[[A-Z_]+\]\n$/, `${path}: iamra's own one-line error`)
    }
    const v = await run(['version'], { NODE_OPTIONS: `--require ${join(alone, 'evil.cjs')}` })
    t.same([v.code, existsSync(marker)], [0, false], 'NODE_OPTIONS from the environment is ignored')
  })

  t.test('the x64 binary: PKCS#11 key on SoftHSM with the addon beside it; without it, an error naming the file', async (t) => {
    const why = softHsmMissing()
    if (why !== undefined) {
      t.skip(why, async () => {})
      return
    }
    const s = await startScenario('p256')
    t.teardown(s.close)
    const hsm = await makeSoftHsm(s.pki.intermediate, [{ label: 'iamra-rel', pin: '4321', keys: [{ label: 'ec', id: 2, spec: 'p256', cert: 'token' }] }])
    t.teardown(hsm.cleanup)
    const args = [
      'credential-process',
      '--pkcs11-lib',
      SOFTHSM_MODULE,
      '--certificate',
      'pkcs11:token=iamra-rel;object=ec-cert?pin-value=4321',
      '--intermediates',
      s.pki.path('int.pem'),
      ...s.sessionArgs,
    ]
    const without = await run(args, { SOFTHSM2_CONF: hsm.conf })
    t.equal(without.code, 3, without.stderr)
    t.match(without.stderr, /pkcs11js\.node is missing .*pkcs11js-linux-x64\.node.*\/usr\/lib\/iamra\/pkcs11js\.node.*\[HSM_MODULE_NOT_FOUND\]/s)
    copyFileSync(join(RELEASE, 'pkcs11js-linux-x64.node'), join(alone, 'pkcs11js-linux-x64.node'))
    t.teardown(() => rmSync(join(alone, 'pkcs11js-linux-x64.node'), { force: true }))
    const ok = await run(args, { SOFTHSM2_CONF: hsm.conf })
    t.equal(ok.code, 0, ok.stderr)
    t.match(ok.stdout, /^\{"Version":1,"AccessKeyId":"ASIA/)
    t.notMatch(ok.stderr + without.stderr, '4321', 'no PIN printed')
  })

  t.test('the x64 binary: serve under systemd-socket-activate, botocore gets the bound role', async (t) => {
    if (!onPath('systemd-socket-activate') || spawnSync('python3', ['-c', 'import botocore']).status !== 0) {
      t.skip('systemd-socket-activate or python3-botocore missing', async () => {})
      return
    }
    const s = await startScenario('p256')
    t.teardown(s.close)
    const dir = join(alone, 'conf')
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const bind = await run(['bind', 'app', '--url', url, '--configuration-directory', dir, ...s.args])
    t.equal(bind.code, 0, bind.stderr)
    const socket = execFileSync('sh', ['-c', 'command -v systemd-socket-activate'], { encoding: 'utf8' }).trim()
    const { spawn } = await import('node:child_process')
    const child = spawn(socket, ['-l', `127.0.0.1:${port}`, '--fdname=ecs-full', bin, 'serve', '--configuration-directory', dir], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: emptyPath, HOME: alone },
    })
    let err = ''
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.stdout.resume()
    t.teardown(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        /* gone */
      }
    })
    await pollUntil(() => err.includes('Listening on'), { tries: 100, everyMs: 50 })
    const env = readEnvFile(join(dir, 'env/app'))
    const probe = await runIsolated('python3', [join(ROOT, 'test/system/botocore-probe.py')], isolatedEnv(alone, env), 60_000)
    t.equal(probe.code, 0, `${probe.stdout}${probe.stderr}\n${err.slice(-1500)}`)
    t.same([probe.json[0]?.ok, probe.json[0]?.method, probe.json[0]?.hasToken], [true, 'container-role', true])
    t.equal(s.fake.calls.at(-1)?.roleArn, s.sessionArgs[5], 'the bound role')
    process.kill(-child.pid!, 'SIGTERM')
    const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)))
    t.equal(code, 0, 'SIGTERM: clean exit')
  })

  t.test('the arm64 binary prints its version under qemu-aarch64-static', async (t) => {
    const { arm64Sysroot } = (await import('../dev/package/sysroot.mjs' as string)) as { arm64Sysroot(): string }
    const r = spawnSync(
      execFileSync('/bin/sh', ['-c', 'command -v qemu-aarch64-static'], { encoding: 'utf8' }).trim(),
      ['-L', arm64Sysroot(), join(RELEASE, `iamra-${VERSION}-linux-arm64`), 'version'],
      { encoding: 'utf8', timeout: 120_000, env: { PATH: emptyPath } },
    )
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout.trim(), VERSION)
  })

  t.test('lintian: no error on either .deb', async (t) => {
    if (!onPath('lintian')) {
      t.skip('lintian not installed', async () => {})
      return
    }
    for (const arch of ['amd64', 'arm64']) {
      const r = spawnSync('lintian', ['--tag-display-limit', '0', join(RELEASE, `iamra_${VERSION}_${arch}.deb`)], { encoding: 'utf8', timeout: 300_000 })
      const errors = `${r.stdout}`.split('\n').filter((l) => l.startsWith('E: '))
      t.same(errors, [], `${arch}: ${r.stdout}`)
      // contrib/man/iamra.1 is installed as /usr/share/man/man1/iamra.1.gz and renders cleanly.
      const manTags = `${r.stdout}`.split('\n').filter((l) => / (no-manual-page|manpage-|groff-message|bad-whatis-entry)/.test(l))
      t.same(manTags, [], `${arch}: the manual page: ${r.stdout}`)
    }
  })
}
