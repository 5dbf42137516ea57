// The published shape of the library: `npm pack`, install the tarball into a fresh project (`npm ci`,
// offline), type-check a consumer through the package exports, run it; and importing
// 'iamra' loads only the library bundle (no fastify, yargs, prom-client, jose).
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

// npm ci and type-checking the consumer against the AWS SDK's declarations take a minute on a loaded 2-core machine.
t.setTimeout(300_000)

const REPO = fileURLToPath(new URL('..', import.meta.url))
const RECORDER = fileURLToPath(new URL('./helpers/record-loads.mjs', import.meta.url))
const FIXTURE = fileURLToPath(new URL('./fixtures/consumer/', import.meta.url))
const built = existsSync(join(REPO, 'dist/index.mjs')) && existsSync(join(REPO, 'dist/types/library/index.d.ts'))

interface Run {
  code: number
  stdout: string
  stderr: string
}
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeout = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: { ...process.env, ...env }, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    )
  })
}

/** Loads 'iamra' in a fresh node from `cwd` and returns the files it loaded and their code. */
async function loadsOf(t: Test, cwd: string): Promise<{ files: string[]; code: string }> {
  const loadsFile = join(cwd, `loads-${process.pid}.txt`)
  const r = await run(
    process.execPath,
    ['--import', RECORDER, '--input-type=module', '-e', "const m = await import('iamra'); if (typeof m.fromRolesAnywhere !== 'function') process.exit(3)"],
    cwd,
    { IAMRA_LOADS_FILE: loadsFile },
  )
  t.equal(r.code, 0, `import('iamra') works ${r.stderr}`)
  const files = readFileSync(loadsFile, 'utf8')
    .trim()
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => fileURLToPath(u))
  rmSync(loadsFile, { force: true })
  return { files, code: files.map((f) => readFileSync(f, 'utf8')).join('\n') }
}

/** Strings only each library's own code contains (as test/bundle.test.ts uses). */
const SERVER_MARKERS: Record<string, string> = {
  fastify: 'FST_ERR_',
  yargs: 'Not enough non-option arguments',
  'prom-client': 'collectDefaultMetrics',
  jose: 'JWSSignatureVerificationFailed',
  '@peculiar/x509': 'tsyringe requires a reflect polyfill',
}

function checkLoads(t: Test, files: string[], code: string): void {
  t.ok(files.length > 0, `${files.length} files loaded`)
  t.notOk(
    files.some((f) => /\/node_modules\/(fastify|yargs|prom-client|jose|pino|@peculiar)\//.test(f)),
    'no server or CLI package from node_modules',
  )
  t.ok(
    files.every((f) => /\/dist\/(index\.mjs|lib\/)/.test(f)),
    'only the library bundle: not the CLI chunks, not the testing kit',
  )
  for (const [lib, marker] of Object.entries(SERVER_MARKERS)) t.notOk(code.includes(marker), `no ${lib}`)
}

/**
 * Makes the consumer depend on the tarball, with a lockfile holding iamra's production dependencies
 * as this checkout's lockfile pins them: npm then needs no registry metadata and installs offline
 * from the npm cache that installing this checkout filled (a test sends nothing beyond loopback).
 */
function writeConsumerLock(project: string, tarball: string): void {
  type Entry = Record<string, unknown> & { dev?: boolean; devOptional?: boolean }
  const own = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string }
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, Entry> }
  const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, unknown>
  const dependencies = { iamra: tarball }
  // The consumer resolves as this checkout does: our lock was made with our `overrides` (cookie 1.1.1).
  const overrides = own.overrides
  const packages: Record<string, unknown> = {
    '': { name: manifest.name, dependencies },
    'node_modules/iamra': {
      version: own.version,
      resolved: tarball,
      license: own.license,
      dependencies: own.dependencies,
      optionalDependencies: own.optionalDependencies,
      bin: own.bin,
      engines: own.engines,
    },
  }
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path === '' || entry.dev === true) continue
    const { devOptional, ...rest } = entry
    packages[path] = devOptional === true ? { ...rest, optional: true } : rest
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ ...manifest, dependencies, ...(overrides === undefined ? {} : { overrides }) }, null, 2))
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: manifest.name, lockfileVersion: 3, requires: true, packages }, null, 2))
}

t.test('prerequisites', async (t) => {
  t.ok(built, 'dist/ with the library and its types is built (npm test builds it; run `npm run build` before running tap alone)')
})

if (built) {
  t.test('importing iamra (this checkout, through its exports) loads only the library bundle', async (t) => {
    const { files, code } = await loadsOf(t, REPO)
    checkLoads(t, files, code)
  })

  t.test('npm pack, install into a fresh project, type-check a consumer through the exports, run it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'iamra-pack-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const pack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], REPO)
    t.equal(pack.code, 0, pack.stderr)
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
    if (info === undefined) return
    const packed = info.files.map((f) => f.path)
    for (const f of [
      'package.json',
      'bin/iamra.mjs',
      'dist/iamra.mjs',
      'dist/index.mjs',
      'dist/testing.mjs',
      'dist/types/library/index.d.ts',
      'dist/types/testing/index.d.ts',
      'docs/library.md',
    ]) {
      t.ok(packed.includes(f), `the tarball holds ${f}`)
    }
    t.notOk(
      packed.some((f) => f.startsWith('src/') || f.startsWith('test/')),
      'no sources or tests in the tarball',
    )

    const project = join(dir, 'project')
    cpSync(FIXTURE, project, { recursive: true })
    writeConsumerLock(project, `file:../${info.filename}`)
    const install = await run('npm', ['ci', '--offline', '--ignore-scripts', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=error'], project)
    t.equal(install.code, 0, `npm ci of the tarball (offline) ${install.stderr}`)
    if (install.code !== 0) return
    // What the consumer brings itself (the SDK, the compiler, Node's types): linked from this checkout.
    for (const name of ['@aws-sdk/client-s3', '@aws-sdk/client-sts', '@aws-sdk/types', '@smithy/types', '@types/node', 'typescript']) {
      mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true })
      symlinkSync(join(REPO, 'node_modules', name), join(project, 'node_modules', name), 'dir')
    }
    const tsc = await run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', project], project)
    t.equal(tsc.code, 0, `the consumer type-checks against the published declarations:\n${tsc.stdout}${tsc.stderr}`)
    if (tsc.code !== 0) return
    const out = await run(process.execPath, [join(project, 'out/consumer.js')], project, {}, 60_000)
    t.equal(out.code, 0, out.stderr)
    if (out.code !== 0) return
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
    t.match(result, {
      accountId: '111122223333',
      identityExpirationIsDate: true,
      runtime: true,
      signer: true,
      clients: true,
      field: 'durationSeconds',
      createSessions: 6,
    })
    t.ok(Math.abs(Number(result.expirationMs) - 3600_000) < 60_000, 'expiration one hour ahead')

    const { files, code } = await loadsOf(t, project)
    checkLoads(t, files, code)
    t.ok(
      files.every((f) => f.startsWith(join(project, 'node_modules/iamra/'))),
      'loaded from the installed package',
    )
    t.ok(readdirSync(join(project, 'node_modules/iamra/dist/types/library')).includes('index.d.ts'))
  })
}
