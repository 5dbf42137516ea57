// OCI image archives, one per architecture, built by buildah from scratch with no daemon and no
// registry: the binary, the pkcs11js addon, CA certificates, the shared libraries the binary
// needs, a passwd/group naming user 65532, and nothing else. buildah runs with a private store.
import { chmodSync, copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ADDON_NAME, targets, version } from './config.mjs'
import { sharedLibraries } from './elf.mjs'
import { run, step } from './run.mjs'

export const ociName = (arch) => `iamra-${version}-oci-${targets[arch].ociArch}.tar`
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

export function buildOci(arch, { binary, addon, sysroot, outDir, workDir, created, revision }) {
  const t = targets[arch]
  const rootfs = join(workDir, `oci-${arch}-rootfs`)
  rmSync(rootfs, { recursive: true, force: true })
  const put = (path, from, mode = 0o644) => {
    mkdirSync(join(rootfs, dirname(path)), { recursive: true })
    copyFileSync(from, join(rootfs, path))
    chmodSync(join(rootfs, path), mode)
  }
  put('usr/bin/iamra', binary, 0o755)
  put(`usr/lib/iamra/${ADDON_NAME}`, addon)
  put(CA_BUNDLE.slice(1), CA_BUNDLE)
  const libs = sharedLibraries(binary, sysroot, t.gnuTriplet, t.loader)
  for (const l of libs) put(l.inImage.slice(1), l.path, 0o755)
  // Debian's merged /usr: the ELF interpreter is /lib64/ld-linux-x86-64.so.2 or /lib/ld-linux-aarch64.so.1.
  symlinkSync('usr/lib', join(rootfs, 'lib'))
  if (arch === 'x64') {
    mkdirSync(join(rootfs, 'usr/lib64'))
    symlinkSync(`../lib/${t.gnuTriplet}/${t.loader}`, join(rootfs, 'usr/lib64', t.loader))
    symlinkSync('usr/lib64', join(rootfs, 'lib64'))
  } else {
    symlinkSync(`${t.gnuTriplet}/${t.loader}`, join(rootfs, 'usr/lib', t.loader))
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n')
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnonroot:x:65532:\n')
  mkdirSync(join(rootfs, 'home/nonroot'), { recursive: true })
  mkdirSync(join(rootfs, 'tmp'))
  chmodSync(join(rootfs, 'tmp'), 0o1777)

  const store = join(workDir, 'buildah')
  const b = (...args) =>
    run('buildah', ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', ...args], {
      purpose: 'building the image (apt install buildah)',
    }).trim()
  step(`${arch}: ${ociName(arch)} (buildah from scratch)`)
  const ctr = b('from', '--arch', t.ociArch, '--os', 'linux', 'scratch')
  b('copy', ctr, rootfs, '/')
  b('copy', '--chown', '65532:65532', ctr, join(rootfs, 'home/nonroot'), '/home/nonroot')
  const labels = {
    'org.opencontainers.image.title': 'iamra',
    'org.opencontainers.image.description': 'AWS IAM Roles Anywhere credential helper and multi-role credentials server',
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.licenses': 'Apache-2.0 AND MIT',
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.base.name': 'scratch',
    ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
  }
  b(
    'config',
    '--arch',
    t.ociArch,
    '--os',
    'linux',
    '--user',
    '65532:65532',
    '--workingdir',
    '/home/nonroot',
    '--env',
    'HOME=/home/nonroot',
    '--env',
    `SSL_CERT_FILE=${CA_BUNDLE}`,
    '--entrypoint',
    '["/usr/bin/iamra"]',
    '--cmd',
    '["--help"]',
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ctr,
  )
  const image = `localhost/iamra:${version}-${t.ociArch}`
  b('commit', '--format', 'oci', '--timestamp', String(Math.floor(Date.parse(created) / 1000)), ctr, image)
  b('rm', ctr)
  mkdirSync(outDir, { recursive: true })
  const out = join(outDir, ociName(arch))
  rmSync(out, { force: true })
  b('push', image, `oci-archive:${out}:iamra:${version}`)
  b('rmi', image)
  return { path: out, libs, labels }
}
