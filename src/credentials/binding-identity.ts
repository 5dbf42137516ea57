/** The identity inputs of a stored binding (token or Kubernetes): files, PKCS#11 and TPM options. */
import type { BindingSource } from '../binding/binding-file.js'
import type { IdentityInit } from '../identity/identity.js'

export function bindingIdentity(b: BindingSource): Omit<IdentityInit, 'now'> {
  return {
    certificateFiles: b.certificateFiles,
    intermediatesFiles: b.intermediatesFiles,
    privateKeyFile: b.privateKeyFile,
    pkcs11Lib: b.pkcs11Lib,
    reusePin: b.reusePin,
    tpmKeyPasswordFile: b.tpmKeyPasswordFile,
    noTpmKeyPassword: b.noTpmKeyPassword,
  }
}
