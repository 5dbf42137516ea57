// Bundles the CLI (code-split, so each command loads only its own chunk) and the testing kit.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'

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
const REQUIRE_BANNER = "import { createRequire as __iamraCreateRequire } from 'node:module'; const require = __iamraCreateRequire(import.meta.url);"

/**
 * esbuild puts the banner on every output file, but only the few chunks holding bundled CommonJS
 * use `require`: on the others it is a wasted import and `createRequire` call at start-up (and
 * about 120 bytes each, most of credential-process's chunks).
 */
function dropUnusedRequireBanners(result) {
  for (const path of Object.keys(result.metafile.outputs)) {
    if (!path.endsWith('.mjs')) continue
    const text = readFileSync(`${root}${path}`, 'utf8')
    if (!text.startsWith(`${REQUIRE_BANNER}\n`)) continue
    const body = text.slice(REQUIRE_BANNER.length + 1)
    if (!/\brequire\b/.test(body)) writeFileSync(`${root}${path}`, body)
  }
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
  banner: { js: REQUIRE_BANNER },
  external: ['sd-notify', 'pkcs11js'], // native addons: resolved from node_modules at run time
  logLevel: 'warning',
  metafile: true,
}
dropUnusedRequireBanners(
  await build({ ...common, entryPoints: { iamra: 'src/cli/process.ts', testing: 'src/testing/index.ts' }, minify: true, chunkNames: 'chunks/[name]-[hash]' }),
)

// The library (`import … from 'iamra'`): a build of its own, so the CLI's chunks stay as they are;
// not minified, so stack traces in users' programs stay readable. Then its declarations.
dropUnusedRequireBanners(await build({ ...common, entryPoints: { index: 'src/library/index.ts' }, chunkNames: 'lib/[name]-[hash]' }))
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.lib.json`], { cwd: root, stdio: 'inherit' })
