// Debian packages: a plain dpkg-deb tree (no debhelper needed), per Debian policy: /usr/bin/iamra,
// the addon under /usr/lib/iamra, units, sysusers.d and tmpfiles.d entries, conffiles under /etc,
// docs and maintainer scripts from dev/package/debian/.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { gzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { ADDON_NAME, pkg, root, targets, version } from './config.mjs'
import { run, step } from './run.mjs'

const here = join(root, 'dev/package/debian')
export const UNITS = ['iamra.socket', 'iamra.service', 'iamra-bind@.service', 'iamra-dir.service', 'iamra-ecs-relative.socket']
export const debName = (arch) => `iamra_${version}_${targets[arch].debArch}.deb`

function put(tree, path, data, mode = 0o644) {
  const full = join(tree, path)
  mkdirSync(dirname(full), { recursive: true })
  if (Buffer.isBuffer(data) || typeof data === 'string') writeFileSync(full, data)
  else copyFileSync(data.from, full)
  chmodSync(full, mode)
}
// gzip -9n equivalent: no name, no timestamp (reproducible, as lintian wants).
const gz = (buf) => gzipSync(buf, { level: 9 })

function changelog(date) {
  return `iamra (${version}) unstable; urgency=medium\n\n  * Release ${version}: single executable with Node ${process.env.IAMRA_NODE_LABEL ?? '24'}, systemd units, OCI image.\n\n -- ${maintainer()}  ${date}\n`
}
function maintainer() {
  return process.env.IAMRA_DEB_MAINTAINER ?? 'iamra maintainers <maintainers@users.noreply.github.com>'
}

/** Builds dist/release/iamra_VERSION_ARCH.deb from the SEA binary and addon of `arch`. */
export function buildDeb(arch, { binary, addon, sbomJson, nodeLicense, outDir, workDir, date }) {
  const t = targets[arch]
  const tree = join(workDir, `deb-${arch}`)
  rmSync(tree, { recursive: true, force: true })
  put(tree, 'usr/bin/iamra', { from: binary }, 0o755)
  put(tree, `usr/lib/iamra/${ADDON_NAME}`, { from: addon }, 0o644)
  for (const u of UNITS) put(tree, `usr/lib/systemd/system/${u}`, { from: join(root, 'contrib/systemd', u) })
  put(tree, 'usr/lib/sysusers.d/iamra.conf', { from: join(root, 'contrib/sysusers.d/iamra.conf') })
  put(tree, 'usr/lib/tmpfiles.d/iamra.conf', { from: join(here, 'tmpfiles.conf') })
  put(tree, 'etc/default/iamra', { from: join(here, 'default') })
  put(tree, 'etc/iamra/bind.conf.example', { from: join(root, 'contrib/bind.conf.example') })
  mkdirSync(join(tree, 'etc/iamra/bind'), { recursive: true })
  const doc = 'usr/share/doc/iamra'
  put(tree, `${doc}/copyright`, readFileSync(join(here, 'copyright')))
  put(tree, 'usr/share/lintian/overrides/iamra', readFileSync(join(here, 'lintian-overrides')))
  put(tree, `${doc}/changelog.gz`, gz(Buffer.from(changelog(date))))
  put(tree, `${doc}/README.md.gz`, gz(readFileSync(join(root, 'README.md'))))
  for (const d of ['install.md', 'server.md', 'credential-process.md', 'hardware-keys.md', 'errors.md']) {
    try {
      put(tree, `${doc}/${d}.gz`, gz(readFileSync(join(root, 'docs', d))))
    } catch {
      /* optional doc */
    }
  }
  // The manual page (lintian: no-manual-page), with this release's version on its title line.
  const man = readFileSync(join(root, 'contrib/man/iamra.1'), 'utf8').replace(/^(\.TH IAMRA 1 \S+ "iamra )[^"]*"/m, `$1${version}"`)
  put(tree, 'usr/share/man/man1/iamra.1.gz', gz(Buffer.from(man)))
  put(tree, `${doc}/LICENSE.node.gz`, gz(readFileSync(nodeLicense)))
  put(tree, `${doc}/sbom.cdx.json.gz`, gz(Buffer.from(sbomJson)))
  put(tree, `${doc}/examples/example-consumer.service`, { from: join(root, 'contrib/systemd/example-consumer.service') })
  for (const s of ['postinst', 'prerm', 'postrm']) put(tree, `DEBIAN/${s}`, { from: join(here, s) }, 0o755)
  put(tree, 'DEBIAN/conffiles', '/etc/default/iamra\n/etc/iamra/bind.conf.example\n')
  const files = listFiles(tree).filter((f) => !f.startsWith('DEBIAN/'))
  put(
    tree,
    'DEBIAN/md5sums',
    files
      .map(
        (f) =>
          `${createHash('md5')
            .update(readFileSync(join(tree, f)))
            .digest('hex')}  ${f}\n`,
      )
      .join(''),
  )
  const kib = Math.ceil(files.reduce((n, f) => n + statSync(join(tree, f)).size, 0) / 1024)
  put(
    tree,
    'DEBIAN/control',
    [
      'Package: iamra',
      `Version: ${version}`,
      `Architecture: ${t.debArch}`,
      `Maintainer: ${maintainer()}`,
      `Installed-Size: ${kib}`,
      // Node 24's official builds need glibc 2.28 and libstdc++ from GCC 10 (GLIBCXX_3.4.28).
      'Depends: libc6 (>= 2.28), libgcc-s1, libstdc++6 (>= 10)',
      'Recommends: systemd, ca-certificates',
      'Suggests: p11-kit-modules',
      'Section: admin',
      'Priority: optional',
      ...(pkg.homepage ? [`Homepage: ${pkg.homepage}`] : []),
      `Description: ${pkg.description}`,
      ' iamra gets temporary AWS credentials for workloads holding an X.509',
      ' certificate through IAM Roles Anywhere: a credential_process helper for',
      ' the AWS CLI and SDKs, and a socket-activated systemd server giving each',
      ' service its own role through the ECS container-credentials protocol.',
      ' The binary embeds its Node.js runtime.',
      '',
    ].join('\n'),
  )
  mkdirSync(outDir, { recursive: true })
  const out = join(outDir, debName(arch))
  step(`${arch}: ${debName(arch)}`)
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', tree, out], { purpose: 'building the .deb (apt install dpkg-dev)' })
  return { path: out, files }
}

function listFiles(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), base) : [relative(base, join(dir, e.name))]))
    .sort()
}
