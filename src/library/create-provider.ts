/**
 * The provider behind fromRolesAnywhere, with its clock, environment, randomness and transport
 * passed in (fromRolesAnywhere passes the real ones). The factory checks the options and does no
 * I/O; each call reads the identity afresh, makes one CreateSession (with its retries) and maps the
 * answer to an SDK credential identity. Nothing is cached here: SDK clients memoize their provider.
 */
import { readFile } from 'node:fs/promises'
import { IamraError } from '../errors.js'
import { accountOf } from '../rolesanywhere/arn.js'
import { createSession } from '../rolesanywhere/create-session.js'
import { createTransport, type Transport, type TransportOptions } from '../rolesanywhere/transport.js'
import { userAgent } from '../version.js'
import { CredentialsProviderError } from './credentials-provider-error.js'
import { optionFields, optionOf } from './error-advice.js'
import { loadIdentity } from './load-identity.js'
import { isUnconfigured, resolveOptions, type ResolvedOptions } from './resolve-options.js'
import type { FromRolesAnywhereInit, Logger, ProviderCallOptions, RolesAnywhereCredentials, RolesAnywhereProvider } from './types.js'

export interface ProviderDeps {
  readonly now: () => Date
  readonly env: Readonly<Record<string, string | undefined>>
  readonly sleep: (ms: number) => Promise<void>
  /** Uniform in [0, 1): retry jitter. */
  readonly random: () => number
  readonly transport?: ((opts: TransportOptions) => Transport) | undefined
}

export function createProvider(init: FromRolesAnywhereInit, deps: ProviderDeps): RolesAnywhereProvider {
  init.logger?.debug('iamra - fromRolesAnywhere')
  if (isUnconfigured(init)) {
    return async (options?: ProviderCallOptions) => {
      throw new CredentialsProviderError('fromRolesAnywhere is not configured: trustAnchorArn, profileArn, roleArn and certificate are all unset', {
        code: 'ARN_INVALID',
        tryNextLink: true,
        fields: ['trustAnchorArn', 'profileArn', 'roleArn', 'certificate'],
        logger: init.logger ?? options?.callerClientConfig?.logger,
      })
    }
  }
  const opts = resolveOptions(init, deps.env, init.logger)
  const makeTransport = deps.transport ?? createTransport
  return async (options?: ProviderCallOptions) => {
    const logger = init.logger ?? options?.callerClientConfig?.logger
    logger?.debug('iamra - fromRolesAnywhere: CreateSession')
    try {
      return await credentials(opts, deps, makeTransport, logger)
    } catch (e) {
      throw asProviderError(e, logger)
    }
  }
}

async function credentials(
  opts: ResolvedOptions,
  deps: ProviderDeps,
  makeTransport: (o: TransportOptions) => Transport,
  logger: Logger | undefined,
): Promise<RolesAnywhereCredentials> {
  const identity = await loadIdentity(opts.identity, deps.now())
  const caPem = opts.caBundlePath === undefined ? undefined : await readCaBundle(opts.caBundlePath)
  const transport = makeTransport({
    timeoutMs: opts.timeoutMs,
    verifyTls: true,
    ...(caPem === undefined ? {} : { caPem }),
    ...(opts.proxy === undefined ? {} : { proxy: opts.proxy }),
  })
  const debug = logger === undefined ? undefined : (line: string) => logger.debug(`iamra - fromRolesAnywhere: ${line}`)
  debug?.(`certificate serial ${identity.serial}, valid to ${identity.notAfter.toISOString()}; endpoint ${opts.endpoint.url.href}`)
  const c = await createSession(opts.request, identity, opts.endpoint, {
    transport,
    now: deps.now,
    sleep: deps.sleep,
    random: deps.random,
    debug,
    userAgent: `${userAgent()} lib/fromRolesAnywhere`,
    maxAttempts: opts.maxAttempts,
  })
  return {
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    sessionToken: c.sessionToken,
    expiration: c.expiration,
    accountId: accountOf(c.assumedRoleArn ?? c.roleArn) ?? opts.roleAccount,
  }
}

async function readCaBundle(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    throw new CredentialsProviderError(`AWS_CA_BUNDLE=${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      code: 'ENDPOINT_INVALID',
      fields: ['env'],
      cause: e,
    })
  }
}

function asProviderError(e: unknown, logger: Logger | undefined): CredentialsProviderError {
  if (e instanceof CredentialsProviderError) {
    logger?.debug(`iamra - fromRolesAnywhere (!) ${e.message} [${e.code}]`)
    return e
  }
  if (e instanceof IamraError) {
    return new CredentialsProviderError(e.describe(optionOf), { code: e.code, upstreamCode: e.upstreamCode, fields: optionFields(e), cause: e, logger })
  }
  return new CredentialsProviderError(`fromRolesAnywhere failed unexpectedly: ${(e as Error)?.message ?? String(e)}`, { code: 'INTERNAL', cause: e, logger })
}
