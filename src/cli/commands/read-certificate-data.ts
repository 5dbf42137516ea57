/**
 * `iamra read-certificate-data`: what the official helper prints about a certificate file, or,
 * for a pkcs11: URI, the matching certificates on the tokens ("Matching identities").
 */
import { createHash, type X509Certificate } from 'node:crypto'
import { IamraError } from '../../errors.js'
import { certificateMlDsaLevel, decimalSerial, loadCertificates } from '../../identity/certificates.js'
import { commandFileReader } from '../../identity/input-files.js'
import type { CliContext } from '../context.js'
import { list, parseFlags } from '../flags.js'
import { checkIdentityFlags, IDENTITY_FLAGS } from '../identity-flags.js'

const FLAGS = {
  certificate: IDENTITY_FLAGS.certificate,
  'cert-selector': IDENTITY_FLAGS['cert-selector'],
  'system-store-name': IDENTITY_FLAGS['system-store-name'],
  'pkcs11-lib': IDENTITY_FLAGS['pkcs11-lib'],
  debug: IDENTITY_FLAGS.debug,
  help: { type: 'boolean', description: 'show this help' },
} as const

/** Built when asked for: start-up neither builds it nor loads the help layout. */
export const help = async (): Promise<string> =>
  (await import('../flag-help.js')).helpText(
    'iamra read-certificate-data --certificate FILE|URI',
    'Prints the key type, base64 DER, decimal serial and supported algorithms of the (first) certificate in FILE; for a pkcs11: URI, lists the matching certificates on the tokens.',
    FLAGS,
  )

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags } = parseFlags('read-certificate-data', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(await help())
    return 0
  }
  checkIdentityFlags(flags)
  const file = list(flags.certificate)[0]
  if (file === undefined) throw new IamraError('USAGE', 'read-certificate-data needs --certificate FILE or a pkcs11: URI')
  if (/^pkcs11:/i.test(file)) {
    const found = await (await ctx.keys.pkcs11()).listIdentities(file, flags['pkcs11-lib'])
    ctx.stdout(found.length === 0 ? 'No matching identities\n' : `Matching identities\n${found.map((c, i) => describe(i + 1, c.cert, c.uri)).join('')}`)
    return 0
  }
  const first = (await loadCertificates(file, commandFileReader(ctx.env)))[0]
  if (first === undefined) throw new IamraError('CERT_MALFORMED', `${file}: no certificate found`)
  // ML-DSA first: on Node 20 `publicKey` throws for such certificates
  const level = certificateMlDsaLevel(first.cert)
  const type = level === undefined ? first.cert.publicKey.asymmetricKeyType : undefined
  const keyType = level !== undefined ? `ML-DSA-${level}` : type === 'rsa' ? 'RSA' : type === 'ec' ? 'EC' : String(type).toUpperCase()
  const prefix = keyType === 'RSA' ? 'RSA' : 'EC'
  ctx.stdout(
    JSON.stringify({
      keyType,
      certificateData: first.der.toString('base64'),
      serialNumber: decimalSerial(first.cert),
      // pure ML-DSA has no digest choice: its one algorithm is the parameter set
      supportedAlgorithms: level !== undefined ? [keyType] : [`${prefix}SHA256`, `${prefix}SHA384`, `${prefix}SHA512`],
    }),
  )
  return 0
}

/** One "Matching identities" entry, as the official helper prints it; DNs in RFC 2253 order. */
function describe(n: number, cert: X509Certificate, uri: string): string {
  const dn = (s: string): string => s.split('\n').reverse().join(',')
  const lines = [
    `${n}) Hex Fingerprint: ${createHash('sha1').update(cert.raw).digest('hex')}`,
    `\tSubject: ${dn(cert.subject)}`,
    `\tIssuer: ${dn(cert.issuer)}`,
    `\tSerial Number: ${cert.serialNumber.toUpperCase()}`,
    `\tURI: ${uri}`,
  ]
  return `${lines.join('\n')}\n`
}
