/**
 * The issuer's keys as jose sees them: loaded once, re-loaded when a token names an unknown key
 * (not more often than the cooldown, so forged key ids cannot make the agent hammer the source)
 * and after `maxAgeMs` in any case. A failed re-load keeps the keys it had.
 */
import type * as Jose from 'jose'
import { IamraError } from '../errors.js'
import type { JsonWebKeySet, JwksSource } from './jwks-source.js'

export interface KeySetInit {
  readonly jose: typeof Jose
  readonly source: JwksSource
  readonly cooldownMs: number
  readonly maxAgeMs: number
  readonly now: () => number
  /** Told about each (re)load: how many keys, or the error. */
  readonly onLoad?: (result: { keys: number } | { error: unknown }) => void
}

export interface KeySet {
  /** For jose's jwtVerify. */
  readonly getKey: Jose.JWTVerifyGetKey
  /** Loads now (start-up); rejects when the source cannot be read. */
  load(): Promise<void>
  /** Whether keys have been loaded (for /healthz). */
  readonly loaded: boolean
}

export function createKeySet(init: KeySetInit): KeySet {
  const { jose } = init
  let local: ReturnType<typeof jose.createLocalJWKSet> | undefined
  let loadedAt = -Infinity
  let attemptAt = -Infinity
  let inflight: Promise<void> | undefined
  const reload = (): Promise<void> => {
    inflight ??= (async () => {
      attemptAt = init.now()
      try {
        const jwks: JsonWebKeySet = await init.source.load()
        local = jose.createLocalJWKSet(jwks as Jose.JSONWebKeySet)
        loadedAt = init.now()
        init.onLoad?.({ keys: jwks.keys.length })
      } catch (e) {
        init.onLoad?.({ error: e })
        throw e
      } finally {
        inflight = undefined
      }
    })()
    return inflight
  }
  const mayReload = (): boolean => init.now() - attemptAt >= init.cooldownMs
  const getKey: Jose.JWTVerifyGetKey = async (header, token) => {
    if (local === undefined || (init.now() - loadedAt >= init.maxAgeMs && mayReload())) {
      if (local === undefined && !mayReload() && inflight === undefined) {
        throw new IamraError(
          'JWKS_UNAVAILABLE',
          `no keys loaded from ${init.source.describe} yet; the next attempt is within ${Math.ceil(init.cooldownMs / 1000)} s`,
        )
      }
      await reload().catch((e: unknown) => {
        if (local === undefined) throw e
      })
    }
    try {
      return await (local as NonNullable<typeof local>)(header, token)
    } catch (e) {
      // A rotated signing key: its kid is new to us. Re-load once, within the cooldown.
      if (!(e instanceof jose.errors.JWKSNoMatchingKey) || !mayReload()) throw e
      await reload().catch(() => {})
      return (local as NonNullable<typeof local>)(header, token)
    }
  }
  return {
    getKey,
    load: reload,
    get loaded() {
      return local !== undefined
    },
  }
}
