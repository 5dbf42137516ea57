/** `iamra read-certificate-data`: what the official helper prints about a certificate file. */
import { IamraError } from '../../errors.js'
import { decimalSerial, loadCertificates } from '../../identity/certificates.js'
import type { CliContext } from '../context.js'
import { helpText, list, parseFlags } from '../flags.js'
import { checkIdentityFlags, IDENTITY_FLAGS } from '../identity-flags.js'

const FLAGS = {
  certificate: IDENTITY_FLAGS.certificate,
  'cert-selector': IDENTITY_FLAGS['cert-selector'],
  'system-store-name': IDENTITY_FLAGS['system-store-name'],
  'pkcs11-lib': IDENTITY_FLAGS['pkcs11-lib'],
  debug: IDENTITY_FLAGS.debug,
  help: { type: 'boolean', description: 'show this help' },
} as const

export const HELP = helpText('iamra read-certificate-data --certificate FILE',
  'Prints the key type, base64 DER, decimal serial and supported algorithms of the (first) certificate in FILE.', FLAGS)

export async function run(args: readonly string[], ctx: CliContext): Promise<number> {
  const { flags } = parseFlags('read-certificate-data', FLAGS, args)
  if (flags.help === true) {
    ctx.stdout(HELP)
    return 0
  }
  checkIdentityFlags(flags)
  const file = list(flags.certificate)[0]
  if (file === undefined) throw new IamraError('USAGE', 'read-certificate-data needs --certificate FILE')
  const first = (await loadCertificates(file))[0]
  if (first === undefined) throw new IamraError('CERT_MALFORMED', `${file}: no certificate found`)
  const type = first.cert.publicKey.asymmetricKeyType
  const keyType = type === 'rsa' ? 'RSA' : type === 'ec' ? 'EC' : String(type).toUpperCase()
  const prefix = keyType === 'RSA' ? 'RSA' : 'EC'
  ctx.stdout(JSON.stringify({
    keyType,
    certificateData: first.der.toString('base64'),
    serialNumber: decimalSerial(first.cert),
    supportedAlgorithms: [`${prefix}SHA256`, `${prefix}SHA384`, `${prefix}SHA512`],
  }))
  return 0
}
