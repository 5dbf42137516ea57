/**
 * Where a request's access token is: exactly one `Authorization` header (`Bearer TOKEN` or the
 * bare token, as SDKs send the variable verbatim) or exactly one `access_token` query parameter.
 */
import { IamraError } from '../errors.js'

export interface PresentedToken {
  readonly token: string
  readonly from: 'header' | 'query'
}

export function extractToken(rawHeaders: readonly string[], rawUrl: string): PresentedToken {
  const headerValues: string[] = []
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'authorization') headerValues.push(rawHeaders[i + 1] ?? '')
  }
  const q = rawUrl.indexOf('?')
  const queryValues = q < 0 ? [] : new URLSearchParams(rawUrl.slice(q + 1)).getAll('access_token')
  const count = headerValues.length + queryValues.length
  if (count === 0) {
    throw new IamraError(
      'TOKEN_MISSING',
      "no access token: send it in the Authorization header or the access_token query parameter, as the binding's env file says",
    )
  }
  if (count > 1) throw new IamraError('TOKEN_AMBIGUOUS', 'more than one access token in the request')
  if (headerValues.length === 1) {
    const value = (headerValues[0] ?? '').trim()
    const m = /^Bearer\s+(\S+)$/i.exec(value)
    return { token: m?.[1] ?? value, from: 'header' }
  }
  return { token: queryValues[0] ?? '', from: 'query' }
}

/** The URL with any access_token value replaced, for logs; names are compared decoded, as parsed. */
export function redactUrl(rawUrl: string): string {
  const q = rawUrl.indexOf('?')
  if (q < 0) return rawUrl
  const pairs = rawUrl
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const rawName = eq < 0 ? pair : pair.slice(0, eq)
      let name = rawName
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '))
      } catch {
        // undecodable: keep it as it is
      }
      return name.toLowerCase() === 'access_token' ? `${rawName}=[redacted]` : pair
    })
  return `${rawUrl.slice(0, q)}?${pairs.join('&')}`
}
