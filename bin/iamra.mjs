#!/usr/bin/env -S node --
// `--` ends the runtime's own options: Node reads `--env-file` anywhere on its command line otherwise,
// and ours (credential-process --env-file) must never steer it.
// The installed command: the esbuild bundle built by `npm run build`, on Node 20.19 or newer
// (require(esm) and the APIs the bundle uses). The release binaries embed their own Node 24.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(
    `iamra: needs Node.js 20.19 or newer (Node 24 LTS recommended); this is ${process.version} at ${process.execPath}. Install a newer Node.js, or use a release binary or .deb, which embed their own runtime (docs/install.md).\n`,
  )
  process.exit(1)
}
await import('../dist/iamra.mjs')
