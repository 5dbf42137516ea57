/**
 * The CLI's words for the core's fields: each input is the flag that sets it, so a core error about
 * `privateKey` reads `--private-key ...` on the command line.
 */
import type { FieldNamer, IamraField } from '../errors.js'

const FLAGS: Readonly<Record<IamraField, string>> = {
  certificate: '--certificate',
  privateKey: '--private-key',
  intermediates: '--intermediates',
  // Secrets the CLI can also ask for on a terminal.
  passphrase: '--pkcs8-password, or run on a terminal to be asked for it',
  tpmKeyPassword: '--tpm-key-password (or --no-tpm-key-password for a key without one), or run on a terminal to be asked',
  pin: 'pin-source= or pin-value= in the pkcs11: URI',
  reusePin: '--reuse-pin',
  pkcs11Module: '--pkcs11-lib',
  trustAnchorArn: '--trust-anchor-arn',
  profileArn: '--profile-arn',
  roleArn: '--role-arn',
  region: '--region',
  endpoint: '--endpoint',
  durationSeconds: '--session-duration',
  timeout: '--timeout',
  roleSessionName: '--role-session-name',
  configurationDirectory: '--configuration-directory',
  cacheDirectory: '--cache-dir',
  containerCredentials: '--env-file (or --from-environment)',
  listen: '--listen',
}

export const flagOf: FieldNamer = (field) => FLAGS[field]
