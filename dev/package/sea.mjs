// Single executables (Node SEA): one CommonJS bundle of the CLI, a blob made by the embedded
// runtime itself (with V8 code cache), injected into a stripped copy of that runtime.
import { build } from 'esbuild'
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SEA_FUSE, root, targets, version } from './config.mjs'
import { runtimeNode } from './runtime.mjs'
import { arm64Sysroot } from './sysroot.mjs'
import { run, step } from './run.mjs'

const here = join(root, 'dev/package')

/** The CLI as one CommonJS file (SEA runs one script); lazy `import()`s stay lazy as esbuild wrappers. */
export async function bundleCjs(outDir) {
  const outfile = join(outDir, 'iamra-sea.cjs')
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/cli/process.ts'],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node24',
    minify: true,
    metafile: true,
    legalComments: 'none',
    define: { __IAMRA_VERSION__: JSON.stringify(version), 'import.meta.url': '__iamraExecUrl' },
    // createRequire(import.meta.url) then resolves next to the binary (sd-notify: not found there,
    // so the server falls back to the systemd-notify binary; see docs/install.md).
    banner: { js: 'var __iamraExecUrl = require("node:url").pathToFileURL(process.execPath).href;' },
    plugins: [{
      name: 'sea-addons',
      setup(b) {
        b.onResolve({ filter: /^\.\/addon\.js$/ }, (a) => a.importer.endsWith('src/pkcs11/module.ts') ? { path: join(here, 'sea-pkcs11js.cjs') } : undefined)
        b.onResolve({ filter: /^\.\/build\/Release\/pkcs11\.node$/ }, () => ({ path: join(here, 'sea-pkcs11js-native.cjs') }))
      },
    }],
    logLevel: 'error',
  })
  return { outfile, metafile: result.metafile }
}

/** Runs the runtime of `arch` (natively, or under qemu-aarch64-static with a Debian arm64 root). */
export function runtimeCommand(arch) {
  const node = runtimeNode(arch)
  if (arch === process.arch) return { cmd: node, pre: [] }
  if (arch !== 'arm64') throw new Error(`package: cannot run the ${arch} runtime on ${process.arch}`)
  return { cmd: 'qemu-aarch64-static', pre: ['-L', arm64Sysroot(), node] }
}

export function buildSea(arch, bundle, workDir) {
  const t = targets[arch]
  const dir = join(workDir, arch)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const blob = join(dir, 'sea.blob')
  const config = join(dir, 'sea-config.json')
  // execArgv ['--'] ends the runtime's options before the user's arguments: without it Node 24 reads
  // `--env-file` anywhere on the command line (ours, credential-process --env-file, among them) and
  // applies its NODE_OPTIONS; execArgvExtension 'none' also ignores NODE_OPTIONS from the environment,
  // so nothing outside the binary steers the runtime of a credentials helper.
  writeFileSync(config, JSON.stringify({
    main: bundle, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: true,
    execArgv: ['--'], execArgvExtension: 'none',
  }))
  step(`${arch}: SEA blob with code cache, made by node ${arch}${arch === process.arch ? '' : ' under qemu-aarch64-static'}`)
  const { cmd, pre } = runtimeCommand(arch)
  run(cmd, [...pre, '--experimental-sea-config', config], { cwd: dir, purpose: `running the ${arch} runtime to make the SEA blob` })
  const out = join(dir, `iamra-${version}-linux-${arch}`)
  copyFileSync(runtimeNode(arch), out)
  chmodSync(out, 0o755)
  // Debug info is most of the binary's size; the SEA fuse and the code survive stripping.
  run(arch === process.arch ? 'strip' : `${t.gnuTriplet}-strip`, ['--strip-all', out], { purpose: `stripping the ${arch} runtime (binutils${arch === process.arch ? '' : `-${t.gnuTriplet}`})` })
  run(process.execPath, [join(root, 'node_modules/postject/dist/cli.js'), out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { purpose: 'postject' })
  return out
}

