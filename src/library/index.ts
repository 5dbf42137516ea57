/**
 * `import { fromRolesAnywhere } from 'iamra'`: IAM Roles Anywhere credentials for the AWS SDK for
 * JavaScript v3, in-process. This module is the library's composition root: it alone reads the
 * real clock, environment and randomness, and hands them to the provider. It loads no server or
 * CLI code (fastify, yargs, prom-client, jose).
 */
import { createProvider } from './create-provider.js'
import { DEFAULT_REFRESH_BEFORE_MS, memoizeWith, type MemoizeOptions, type MemoizedCallOptions } from './memoize.js'
import type { FromRolesAnywhereInit, RolesAnywhereProvider } from './types.js'

/**
 * A credential provider for the AWS SDK for JavaScript v3: pass it as a client's `credentials`.
 * Checks the options now (throwing CredentialsProviderError naming the option at fault) and does
 * no I/O until called; every call reads the certificate and key afresh and makes one CreateSession.
 * It does not cache: clients do; use {@link memoize} to share one provider outside a client.
 */
export function fromRolesAnywhere(init: FromRolesAnywhereInit): RolesAnywhereProvider {
  return createProvider(init, {
    now: () => new Date(),
    env: init.env ?? { ...process.env },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
  })
}

/**
 * Caches a provider's credentials until they come within `refreshBeforeMs` (default 5 min) of
 * expiring; concurrent calls share one refresh; `{ forceRefresh: true }` refreshes now.
 */
export function memoize<T extends object, O extends object = object>(
  provider: (options?: O) => Promise<T>,
  options: MemoizeOptions = {},
): (options?: MemoizedCallOptions<O>) => Promise<T> {
  return memoizeWith(provider, { refreshBeforeMs: options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS, now: options.now ?? Date.now })
}

export { CredentialsProviderError, type CredentialsProviderErrorOptions, type OptionField } from './credentials-provider-error.js'
export type { MemoizeOptions, MemoizedCallOptions } from './memoize.js'
export type { IamraErrorCode } from '../errors.js'
export type {
  FromRolesAnywhereInit,
  IdentitySource,
  Logger,
  ProviderCallOptions,
  RolesAnywhereCredentials,
  RolesAnywhereProvider,
  Signer,
  SigningAlgorithm,
} from './types.js'
