/**
 * Identities with a key on a PKCS#11 token: `loadPkcs11Identity` (credential-process, serve),
 * `loadPkcs11Key` (sign-string, no certificate needed) and `listPkcs11Identities`
 * (read-certificate-data), all within a Pkcs11Context: sessions stay open and logged in for the
 * next call until the context is disposed. `pkcs11Backend` bundles them over one context.
 */
import type { KeyObject } from 'node:crypto'
import { fail } from '../errors.js'
import { loadCertificates, parseCertificates, type LoadedCertificate } from '../identity/certificates.js'
import { readIdentityFile, type IdentityFileReader } from '../identity/files.js'
import { assemble, assembleWithSigner, type Identity, type IdentityInit } from '../identity/identity.js'
import { loadPrivateKey } from '../identity/private-key.js'
import { Pkcs11Context } from './context.js'
import { DEFAULT_MODULE, describeToken, type Pkcs11Module } from './module.js'
import { readCertificates } from './objects.js'
import { hasPin, pinSource } from './pin.js'
import { findCertificates, select, type FoundCertificate, type Selection } from './select.js'
import type { SessionContext } from './session.js'
import { Pkcs11Signer } from './signer.js'
import { isPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from './uri.js'

export { Pkcs11Context } from './context.js'
export { DEFAULT_MODULE } from './module.js'
export { Pkcs11Signer, type DigestName } from './signer.js'

type Init = Omit<IdentityInit, 'now'>

interface Parsed {
  readonly certUri: Pkcs11Uri | undefined
  readonly keyUri: Pkcs11Uri | undefined
  readonly certFiles: readonly string[]
  readonly mod: Pkcs11Module
}

function parse(p11: Pkcs11Context, init: Init): Parsed {
  const uris = init.certificateFiles.filter(isPkcs11Uri)
  if (uris.length > 1) fail('USAGE', (name) => `give at most one pkcs11: URI as ${name('certificate')}`, { field: 'certificate' })
  const certUri = uris[0] === undefined ? undefined : parsePkcs11Uri(uris[0])
  const keyUri = isPkcs11Uri(init.privateKeyFile) ? parsePkcs11Uri(init.privateKeyFile) : undefined
  const paths = [certUri?.modulePath, keyUri?.modulePath].filter((p): p is string => p !== undefined)
  if (new Set(paths).size > 1)
    fail('USAGE', `the certificate and key URIs name different modules (${paths.join(', ')}); iamra uses one module per identity`, {
      field: ['certificate', 'privateKey'],
    })
  if (certUri === undefined && keyUri === undefined)
    fail('USAGE', (name) => `no pkcs11: URI given as ${name('certificate')} or ${name('privateKey')}`, { field: ['certificate', 'privateKey'] })
  const mod = p11.openModule(paths[0] ?? init.pkcs11Lib ?? DEFAULT_MODULE)
  return { certUri, keyUri, certFiles: init.certificateFiles.filter((f) => !isPkcs11Uri(f)), mod }
}

async function fileCertificates(
  files: readonly string[],
  intermediates: readonly string[],
  read: IdentityFileReader = readIdentityFile,
): Promise<LoadedCertificate[]> {
  const out: LoadedCertificate[] = []
  for (const f of files) out.push(...parseCertificates(await read(f, 'CERT_UNREADABLE', 'certificate file'), f))
  for (const f of intermediates) out.push(...(await loadCertificates(f, read)))
  return out
}

/** The same limits as for key files: RSA of 2048 bits or more. */
function checkKey(publicKey: KeyObject, uri: string): void {
  const bits = publicKey.asymmetricKeyDetails?.modulusLength
  if (publicKey.asymmetricKeyType === 'rsa' && bits !== undefined && bits < 2048)
    fail('KEY_UNSUPPORTED', `${uri}: RSA key of ${bits} bits; use at least 2048 bits`)
}

function signerFor(sel: Selection, init: Init, publicKey: KeyObject): Pkcs11Signer {
  checkKey(publicKey, sel.keyUri)
  const family = sel.key.keyType === 'RSA' ? 'RSA' : 'EC'
  return new Pkcs11Signer({
    session: sel.session,
    key: sel.key,
    generation: sel.generation,
    family,
    pin: sel.pin,
    reusePin: init.reusePin === true,
    prompt: init.prompt,
    uri: sel.keyUri,
  })
}

/** The identity for certificate/key inputs of which at least one is a pkcs11: URI. */
export async function loadPkcs11Identity(p11: Pkcs11Context, init: IdentityInit): Promise<Identity> {
  const { certUri, keyUri, certFiles, mod } = parse(p11, init)
  const files = await fileCertificates(certFiles, init.intermediatesFiles ?? [], init.readFile)
  if (keyUri === undefined && init.privateKeyFile !== undefined) {
    // certificate on the token, key in a file
    const key = await loadPrivateKey(init.privateKeyFile, { password: init.password, prompt: init.prompt, read: init.readFile })
    const tokenCerts = certUri === undefined ? [] : await findCertificates(p11, mod, certUri, undefined)
    return assemble([...tokenCerts.map(asLoaded), ...files], key, init.privateKeyFile, init.now)
  }
  return fromSelection(
    p11,
    await select({ p11, mod, certUri, keyUri, fileCerts: files, prompt: init.prompt, reusePin: init.reusePin === true }),
    init,
    files,
    mod,
  )
}

async function fromSelection(
  p11: Pkcs11Context,
  sel: Selection,
  init: IdentityInit,
  files: readonly LoadedCertificate[],
  mod: Pkcs11Module,
): Promise<Identity> {
  const leaf = sel.tokenLeaf ?? sel.fileLeaf
  if (leaf === undefined)
    return fail('USAGE', (name) => `no certificate given: give a file or a pkcs11: URI with ${name('certificate')}`, { field: 'certificate' })
  const publicKey = sel.publicKey ?? leaf.cert.publicKey
  // chain candidates: every certificate on the leaf's token plus the files; only issuers are kept
  const onToken =
    sel.tokenLeaf === undefined
      ? []
      : await p11.tokenSession(mod, sel.tokenLeaf.token).run(undefined, 'reading certificates', (ctx) => findAll(ctx, sel.tokenLeaf!))
  const preferred = sel.tokenLeaf === undefined ? sel.fileLeaf : asLoaded(sel.tokenLeaf)
  return assembleWithSigner(
    [...onToken, ...files],
    { matches: (s) => s.equals(publicKey.export({ type: 'spki', format: 'der' })), signer: signerFor(sel, init, publicKey), source: sel.keyUri },
    init.now,
    preferred,
  )
}

function findAll(ctx: SessionContext, leaf: FoundCertificate): LoadedCertificate[] {
  return readCertificates(ctx, undefined).map((c) => ({ cert: c.cert, der: c.der, source: `token ${describeToken(leaf.token)} object "${c.label}"` }))
}

function asLoaded(c: FoundCertificate): LoadedCertificate {
  return { cert: c.cert, der: c.der, source: c.uri }
}

/** A token key and its public key, for sign-string: a certificate (URI or file) is optional. */
export async function loadPkcs11Key(p11: Pkcs11Context, init: Init): Promise<{ publicKey: KeyObject; signer: Pkcs11Signer; uri: string }> {
  const { certUri, keyUri, certFiles, mod } = parse(p11, init)
  const files = await fileCertificates(certFiles, init.intermediatesFiles ?? [], init.readFile)
  const sel = await select({ p11, mod, certUri, keyUri, fileCerts: files, prompt: init.prompt, reusePin: init.reusePin === true })
  const publicKey = sel.publicKey ?? (sel.tokenLeaf ?? sel.fileLeaf)?.cert.publicKey
  if (publicKey === undefined)
    return fail('HSM_KEY_NOT_FOUND', (name) => `the token does not reveal the public key of ${sel.keyUri}; give its certificate with ${name('certificate')}`, {
      field: 'certificate',
    })
  return { publicKey, signer: signerFor(sel, init, publicKey), uri: sel.keyUri }
}

/** Certificates matching a URI, for read-certificate-data (logs in only with a PIN in the URI). */
export async function listPkcs11Identities(p11: Pkcs11Context, uriText: string, pkcs11Lib: string | undefined): Promise<FoundCertificate[]> {
  const uri = parsePkcs11Uri(uriText)
  const mod = p11.openModule(uri.modulePath ?? pkcs11Lib ?? DEFAULT_MODULE)
  return findCertificates(p11, mod, uri, hasPin(uri) ? pinSource([uri], 'of the URI', undefined) : undefined)
}

/** The PKCS#11 key backend over one context: what the key loader (src/keys) calls. */
export interface Pkcs11Backend {
  readonly context: Pkcs11Context
  loadIdentity(init: IdentityInit): Promise<Identity>
  loadKey(init: Init): Promise<{ publicKey: KeyObject; signer: Pkcs11Signer; uri: string }>
  listIdentities(uri: string, pkcs11Lib: string | undefined): Promise<FoundCertificate[]>
}

export function pkcs11Backend(context: Pkcs11Context = new Pkcs11Context()): Pkcs11Backend {
  return {
    context,
    loadIdentity: (init) => loadPkcs11Identity(context, init),
    loadKey: (init) => loadPkcs11Key(context, init),
    listIdentities: (uri, lib) => listPkcs11Identities(context, uri, lib),
  }
}
