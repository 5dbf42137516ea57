// CycloneDX 1.5 JSON SBOMs: what each artifact contains (the runtime, iamra, every npm package
// the bundle took code from, the addon, and for the image its shared libraries and CA bundle).
import { createHash, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NODE_VERSION, root, targets, version } from './config.mjs'
import { run } from './run.mjs'

export const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex')

/** npm packages whose files esbuild put in the bundle, with version and licence. */
export function bundledPackages(metafile) {
  const dirs = new Set()
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m) dirs.add(m[1])
  }
  return [...dirs].sort().map((dir) => {
    const p = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'))
    return { name: p.name, version: p.version, license: typeof p.license === 'string' ? p.license : undefined }
  })
}

const npmComponent = (p) => ({
  type: 'library',
  name: p.name,
  version: p.version,
  purl: `pkg:npm/${p.name.replace('@', '%40')}@${p.version}`,
  ...(p.license ? { licenses: [{ license: { id: p.license } }] } : {}),
})

/** Debian package owning `path` on this host, or undefined. */
function debianPackageOf(path) {
  try {
    const name = run('dpkg-query', ['-S', path]).split(':')[0]
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Version} is dpkg-query's own format syntax
    const ver = run('dpkg-query', ['-W', '-f=${Version}', name])
    return { name, version: ver }
  } catch {
    return undefined
  }
}

/** A Debian package's version in a debootstrap root, read from the .deb it unpacked. */
function debianVersionIn(sysroot, name, arch) {
  const debs = run('sh', ['-c', `ls ${sysroot}/var/cache/apt/archives/ 2>/dev/null || true`]).split('\n')
  const f = debs.find((d) => d.startsWith(`${name}_`) && d.endsWith(`_${arch}.deb`))
  return f === undefined ? undefined : decodeURIComponent(f.slice(name.length + 1, -`_${arch}.deb`.length)).replace('%3a', ':')
}

export function sbom({ arch, artifact, artifactPath, packages, addonPath, libs, sysroot, caBundle, created }) {
  const t = targets[arch]
  const components = [
    { type: 'application', name: 'iamra', version, licenses: [{ license: { id: 'Apache-2.0' } }], purl: `pkg:npm/iamra@${version}` },
    {
      type: 'framework',
      name: t.npmPackage,
      version: NODE_VERSION,
      description: 'Node.js runtime embedded in the single executable',
      licenses: [{ license: { id: 'MIT' } }],
      purl: `pkg:npm/${t.npmPackage}@${NODE_VERSION}`,
      hashes: [{ alg: 'SHA-512', content: Buffer.from(t.integrity.slice('sha512-'.length), 'base64').toString('hex') }],
    },
    ...packages.map(npmComponent),
    {
      type: 'file',
      name: 'pkcs11js.node',
      description: `pkcs11js native addon built for linux-${arch}`,
      hashes: [{ alg: 'SHA-256', content: sha256(addonPath) }],
    },
  ]
  for (const l of libs ?? []) {
    const owner = arch === process.arch ? debianPackageOf(l.path) : undefined
    const name = owner?.name ?? (/^libstdc/.test(l.soname) ? 'libstdc++6' : /^libgcc/.test(l.soname) ? 'libgcc-s1' : 'libc6')
    const ver = owner?.version ?? debianVersionIn(sysroot, name, t.debArch)
    components.push({
      type: 'file',
      name: l.inImage,
      hashes: [{ alg: 'SHA-256', content: sha256(l.path) }],
      ...(ver ? { purl: `pkg:deb/debian/${name}@${ver}?arch=${t.debArch}&distro=debian-12` } : {}),
    })
  }
  if (caBundle) {
    const owner = debianPackageOf(caBundle)
    components.push({
      type: 'data',
      name: caBundle,
      hashes: [{ alg: 'SHA-256', content: sha256(caBundle) }],
      ...(owner ? { purl: `pkg:deb/debian/ca-certificates@${owner.version}?arch=all&distro=debian-12` } : {}),
    })
  }
  const json = JSON.stringify(
    {
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      serialNumber: `urn:uuid:${randomUUID()}`,
      version: 1,
      metadata: {
        timestamp: created,
        tools: { components: [{ type: 'application', name: 'iamra dev/package' }] },
        component: {
          type: artifact.endsWith('.deb') ? 'application' : artifact.includes('-oci-') ? 'container' : 'application',
          name: artifact,
          version,
          ...(artifactPath ? { hashes: [{ alg: 'SHA-256', content: sha256(artifactPath) }] } : {}),
        },
      },
      components,
    },
    null,
    2,
  )
  return `${json}\n`
}
