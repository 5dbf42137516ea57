// Bundles the CLI (code-split, so each command loads only its own chunk) and the testing kit.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, rmSync } from 'node:fs'

const root = new URL('..', import.meta.url).pathname
const { version } = JSON.parse(readFileSync(`${root}package.json`, 'utf8'))
// dist/release (npm run package) is kept: its artifacts do not come from this build.
for (const e of (() => {
  try {
    return readdirSync(`${root}dist`)
  } catch {
    return []
  }
})()) {
  if (e !== 'release') rmSync(`${root}dist/${e}`, { recursive: true, force: true })
}
// What both bundles share: ESM for Node 20+, code-split, the version built in, native addons left
// to node_modules, and a `require` for bundled CommonJS.
const common = {
  absWorkingDir: root,
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  define: { __IAMRA_VERSION__: JSON.stringify(version) },
  banner: { js: "import { createRequire as __iamraCreateRequire } from 'node:module'; const require = __iamraCreateRequire(import.meta.url);" },
  external: ['sd-notify', 'pkcs11js'], // native addons: resolved from node_modules at run time
  logLevel: 'warning',
}
await build({ ...common, entryPoints: { iamra: 'src/cli/process.ts', testing: 'src/testing/index.ts' }, minify: true, chunkNames: 'chunks/[name]-[hash]' })

// The library (`import … from 'iamra'`): a build of its own, so the CLI's chunks stay as they are;
// not minified, so stack traces in users' programs stay readable. Then its declarations.
await build({ ...common, entryPoints: { index: 'src/library/index.ts' }, chunkNames: 'lib/[name]-[hash]' })
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.lib.json`], { cwd: root, stdio: 'inherit' })
