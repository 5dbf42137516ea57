/**
 * The official helper's identity and CreateSession flags, shared by credential-process,
 * sign-string, update and serve's IMDS mode, with its mutual exclusions and Linux limits, and their
 * conversion into the typed inputs of the core.
 */
import { IamraError } from '../errors.js'
import { MAX_DURATION, MIN_DURATION } from '../rolesanywhere/create-session.js'
import { resolveSessionConfig, type SessionConfig } from '../rolesanywhere/session-config.js'
import { readSessionEnvironment } from '../rolesanywhere/session-environment.js'
import type { IdentityInit } from '../identity/identity.js'
import { isEnvSource, readEnvText } from '../secrets/env-source.js'
import { commandFileReader } from '../identity/input-files.js'
import { last, list, type FlagTable, type ParsedFlags } from './flags.js'

export const IDENTITY_FLAGS = {
  certificate: {
    type: 'string',
    multiple: true,
    placeholder: 'FILE|URI|env:NAME',
    description:
      'certificate file (PEM bundle, full chain in any order, DER, or PKCS#12 .p12/.pfx with its key), a pkcs11: URI, or env:NAME for PEM or base64 in an environment variable',
  },
  'private-key': {
    type: 'string',
    placeholder: 'FILE|URI|env:NAME',
    description: 'private key file (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8, TSS2 PRIVATE KEY), handle:0x81... (TPM), a pkcs11: URI (RFC 7512), or env:NAME',
  },
  intermediates: { type: 'string', multiple: true, placeholder: 'FILE|env:NAME', description: 'intermediate CA certificates (PEM bundle)' },
  'pkcs8-password': {
    type: 'string',
    secret: true,
    placeholder: 'PASSWORD',
    description: 'password of an encrypted PKCS#8 key or a PKCS#12 file, or env:NAME (prompted on a terminal when absent)',
  },
  'cert-selector': { type: 'string', placeholder: 'SELECTOR', description: 'OS certificate store selector (macOS/Windows only)' },
  'system-store-name': { type: 'string', placeholder: 'NAME', description: 'Windows certificate store (Windows only)' },
  'use-latest-expiring-certificate': { type: 'boolean', description: 'OS store tie-break (macOS/Windows only)' },
  'pkcs11-lib': {
    type: 'string',
    placeholder: 'PATH',
    description: 'PKCS#11 module for pkcs11: URIs (default /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so; module-path= in the URI wins)',
  },
  'reuse-pin': { type: 'boolean', description: 'use the token user PIN for keys that want a PIN per signature (CKA_ALWAYS_AUTHENTICATE)' },
  'tpm-key-password': {
    type: 'string',
    secret: true,
    placeholder: 'PASSWORD',
    description: 'password of a TPM key (TSS2 PRIVATE KEY file or handle:0x81...); prompted on a terminal when absent',
  },
  'no-tpm-key-password': { type: 'boolean', description: 'the TPM key has no password' },
  debug: { type: 'boolean', description: 'explain what is sent and received on stderr (never secrets)' },
} as const satisfies FlagTable

export const SESSION_FLAGS = {
  'trust-anchor-arn': { type: 'string', placeholder: 'ARN', description: 'trust anchor ARN (its region is the default region)' },
  'profile-arn': { type: 'string', placeholder: 'ARN', description: 'profile ARN' },
  'role-arn': { type: 'string', placeholder: 'ARN', description: 'role to assume' },
  'session-duration': {
    type: 'integer',
    unit: 'seconds',
    min: MIN_DURATION,
    max: MAX_DURATION,
    placeholder: 'SECONDS',
    defaultText: '3600',
    description: 'session duration, 900 to 43200 seconds',
  },
  'role-session-name': { type: 'string', placeholder: 'NAME', description: 'role session name (the profile must allow it)' },
  region: { type: 'string', placeholder: 'REGION', description: 'signing and endpoint region' },
  endpoint: {
    type: 'string',
    placeholder: 'URL',
    description: 'Roles Anywhere endpoint URL (a path prefix is kept); wins over AWS_ENDPOINT_URL_ROLESANYWHERE',
  },
  'no-verify-ssl': { type: 'boolean', description: 'do not verify the endpoint TLS certificate (testing only)' },
  'with-proxy': { type: 'boolean', description: 'use HTTPS_PROXY/NO_PROXY (always honoured; accepted for compatibility)' },
  timeout: {
    type: 'integer',
    unit: 'seconds',
    min: 1,
    max: 300,
    placeholder: 'SECONDS',
    defaultText: '10',
    description: 'per-attempt timeout for CreateSession',
  },
} as const satisfies FlagTable

const EXCLUSIONS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['certificate', ['cert-selector', 'system-store-name']],
  ['private-key', ['cert-selector', 'system-store-name', 'use-latest-expiring-certificate']],
  ['use-latest-expiring-certificate', ['intermediates', 'reuse-pin']],
  ['cert-selector', ['intermediates', 'reuse-pin', 'tpm-key-password', 'no-tpm-key-password']],
  ['system-store-name', ['reuse-pin']],
  ['tpm-key-password', ['reuse-pin', 'no-tpm-key-password', 'pkcs8-password']],
]

/** Rejects flag combinations the official helper rejects, then what Linux cannot do. */
export function checkIdentityFlags(flags: ParsedFlags<typeof IDENTITY_FLAGS>): void {
  const given = (n: string): boolean => (flags as Record<string, unknown>)[n] !== undefined
  for (const [a, others] of EXCLUSIONS) {
    const clash = others.filter(given)
    if (given(a) && clash.length > 0) {
      throw new IamraError('USAGE', `--${a} cannot be combined with ${clash.map((c) => `--${c}`).join(', ')}`)
    }
  }
  for (const n of ['cert-selector', 'system-store-name', 'use-latest-expiring-certificate']) {
    if (given(n))
      throw new IamraError(
        'UNSUPPORTED_ON_PLATFORM',
        `--${n} selects from the macOS or Windows certificate store, which is not supported on Linux; pass --certificate and --private-key`,
      )
  }
  if ((flags.certificate ?? []).filter((v) => /^pkcs11:/i.test(v)).length > 1) {
    throw new IamraError('USAGE', 'give at most one pkcs11: URI as --certificate (other --certificate values may be files)')
  }
}

/**
 * The identity flags as loadIdentity wants them (files, URIs, password, PKCS#11 options); `env:NAME`
 * in place of a file or the password reads the environment variable NAME of `env`.
 */
export function identityInputs(
  flags: ParsedFlags<typeof IDENTITY_FLAGS>,
  prompt: (message: string) => Promise<string | undefined>,
  env: Readonly<Record<string, string | undefined>>,
): Omit<IdentityInit, 'now'> {
  const password = last(flags['pkcs8-password'])
  return {
    certificateFiles: list(flags.certificate),
    intermediatesFiles: list(flags.intermediates),
    privateKeyFile: flags['private-key'],
    password: password !== undefined && isEnvSource(password) ? readEnvText(password, env, 'USAGE', 'password') : password,
    prompt,
    readFile: commandFileReader(env),
    pkcs11Lib: flags['pkcs11-lib'],
    reusePin: flags['reuse-pin'] === true,
    tpmKeyPassword: flags['tpm-key-password'],
    noTpmKeyPassword: flags['no-tpm-key-password'] === true,
  }
}

/** The CreateSession configuration the official flags (already typed) and the environment describe. */
export function sessionFromFlags(flags: ParsedFlags<typeof SESSION_FLAGS>, env: Readonly<Record<string, string | undefined>>): SessionConfig {
  return resolveSessionConfig({
    trustAnchorArn: flags['trust-anchor-arn'],
    profileArn: flags['profile-arn'],
    roleArn: flags['role-arn'],
    durationSeconds: flags['session-duration'],
    roleSessionName: flags['role-session-name'],
    region: flags.region,
    endpoint: flags.endpoint,
    verifyTls: flags['no-verify-ssl'] !== true,
    timeoutSeconds: flags.timeout,
    environment: readSessionEnvironment(env),
  })
}
