/**
 * `iamra sign-string`: signs the official helper's fixed test string with the private key, so
 * that a key (file or token) can be checked against a certificate without calling AWS.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { IamraError } from '../../errors.js'
import { readIdentityFile } from '../../identity/files.js'
import { parsePrivateKey } from '../../identity/private-key.js'
import type { CliContext } from '../context.js'
import { parseFlags } from '../flags.js'
import { checkIdentityFlags, IDENTITY_FLAGS, identityInputs } from '../identity-flags.js'
import { looksLikePkcs12 } from '../../identity/identity.js'
import { loadTpmKeyIfAny, usesPkcs11 } from '../../keys/load-identity.js'

const FLAGS = {
  ...IDENTITY_FLAGS,
  format: {
    type: 'choice',
    choices: ['json', 'text', 'bin'],
    ignoreCase: true,
    placeholder: 'json|text|bin',
    default: 'json',
    description: 'output: hex as a JSON string, bare hex, or raw bytes',
  },
  digest: {
    type: 'choice',
    choices: ['SHA256', 'SHA384', 'SHA512'],
    ignoreCase: true,
    placeholder: 'SHA256|SHA384|SHA512',
    default: 'SHA256',
    description: 'digest inside the signature',
  },
  help: { type: 'boolean', description: 'show this help' },
} as const

/** Built when asked for: start-up neither builds it nor loads the help layout. */
export const help = async (): Promise<string> =>
  (await import('../flag-help.js')).helpText(
    'iamra sign-string --private-key FILE|URI [--certificate FILE|URI] [--format json|text|bin] [--digest SHA256|SHA384|SHA512]',
    'Signs the fixed string "AWS Roles Anywhere Credential Helper Signing Test" || "1" || SHA256("IAM RA" || public key), as the official helper does.',
    FLAGS,
  )

const PREFIX = 'AWS Roles Anywhere Credential Helper Signing Test'

/** The bytes the official helper signs for a given public key. */
export function testStringFor(publicKey: KeyObject): Buffer {
  let pub: Buffer
  if (publicKey.asymmetricKeyType === 'ec') {
    const jwk = publicKey.export({ format: 'jwk' })
    const x = Buffer.from(jwk.x ?? '', 'base64url')
    const y = Buffer.from(jwk.y ?? '', 'base64url')
    const size = Math.max(x.length, y.length)
    pub = Buffer.concat([Buffer.from([4]), pad(x, size), pad(y, size)])
  } else {
    pub = publicKey.export({ type: 'pkcs1', format: 'der' })
  }
  const digest = createHash('sha256').update('IAM RA').update(pub).digest()
  return Buffer.concat([Buffer.from(`${PREFIX}1`, 'utf8'), digest])
}

const pad = (b: Buffer, n: number): Buffer => (b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]))

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags } = parseFlags('sign-string', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(await help())
    return 0
  }
  checkIdentityFlags(flags)
  const format = flags.format
  const digest = flags.digest
  const inputs = identityInputs(flags, ctx.promptPassword, ctx.env)
  const hash = digest.replace('SHA', 'sha') as 'sha256' | 'sha384' | 'sha512'
  let signature: Buffer
  const tpmKey =
    usesPkcs11(inputs) || inputs.privateKeyFile === undefined
      ? undefined
      : await loadTpmKeyIfAny(
          inputs,
          /^handle:/i.test(inputs.privateKeyFile) ? undefined : await readIdentityFile(inputs.privateKeyFile, 'KEY_UNREADABLE', 'private key file'),
          ctx.keys,
        )
  if (tpmKey !== undefined) {
    signature = await tpmKey.signer.signWith(hash, testStringFor(tpmKey.publicKey))
  } else if (usesPkcs11(inputs)) {
    const { publicKey, signer } = await (await ctx.keys.pkcs11()).loadKey(inputs)
    signature = await signer.signWith(hash, testStringFor(publicKey))
  } else {
    const keyFile = inputs.privateKeyFile ?? inputs.certificateFiles[0]
    if (keyFile === undefined) throw new IamraError('USAGE', 'sign-string needs --private-key FILE|URI (or a --certificate file that also holds the key)')
    const opts = { password: inputs.password, prompt: ctx.promptPassword }
    const bytes = await (inputs.readFile ?? readIdentityFile)(keyFile, 'KEY_UNREADABLE', 'private key file')
    const key = looksLikePkcs12(bytes)
      ? (await (await import('../../identity/pkcs12.js')).parsePkcs12(bytes, keyFile, opts)).key
      : await parsePrivateKey(bytes, keyFile, opts)
    if (key === undefined) throw new IamraError('KEY_MALFORMED', `${keyFile}: the PKCS#12 file holds no private key`)
    if ('kind' in key) {
      // ML-DSA: the official helper signs the bare prefix || "1" (no public-key digest), pure, --digest unused
      signature = await (await import('../../mldsa/signer.js')).mlDsaSigner(key).sign(Buffer.from(`${PREFIX}1`, 'utf8'))
    } else {
      signature = sign(hash, testStringFor(createPublicKey(key)), key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'der' } : key)
    }
  }
  if (format === 'bin') ctx.stdout(signature)
  else if (format === 'text') ctx.stdout(signature.toString('hex'))
  else ctx.stdout(JSON.stringify(signature.toString('hex')))
  return 0
}
