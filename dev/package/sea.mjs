// Single executables (Node SEA): one CommonJS bundle of the CLI, a blob made by the embedded
// runtime itself (with V8 code cache), injected into a stripped copy of that runtime.
import { build, transform } from 'esbuild'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { SEA_FUSE, root, targets, version } from './config.mjs'
import { runtimeNode } from './runtime.mjs'
import { arm64Sysroot } from './sysroot.mjs'
import { run, step } from './run.mjs'

const here = join(root, 'dev/package')

/**
 * The CLI for a SEA, which runs one CommonJS script: esbuild splits the ESM graph at every lazy
 * `import()`, each piece is turned into a CommonJS function, and a small loader ties them together.
 * The main script holds only the pieces `credential-process` (and its `--cache` hit) runs; every
 * other piece (yargs, fastify, jose, prom-client, the server, PKCS#11, TPM, ML-DSA, PKCS#12, the other
 * commands) is a SEA asset, compiled only when something imports it. Each start therefore
 * deserialises a main script a fraction of the whole bundle's size. Returns the main script, the
 * assets ({ name: path }) and esbuild's metafile (for the SBOM).
 */
export async function bundleCjs(outDir) {
  const chunkDir = join(outDir, 'chunks')
  rmSync(chunkDir, { recursive: true, force: true })
  const result = await build({
    absWorkingDir: root,
    entryPoints: { main: 'src/cli/process.ts' },
    outdir: chunkDir,
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minify: true,
    metafile: true,
    legalComments: 'none',
    define: { __IAMRA_VERSION__: JSON.stringify(version), 'import.meta.url': '__iamraExecUrl' },
    // createRequire(import.meta.url) then resolves next to the binary (sd-notify: not found there,
    // so the server falls back to the systemd-notify binary; see docs/install.md).
    banner: { js: 'var __iamraExecUrl = require("node:url").pathToFileURL(process.execPath).href;' },
    plugins: [
      {
        name: 'sea-addons',
        setup(b) {
          b.onResolve({ filter: /^\.\/addon\.js$/ }, (a) =>
            a.importer.endsWith('src/pkcs11/context.ts') ? { path: join(here, 'sea-pkcs11js.cjs') } : undefined,
          )
          b.onResolve({ filter: /^\.\/build\/Release\/pkcs11\.node$/ }, () => ({ path: join(here, 'sea-pkcs11js-native.cjs') }))
        },
      },
    ],
    logLevel: 'error',
  })
  const outputs = result.metafile.outputs
  const name = (file) => basename(file)
  const byName = new Map(Object.keys(outputs).map((f) => [name(f), f]))
  // A piece and everything it imports statically is loaded with it.
  const closure = (start) => {
    const seen = new Set()
    const visit = (n) => {
      if (seen.has(n)) return
      seen.add(n)
      for (const i of outputs[byName.get(n)].imports) if (i.kind === 'import-statement' && byName.has(name(i.path))) visit(name(i.path))
    }
    visit(start)
    return seen
  }
  const holding = (source) => [...byName].find(([, f]) => outputs[f].inputs[source] !== undefined)?.[0]
  const hot = closure('main.js')
  for (const source of HOT_LAZY) {
    const n = holding(source)
    if (n === undefined) throw new Error(`package: ${source} is in no bundle piece (renamed? update HOT_LAZY in dev/package/sea.mjs)`)
    for (const m of closure(n)) hot.add(m)
  }
  const pieces = {}
  for (const [n, f] of byName) {
    const code = readFileSync(join(root, f), 'utf8')
    // ESM piece -> CommonJS body; `import()` of a piece becomes a require() of it, which the loader resolves.
    const cjs = await transform(code, {
      format: 'cjs',
      platform: 'node',
      target: 'node24',
      minifySyntax: true,
      minifyWhitespace: true,
      supported: { 'dynamic-import': false },
      logLevel: 'error',
    })
    pieces[n] = cjs.code
  }
  const assetDir = join(outDir, 'assets')
  mkdirSync(assetDir, { recursive: true })
  const assets = {}
  const inline = []
  for (const [n, code] of Object.entries(pieces)) {
    if (hot.has(n)) inline.push(`${JSON.stringify(n)}:function(exports,require,module){${code}\n}`)
    else {
      writeFileSync(join(assetDir, n), `(function(exports,require,module){${code}\n})`)
      assets[`${ASSET_PREFIX}${n}`] = join(assetDir, n)
    }
  }
  writeFileSync(join(assetDir, 'hot.js'), `({${inline.join(',\n')}})`)
  assets[`${ASSET_PREFIX}hot.js`] = join(assetDir, 'hot.js')
  const loader = readFileSync(join(here, 'sea-loader.cjs'), 'utf8')
  const outfile = join(outDir, 'iamra-sea.cjs')
  // Outside a SEA (the training run, profiling under the plain runtime) the assets are files in ./assets.
  writeFileSync(
    outfile,
    `'use strict';
const iamraLoad = ((module) => { ${loader}\n; return module.exports })({ exports: {} });
const sea = require('node:sea');
iamraLoad(require, sea.isSea()
  ? (name, text) => name === 'hot.cache' && !sea.getAssetKeys().includes(${JSON.stringify(ASSET_PREFIX)} + name) ? undefined
    : text ? sea.getAsset(${JSON.stringify(ASSET_PREFIX)} + name, 'utf8') : new Uint8Array(sea.getRawAsset(${JSON.stringify(ASSET_PREFIX)} + name))
  : (name, text) => { const file = require('node:path').join(require('node:path').dirname(process.argv[1]), 'assets', name); return require('node:fs').existsSync(file) ? require('node:fs').readFileSync(file, text ? 'utf8' : undefined) : undefined },
  'main.js');
`,
  )
  return { outfile, assets, assetDir, metafile: result.metafile }
}

// Lazily imported, yet on the paths the start-up benchmark times: kept in the main script.
const HOT_LAZY = ['src/cache/process-cache.ts']
const ASSET_PREFIX = 'iamra/'

/** Runs the runtime of `arch` (natively, or under qemu-aarch64-static with a Debian arm64 root). */
export function runtimeCommand(arch) {
  const node = runtimeNode(arch)
  if (arch === process.arch) return { cmd: node, pre: [] }
  if (arch !== 'arm64') throw new Error(`package: cannot run the ${arch} runtime on ${process.arch}`)
  return { cmd: 'qemu-aarch64-static', pre: ['-L', arm64Sysroot(), node] }
}

/**
 * The hot script's code cache for `arch`, made by the runtime of `arch` running credential-process
 * with --cache (a miss: the whole cold path, the cache key and the cache write) against a local
 * fake endpoint. Code cache is only valid for the V8 build and flags that made it, hence per arch.
 */
export async function trainHotCache(arch, assetDir, dir) {
  const { createCa, createLeaf, startFakeEndpoint } = await import(pathToFileURL(join(root, 'dist/testing.mjs')).href)
  const ca = await createCa({ name: 'iamra package training CA', key: 'p256' })
  const leaf = await createLeaf({ name: 'iamra package training', key: 'p256', issuer: ca })
  const work = join(dir, 'train')
  mkdirSync(work, { recursive: true })
  writeFileSync(join(work, 'c.pem'), leaf.certPem)
  writeFileSync(join(work, 'k.pem'), leaf.keyPem, { mode: 0o600 })
  const fake = await startFakeEndpoint({ trustAnchors: [ca.certPem], region: 'us-east-1' })
  const out = join(dir, 'hot.cache')
  try {
    const { cmd, pre } = runtimeCommand(arch)
    const args = [
      ...pre,
      join(here, 'sea-train.cjs'),
      assetDir,
      out,
      'credential-process',
      '--certificate',
      join(work, 'c.pem'),
      '--private-key',
      join(work, 'k.pem'),
      '--trust-anchor-arn',
      'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01',
      '--profile-arn',
      'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e',
      '--role-arn',
      'arn:aws:iam::123456789012:role/training',
      '--endpoint',
      fake.url,
      '--cache',
      '--cache-dir',
      join(work, 'cache'),
    ]
    const { code, stderr } = await new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work } })
      let err = ''
      child.stderr.on('data', (c) => (err += c))
      child.on('error', reject)
      child.on('exit', (c) => resolve({ code: c, stderr: err }))
    })
    if (code !== 0 || fake.calls.length !== 1)
      throw new Error(
        `package: the ${arch} training run of credential-process failed (exit ${code}, ${fake.calls.length} CreateSession calls): ${stderr.trim()}`,
      )
  } finally {
    await fake.close()
    rmSync(work, { recursive: true, force: true })
  }
  return out
}

export async function buildSea(arch, bundle, workDir, assets = {}, assetDir = undefined) {
  const t = targets[arch]
  const dir = join(workDir, arch)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  if (assetDir !== undefined) {
    step(`${arch}: code cache of the credential-process path, made by node ${arch}${arch === process.arch ? '' : ' under qemu-aarch64-static'}`)
    assets = { ...assets, [`${ASSET_PREFIX}hot.cache`]: await trainHotCache(arch, assetDir, dir) }
  }
  const blob = join(dir, 'sea.blob')
  const config = join(dir, 'sea-config.json')
  // execArgv ['--'] ends the runtime's options before the user's arguments: without it Node 24 reads
  // `--env-file` anywhere on the command line (ours, credential-process --env-file, among them) and
  // applies its NODE_OPTIONS; execArgvExtension 'none' also ignores NODE_OPTIONS from the environment,
  // so nothing outside the binary steers the runtime of a credentials helper.
  writeFileSync(
    config,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: true,
      execArgv: ['--'],
      execArgvExtension: 'none',
      assets,
    }),
  )
  step(`${arch}: SEA blob with code cache, made by node ${arch}${arch === process.arch ? '' : ' under qemu-aarch64-static'}`)
  const { cmd, pre } = runtimeCommand(arch)
  run(cmd, [...pre, '--experimental-sea-config', config], { cwd: dir, purpose: `running the ${arch} runtime to make the SEA blob` })
  const out = join(dir, `iamra-${version}-linux-${arch}`)
  copyFileSync(runtimeNode(arch), out)
  chmodSync(out, 0o755)
  // Debug info is most of the binary's size; the SEA fuse and the code survive stripping.
  run(arch === process.arch ? 'strip' : `${t.gnuTriplet}-strip`, ['--strip-all', out], {
    purpose: `stripping the ${arch} runtime (binutils${arch === process.arch ? '' : `-${t.gnuTriplet}`})`,
  })
  run(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { purpose: 'postject' })
  return out
}
