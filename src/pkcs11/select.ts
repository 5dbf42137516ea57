/**
 * Finding the certificate and the key a pair of URIs (or a URI and certificate files) means:
 * certificates are looked up without logging in (and with a login only when exactly one token
 * matches and nothing was found); the key is the private key whose public key equals the
 * certificate's. When the token hides the public half of the candidate keys, each of them signs a
 * fixed test message that must verify with the certificate's public key. Zero or several answers
 * are errors that say how to narrow the URI.
 */
import { verify, type KeyObject } from 'node:crypto'
import { fail, IamraError } from '../errors.js'
import type { LoadedCertificate } from '../identity/certificates.js'
import { describeToken, listTokens, matchTokens, type Pkcs11Module, type TokenSlot } from './module.js'
import { readCertificates, readPrivateKeys, type TokenCertificate, type TokenKey } from './objects.js'
import { pinSource, type Prompt } from './pin.js'
import type { Pkcs11Context } from './context.js'
import type { PinSource, TokenSession } from './session.js'
import { Pkcs11Signer } from './signer.js'
import { formatPkcs11Uri, type Pkcs11Uri } from './uri.js'

export interface FoundCertificate extends TokenCertificate {
  readonly token: TokenSlot
  readonly uri: string
}

export interface Selection {
  readonly session: TokenSession
  readonly pin: PinSource
  readonly key: TokenKey
  readonly keyUri: string
  readonly generation: number
  /** The public key: the key's own, else the paired certificate's. */
  readonly publicKey: KeyObject | undefined
  /** The token certificate paired with the key (certificate URI given). */
  readonly tokenLeaf: FoundCertificate | undefined
  /** The file certificate paired with the key (certificate files given). */
  readonly fileLeaf: LoadedCertificate | undefined
}

export interface SelectInit {
  /** Where the token sessions live. */
  readonly p11: Pkcs11Context
  readonly mod: Pkcs11Module
  readonly certUri: Pkcs11Uri | undefined
  readonly keyUri: Pkcs11Uri | undefined
  /** Certificates from files (--certificate files, --intermediates), candidates for the leaf when certUri is absent. */
  readonly fileCerts: readonly LoadedCertificate[]
  readonly prompt: Prompt | undefined
  /** --reuse-pin: the test signature of an always-authenticate key uses the user PIN instead of a prompt. */
  readonly reusePin?: boolean | undefined
}

/** Signed by keys whose public half the token hides, to pair them with a certificate. */
export const PAIRING_TEST_MESSAGE = Buffer.from('iamra PKCS#11 key pairing test message')

/** Test-signature failures that mean "this key cannot sign here", not "stop": such keys pair with nothing. */
const SKIPPABLE = new Set(['HSM_FAILED', 'KEY_UNSUPPORTED'])

const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' })

export function tokenList(mod: Pkcs11Module, uri: Pkcs11Uri): TokenSlot[] {
  const all = listTokens(mod)
  const matching = matchTokens(all, uri.token)
  if (matching.length === 0) {
    const present = all.length === 0 ? 'no token is present' : `present: ${all.map(describeToken).join(', ')}`
    fail('HSM_TOKEN_NOT_FOUND', `no token in ${mod.path} matches ${uri.display} (${present})`)
  }
  return matching
}

/** Certificates matching a URI across its tokens; logs in only when one token matches and none was found. */
export async function findCertificates(p11: Pkcs11Context, mod: Pkcs11Module, uri: Pkcs11Uri, pin: PinSource | undefined): Promise<FoundCertificate[]> {
  const tokens = tokenList(mod, uri)
  const read = (t: TokenSlot, login: PinSource | undefined): Promise<FoundCertificate[]> =>
    p11.tokenSession(mod, t).run(login, 'reading certificates', (ctx) =>
      readCertificates(ctx, uri).map((c) => ({
        ...c,
        token: t,
        uri: formatPkcs11Uri({ token: t.attrs, object: c.label, id: c.id, type: 'cert' }),
      })),
    )
  const found: FoundCertificate[] = []
  for (const t of tokens) {
    try {
      found.push(...(await read(t, undefined)))
    } catch (e) {
      if (tokens.length === 1) throw e // with several candidates, a token that fails is skipped
    }
  }
  if (found.length === 0 && tokens.length === 1 && pin !== undefined) found.push(...(await read(tokens[0]!, pin)))
  return found
}

export async function select(init: SelectInit): Promise<Selection> {
  const { p11, mod, certUri, keyUri } = init
  const searchUri = keyUri ?? certUri
  if (searchUri === undefined) return fail('USAGE', 'no pkcs11: URI given', { field: 'privateKey' })
  let certs: FoundCertificate[] = []
  if (certUri !== undefined) {
    const single = matchTokens(listTokens(mod), certUri.token)
    const pin = single.length === 1 ? pinSource([certUri, keyUri], describeToken(single[0]!), init.prompt) : undefined
    certs = await findCertificates(p11, mod, certUri, pin)
    if (certs.length === 0) fail('HSM_CERT_NOT_FOUND', `no certificate on the token matches ${certUri.display}`, { field: 'certificate' })
  }
  let keyTokens = tokenList(mod, searchUri)
  if (keyTokens.length > 1 && certs.length > 0) keyTokens = keyTokens.filter((t) => certs.some((c) => c.token.slot.equals(t.slot)))
  if (keyTokens.length !== 1) {
    fail(
      'HSM_TOKEN_AMBIGUOUS',
      `${keyTokens.length} tokens match ${searchUri.display}: ${keyTokens.map(describeToken).join(', ')}; add token= or serial= to the URI`,
    )
  }
  const token = keyTokens[0]!
  const session = p11.tokenSession(mod, token)
  const pin = pinSource([keyUri, certUri], describeToken(token), init.prompt)
  const { keys, generation } = await session.run(pin, 'finding the private key', (ctx) => {
    let found: TokenKey[]
    if (keyUri !== undefined) found = readPrivateKeys(ctx, keyUri)
    else {
      const ids = [...new Map(certs.filter((c) => c.id.length > 0 && c.token.slot.equals(token.slot)).map((c) => [c.id.toString('hex'), c.id])).values()]
      found = ids.flatMap((id) => readPrivateKeys(ctx, { id }))
      if (found.length === 0) found = readPrivateKeys(ctx, undefined)
    }
    return { keys: found, generation: ctx.generation }
  })
  const keyUriOf = (k: TokenKey): string => formatPkcs11Uri({ token: token.attrs, object: k.label, id: k.id, type: 'private' })
  if (keys.length === 0) fail('HSM_KEY_NOT_FOUND', `no private key on token ${describeToken(token)} matches ${searchUri.display}`)
  const usable = keys.filter((k) => k.keyType !== 'other')
  if (usable.length === 0) fail('KEY_UNSUPPORTED', `${keyUriOf(keys[0]!)}: unsupported key type; IAM Roles Anywhere accepts RSA and EC keys`)
  const base = { session, pin, generation }
  const candidates: Array<{ pk: KeyObject; leaf: FoundCertificate | LoadedCertificate }> =
    certUri !== undefined ? certs.map((c) => ({ pk: c.cert.publicKey, leaf: c })) : init.fileCerts.map((c) => ({ pk: c.cert.publicKey, leaf: c }))
  if (candidates.length === 0) {
    if (usable.length > 1)
      fail('HSM_AMBIGUOUS', `${usable.length} private keys match ${searchUri.display}: ${usable.map(keyUriOf).join(', ')}; add object= or id= to the URI`)
    const key = usable[0]!
    return { ...base, key, keyUri: keyUriOf(key), publicKey: key.publicKey, tokenLeaf: undefined, fileLeaf: undefined }
  }
  let pairs = usable.flatMap((key) =>
    candidates.filter((c) => key.publicKey !== undefined && spki(key.publicKey).equals(spki(c.pk))).map((c) => ({ key, leaf: c.leaf })),
  )
  if (pairs.length === 0) {
    // the token hides some public halves: those keys sign a test message each, kept when it verifies
    const hidden = usable.filter((k) => k.publicKey === undefined && candidates.some((c) => sameFamily(k, c.pk)))
    for (const key of hidden) {
      const signature = await testSignature(init, { ...base, key, uri: keyUriOf(key) })
      if (signature === undefined) continue
      for (const c of candidates) {
        if (sameFamily(key, c.pk) && verify('sha256', PAIRING_TEST_MESSAGE, c.pk, signature)) pairs = [...pairs, { key, leaf: c.leaf }]
      }
    }
  }
  if (pairs.length > 1) {
    fail(
      'HSM_AMBIGUOUS',
      `several certificate and key pairs match: ${pairs.map((p) => `${keyUriOf(p.key)} with ${'uri' in p.leaf ? p.leaf.uri : p.leaf.source}`).join('; ')}; add object= or id= to the URI`,
    )
  }
  const pair = pairs[0]
  if (pair === undefined) {
    const where = certUri !== undefined ? certs.map((c) => c.uri).join(', ') : [...new Set(init.fileCerts.map((c) => c.source))].join(', ')
    const noPublic = usable.some((k) => k.publicKey === undefined)
      ? ' (the token hides the public key of some keys; their test signatures did not verify with it)'
      : ''
    return fail(
      'KEY_CERT_MISMATCH',
      `none of the private keys matching ${searchUri.display} (${usable.map(keyUriOf).join(', ')}) belongs to the certificate ${where}${noPublic}`,
    )
  }
  const isToken = 'uri' in pair.leaf
  return {
    ...base,
    key: pair.key,
    keyUri: keyUriOf(pair.key),
    publicKey: pair.key.publicKey,
    tokenLeaf: isToken ? (pair.leaf as FoundCertificate) : undefined,
    fileLeaf: isToken ? undefined : (pair.leaf as LoadedCertificate),
  }
}

function sameFamily(key: TokenKey, pk: KeyObject): boolean {
  return (key.keyType === 'RSA' && pk.asymmetricKeyType === 'rsa') || (key.keyType === 'EC' && pk.asymmetricKeyType === 'ec')
}

/**
 * The key's signature over PAIRING_TEST_MESSAGE (SHA-256 with RSA PKCS#1 v1.5, or ECDSA as DER),
 * made by the signer used for real requests, so always-authenticate keys follow the same PIN rules.
 * Undefined when the token refuses to sign with the key; PIN and device errors are thrown.
 */
async function testSignature(
  init: SelectInit,
  k: { session: TokenSession; pin: PinSource; generation: number; key: TokenKey; uri: string },
): Promise<Buffer | undefined> {
  const signer = new Pkcs11Signer({
    session: k.session,
    key: k.key,
    generation: k.generation,
    family: k.key.keyType === 'RSA' ? 'RSA' : 'EC',
    pin: k.pin,
    reusePin: init.reusePin === true,
    prompt: init.prompt,
    uri: k.uri,
  })
  try {
    return await signer.sign(PAIRING_TEST_MESSAGE)
  } catch (e) {
    if (e instanceof IamraError && SKIPPABLE.has(e.code)) return undefined
    throw e
  }
}
