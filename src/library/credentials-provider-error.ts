/**
 * The error the provider rejects with: the AWS SDK's `CredentialsProviderError` shape (name,
 * message, `tryNextLink`) plus iamra's stable code and the option at fault.
 *
 * Why not the SDK's own class: it lives in `@smithy/property-provider` (now deprecated) or
 * `@smithy/core/config`, and a runtime dependency on either would pin a copy next to the caller's
 * own SDK, so `instanceof` across the two copies would be false anyway. The SDK's chains only read
 * `tryNextLink` (`chain`, `createCredentialChain`, the default provider), which this class has.
 */
import type { IamraErrorCode } from '../errors.js'
import type { FromRolesAnywhereInit, Logger } from './types.js'

/** The option an error is about. */
export type OptionField = keyof FromRolesAnywhereInit

export interface CredentialsProviderErrorOptions {
  /** True only when the provider is not configured at all, so a chain may try its next source. */
  readonly tryNextLink?: boolean | undefined
  readonly logger?: Logger | undefined
  readonly code: IamraErrorCode
  /** Every option at fault, the first being the main one. */
  readonly fields?: readonly OptionField[] | undefined
  /** The service's own error code (e.g. `AccessDeniedException`), when the service refused. */
  readonly upstreamCode?: string | undefined
  readonly cause?: unknown
}

export class CredentialsProviderError extends Error {
  override readonly name = 'CredentialsProviderError'
  /** Whether a credential chain should move on to its next provider. */
  readonly tryNextLink: boolean
  /** iamra's stable error code (docs/errors.md). */
  readonly code: IamraErrorCode
  /** The option at fault, if one is. */
  readonly field: OptionField | undefined
  readonly fields: readonly OptionField[]
  readonly upstreamCode: string | undefined

  constructor(message: string, options: CredentialsProviderErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.tryNextLink = options.tryNextLink ?? false
    this.code = options.code
    this.fields = options.fields ?? []
    this.field = this.fields[0]
    this.upstreamCode = options.upstreamCode
    // As the SDK's ProviderError does: says which provider gave up, at debug level.
    options.logger?.debug(`iamra - fromRolesAnywhere ${this.tryNextLink ? '->' : '(!)'} ${message} [${this.code}]`)
  }
}
