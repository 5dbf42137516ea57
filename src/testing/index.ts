/** The testing kit: a throw-away PKI and the verifying fake Roles Anywhere endpoint. */
export { createCa, createLeaf, type CertOptions, type KeySpec, type TestCert } from './pki.js'
export {
  createFakeHandler,
  type FakeCall,
  type FakeConfig,
  type FakeHandler,
  type FakeRequest,
  type FakeResponse,
  type MintRequest,
  type MintedCredentials,
} from './fake-endpoint/handler.js'
export { startFakeEndpoint, type FakeEndpoint } from './fake-endpoint/server.js'
export { stsMinter } from './fake-endpoint/sts-mint.js'
export { createMlDsaCertificate, type MlDsaCertOptions, type MlDsaKeyForm, type MlDsaTestCert } from './mldsa-pki.js'
