// Writes a throw-away PKI (root -> intermediate -> leaf) to a temp dir, in the file shapes real PKIs produce.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createCa, createLeaf, type KeySpec, type TestCert } from '../../src/testing/pki.js'

export interface PkiFiles {
  readonly dir: string
  readonly root: TestCert
  readonly intermediate: TestCert
  readonly leaf: TestCert
  /** root.pem, int.pem, leaf.pem, key.pem (PKCS#8), chain-leaf-first.pem, chain-root-first.pem */
  readonly path: (name: string) => string
  write(name: string, content: string | Buffer, mode?: number): string
  cleanup(): void
}

export async function makePkiFiles(leafKey: KeySpec = 'p256', opts: { leafNotBefore?: Date; leafNotAfter?: Date } = {}): Promise<PkiFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-test-'))
  const root = await createCa({ name: 'iamra test root', key: 'p384' })
  const intermediate = await createCa({ name: 'iamra test intermediate', key: 'p256', issuer: root })
  const leaf = await createLeaf({
    name: 'iamra test client',
    key: leafKey,
    issuer: intermediate,
    ...(opts.leafNotBefore ? { notBefore: opts.leafNotBefore } : {}),
    ...(opts.leafNotAfter ? { notAfter: opts.leafNotAfter } : {}),
  })
  const write = (name: string, content: string | Buffer, mode = 0o600): string => {
    const p = join(dir, name)
    writeFileSync(p, content, { mode })
    return p
  }
  write('root.pem', root.certPem)
  write('int.pem', intermediate.certPem)
  write('leaf.pem', leaf.certPem)
  write('key.pem', leaf.keyPem)
  write('chain-leaf-first.pem', `subject=leaf\n${leaf.certPem}\nsome text between blocks\n${intermediate.certPem}${root.certPem}`)
  write('chain-root-first.pem', root.certPem + intermediate.certPem + leaf.certPem)
  return { dir, root, intermediate, leaf, path: (n) => join(dir, n), write, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** DER of the named-curve OIDs, as `openssl ecparam` prints them in an EC PARAMETERS block. */
export const EC_PARAMETERS: Record<string, string> = {
  p256: '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n',
  p384: '-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n',
}
