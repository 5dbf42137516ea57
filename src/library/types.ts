/**
 * The public types of `import … from 'iamra'`. They import nothing from the rest of iamra (or from
 * the AWS SDK), so the published declarations stand alone; they are shaped to be assignable to the
 * SDK's own (`AwsCredentialIdentity`, `AwsCredentialIdentityProvider`, `Logger`).
 */

/**
 * Where a certificate or key comes from, read again on every call of the provider (so renewed files
 * are picked up): a file path; PEM text (a string holding `-----BEGIN `); bytes (PEM or DER; for the
 * certificate also PKCS#12); or a function returning one of those (a secrets manager, say).
 */
export type IdentitySource = string | Uint8Array | (() => Promise<string | Uint8Array>)

/** The SigV4-X509 algorithms a {@link Signer} can produce. */
export type SigningAlgorithm = 'AWS4-X509-RSA-SHA256' | 'AWS4-X509-ECDSA-SHA256'

/**
 * The private-key operation, for keys that never enter the process: PKCS#11 tokens, TPMs, AWS KMS.
 * `sign` receives the SigV4-X509 string to sign (UTF-8 bytes) and returns its signature: SHA-256
 * then PKCS#1 v1.5 for RSA, SHA-256 then ECDSA in DER (`SEQUENCE { r, s }`) for EC. The key must
 * belong to the leaf of `certificate`.
 */
export interface Signer {
  readonly algorithm: SigningAlgorithm
  sign(data: Uint8Array): Promise<Uint8Array>
}

/** What the provider logs to: the SDK's `Logger` fits. Only `debug` is used, and never with a secret. */
export interface Logger {
  debug(...content: unknown[]): void
}

/** Options of {@link fromRolesAnywhere}. Numbers are numbers, durations in the unit named. */
export interface FromRolesAnywhereInit {
  /** `arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID`; its region is the endpoint's unless `region` says otherwise. */
  readonly trustAnchorArn: string
  /** `arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID`, in the trust anchor's region. */
  readonly profileArn: string
  /** `arn:aws:iam::ACCOUNT:role/NAME`: the role to get credentials for. */
  readonly roleArn: string
  /** The end-entity certificate; the same source may also hold its chain, and the key (PEM or PKCS#12). */
  readonly certificate: IdentitySource
  /** Intermediate CA certificates, sent so the service can build the chain to the trust anchor. */
  readonly intermediates?: IdentitySource | readonly IdentitySource[] | undefined
  /** The private key (PKCS#8, PKCS#1, SEC1; PEM or DER); absent when `certificate` holds it or `signer` is given. */
  readonly privateKey?: IdentitySource | undefined
  /** Password of an encrypted PKCS#8 key or a PKCS#12 file. */
  readonly passphrase?: string | undefined
  /** Signs with a key held elsewhere (PKCS#11, TPM, KMS); excludes `privateKey`. */
  readonly signer?: Signer | undefined
  /** Region of the Roles Anywhere endpoint; default: the trust anchor's. */
  readonly region?: string | undefined
  /** Endpoint base URL (for tests, proxies or private endpoints); `/sessions` is appended to its path. */
  readonly endpoint?: string | undefined
  /** Session lifetime in seconds, 900 to 43200 (the profile may cap it); default 3600. */
  readonly durationSeconds?: number | undefined
  /** Session name shown in CloudTrail and in the assumed-role ARN; the profile must accept it (`acceptRoleSessionName`). */
  readonly roleSessionName?: string | undefined
  /** Limit per attempt (connect, send, receive), in milliseconds; default 10000. */
  readonly timeout?: number | undefined
  /** Retries after the first attempt, for throttling, 5xx and network errors; default 2. */
  readonly maxRetries?: number | undefined
  /** Where to say what happened (debug level only); default: the calling client's logger. */
  readonly logger?: Logger | undefined
  /**
   * Environment honoured as the CLI does: AWS_ENDPOINT_URL_ROLESANYWHERE, AWS_ENDPOINT_URL,
   * AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, AWS_CA_BUNDLE, HTTPS_PROXY, NO_PROXY.
   * Default: `process.env` as it is when `fromRolesAnywhere` is called; pass `{}` to ignore it.
   */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/** Temporary credentials: an `AwsCredentialIdentity` with every field set. */
export interface RolesAnywhereCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  /** When they stop working. */
  readonly expiration: Date
  /** The role's account. */
  readonly accountId: string
}

/** What an SDK client passes when it calls its credential provider. */
export interface ProviderCallOptions {
  readonly callerClientConfig?: { readonly logger?: Logger | undefined } | undefined
}

/** A credential provider, as the AWS SDK for JavaScript v3 calls one: each call makes one CreateSession. */
export type RolesAnywhereProvider = (options?: ProviderCallOptions) => Promise<RolesAnywhereCredentials>
