/**
 * The library's words for the core's fields: each input is the option that sets it, so a core error
 * about `passphrase` reads `passphrase ...`. Inputs the library takes only through a signer (TPM, PKCS#11)
 * name the `signer` option.
 */
import type { FieldNamer, IamraError, IamraField } from '../errors.js'
import type { OptionField } from './credentials-provider-error.js'

const OPTIONS: Readonly<Record<IamraField, OptionField | undefined>> = {
  certificate: 'certificate',
  privateKey: 'privateKey',
  intermediates: 'intermediates',
  passphrase: 'passphrase',
  tpmKeyPassword: 'signer',
  pin: 'signer',
  reusePin: 'signer',
  pkcs11Module: 'signer',
  trustAnchorArn: 'trustAnchorArn',
  profileArn: 'profileArn',
  roleArn: 'roleArn',
  region: 'region',
  endpoint: 'endpoint',
  durationSeconds: 'durationSeconds',
  timeout: 'timeout',
  roleSessionName: 'roleSessionName',
  configurationDirectory: undefined,
  cacheDirectory: undefined,
  containerCredentials: undefined,
  listen: undefined,
}

export const optionOf: FieldNamer = (field) => `the ${OPTIONS[field] ?? field} option`

/** The options an error is about, in the library's names. */
export function optionFields(e: IamraError): OptionField[] {
  return [...new Set(e.fields.flatMap((f) => (OPTIONS[f] === undefined ? [] : [OPTIONS[f]])))]
}
