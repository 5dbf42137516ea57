// `npm run package`: writes dist/release/ with the single executables (linux-x64, linux-arm64) and
// their pkcs11js addons, the .debs, the OCI image archives, a CycloneDX SBOM per artifact and
// SHA256SUMS. Downloads only from the npm registry (the runtimes) and the Debian mirror (the arm64
// root for qemu and the image's arm64 libraries). See docs/install.md.
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { releaseDir, root, targets, version } from './config.mjs'
import { buildAddon } from './addon.mjs'
import { buildDeb, debName } from './deb.mjs'
import { buildOci, ociName, CA_BUNDLE } from './oci.mjs'
import { runtimeNode } from './runtime.mjs'
import { bundleCjs, buildSea } from './sea.mjs'
import { arm64Sysroot } from './sysroot.mjs'
import { bundledPackages, sbom, sha256 } from './sbom.mjs'
import { run, step } from './run.mjs'
import { inputsDigest, STAMP } from './inputs.mjs'

const started = Date.now()
const digest = inputsDigest() // of the sources as they are when the build starts
const arches = (process.env.IAMRA_PACKAGE_ARCHES ?? 'x64,arm64').split(',').filter((a) => a in targets)
const only = new Set((process.env.IAMRA_PACKAGE_ONLY ?? 'sea,deb,oci').split(','))
const gitTime = () => {
  try {
    return run('git', ['log', '-1', '--format=%ct'], { cwd: root }).trim()
  } catch {
    return ''
  }
}
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? (gitTime() || Math.floor(Date.now() / 1000)))
const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z')
const debDate = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000')
const revision = (() => {
  try {
    return run('git', ['rev-parse', 'HEAD'], { cwd: root }).trim()
  } catch {
    return undefined
  }
})()

const work = join(root, 'dist/package-work')
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })
rmSync(releaseDir, { recursive: true, force: true })
mkdirSync(releaseDir, { recursive: true })

step('bundling the CLI: the credential-process path as the main script, the rest as SEA assets')
const { outfile, assets, assetDir, metafile } = await bundleCjs(work)
const packages = bundledPackages(metafile)
const artifacts = []
const writeSbom = (name, json) => {
  writeFileSync(join(releaseDir, `${name}.cdx.json`), json)
  artifacts.push(`${name}.cdx.json`)
}

for (const arch of arches) {
  const built = await buildSea(arch, outfile, work, assets, assetDir)
  const addon = buildAddon(arch)
  const binName = `iamra-${version}-linux-${arch}`
  const addonName = `pkcs11js-linux-${arch}.node`
  copyFileSync(built, join(releaseDir, binName))
  copyFileSync(addon, join(releaseDir, addonName))
  artifacts.push(binName, addonName)
  const common = { arch, packages, addonPath: addon, created }
  writeSbom(binName, sbom({ ...common, artifact: binName, artifactPath: join(releaseDir, binName) }))
  const nodeLicense = join(runtimeNode(arch), '../../LICENSE')
  if (only.has('deb')) {
    const deb = buildDeb(arch, {
      binary: built,
      addon,
      nodeLicense,
      outDir: releaseDir,
      workDir: work,
      date: debDate,
      sbomJson: sbom({ ...common, artifact: debName(arch) }),
    })
    artifacts.push(debName(arch))
    writeSbom(debName(arch), sbom({ ...common, artifact: debName(arch), artifactPath: deb.path }))
  }
  if (only.has('oci')) {
    const sysroot = arch === process.arch ? '/' : arm64Sysroot()
    const oci = buildOci(arch, { binary: built, addon, sysroot, outDir: releaseDir, workDir: work, created, revision })
    artifacts.push(ociName(arch))
    writeSbom(ociName(arch), sbom({ ...common, artifact: ociName(arch), artifactPath: oci.path, libs: oci.libs, sysroot, caBundle: CA_BUNDLE }))
  }
}
writeFileSync(
  join(releaseDir, 'SHA256SUMS'),
  artifacts
    .sort()
    .map((a) => `${sha256(join(releaseDir, a))}  ${a}\n`)
    .join(''),
)
// Only a complete release is recorded as made from these inputs (the tests expect every artifact).
if (arches.length === 2 && ['sea', 'deb', 'oci'].every((p) => only.has(p))) writeFileSync(join(releaseDir, STAMP), digest)
rmSync(work, { recursive: true, force: true })
const sizes = readdirSync(releaseDir)
  .map((f) => `  ${f}  ${(statSync(join(releaseDir, f)).size / 1e6).toFixed(1)} MB`)
  .join('\n')
step(`dist/release/ in ${((Date.now() - started) / 1000).toFixed(0)} s:\n${sizes}`)
