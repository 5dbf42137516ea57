/**
 * Where the service-account issuer's public keys come from: a JWKS file (`kubectl get --raw
 * /openid/v1/jwks`), or an https URL such as the API server's /openid/v1/jwks, fetched with a
 * private CA and, for the API server, a bearer token re-read from its (rotating) file each time.
 */
import { readFile } from 'node:fs/promises'
import { request } from 'node:https'
import { IamraError, fail } from '../errors.js'

export interface JsonWebKeySet {
  readonly keys: ReadonlyArray<Record<string, unknown>>
}

export interface JwksSource {
  /** For messages: the file or URL. */
  readonly describe: string
  load(): Promise<JsonWebKeySet>
}

const MAX_BYTES = 1 << 20

function parseJwks(text: string, from: string): JsonWebKeySet {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return fail('JWKS_UNAVAILABLE', `${from} is not JSON`)
  }
  const keys = (raw as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) {
    return fail('JWKS_UNAVAILABLE', `${from} is not a JWK set (no "keys" array of objects)`)
  }
  return { keys: keys as Array<Record<string, unknown>> }
}

export function fileJwks(path: string): JwksSource {
  return {
    describe: path,
    load: async () => {
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch (e) {
        throw new IamraError('JWKS_UNAVAILABLE', `cannot read the JWKS file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
          cause: e,
        })
      }
      return parseJwks(text, path)
    },
  }
}

export interface HttpsJwksInit {
  readonly url: URL
  /** Extra CA certificates (PEM) to trust, e.g. the cluster CA. */
  readonly ca?: string | undefined
  /** A bearer-token file (a projected service-account token), read on every fetch. */
  readonly tokenFile?: string | undefined
  readonly timeoutMs?: number
}

export function httpsJwks(init: HttpsJwksInit): JwksSource {
  // The CLI refuses other URLs with its flag named; signing keys are never fetched in the clear.
  if (init.url.protocol !== 'https:') fail('INTERNAL', `the JWKS URL ${init.url.href} is not https://`)
  const describe = init.url.href
  return {
    describe,
    load: async () => {
      let token: string | undefined
      if (init.tokenFile !== undefined) {
        try {
          token = (await readFile(init.tokenFile, 'utf8')).trim()
        } catch (e) {
          throw new IamraError(
            'JWKS_UNAVAILABLE',
            `cannot read the token file ${init.tokenFile} for the JWKS URL: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
            { cause: e },
          )
        }
      }
      const text = await new Promise<string>((resolve, reject) => {
        const req = request(
          init.url,
          {
            method: 'GET',
            headers: { accept: 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
            ...(init.ca === undefined ? {} : { ca: init.ca }),
            timeout: init.timeoutMs ?? 5000,
          },
          (res) => {
            const chunks: Buffer[] = []
            let size = 0
            res.on('data', (c: Buffer) => {
              size += c.length
              if (size > MAX_BYTES) req.destroy(new Error(`answer larger than ${MAX_BYTES} bytes`))
              else chunks.push(c)
            })
            res.on('end', () => {
              if (res.statusCode !== 200)
                reject(
                  new Error(
                    `HTTP ${res.statusCode ?? '?'}${res.statusCode === 401 || res.statusCode === 403 ? ' (check the token file, its service account and the RBAC binding for service-account issuer discovery)' : ''}`,
                  ),
                )
              else resolve(Buffer.concat(chunks).toString('utf8'))
            })
            res.on('error', reject)
          },
        )
        req.on('timeout', () => req.destroy(new Error('timed out')))
        req.on('error', reject)
        req.end()
      }).catch((e: unknown) => {
        throw new IamraError(
          'JWKS_UNAVAILABLE',
          `cannot fetch the JWKS from ${describe}: ${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`.replace(/ +/g, ' '),
          { cause: e },
        )
      })
      return parseJwks(text, describe)
    },
  }
}
