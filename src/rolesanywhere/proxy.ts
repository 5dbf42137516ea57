/** Proxy selection from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), as the AWS SDKs do. */

export function proxyFor(target: URL, env: Readonly<Record<string, string | undefined>>): URL | undefined {
  const pick = (...names: string[]): string | undefined => names.map((n) => env[n]).find((v) => v !== undefined && v !== '')
  const raw = target.protocol === 'https:' ? pick('HTTPS_PROXY', 'https_proxy') : pick('HTTP_PROXY', 'http_proxy')
  // Loopback is never proxied (as Go's and curl's proxy rules do).
  if (raw === undefined || isLoopback(target) || bypassed(target, pick('NO_PROXY', 'no_proxy') ?? '')) return undefined
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`)
  } catch {
    return undefined
  }
}

function isLoopback(target: URL): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** NO_PROXY: comma-separated hosts, `.suffix` or `suffix` domain matches, optional `:port`, `*` for all. */
export function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  for (const entry of noProxy.split(/[\s,]+/).filter(Boolean)) {
    if (entry === '*') return true
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.toLowerCase().replace(/^\[|\](?=:|$)/g, ''))
    const name = (m?.[1] ?? '').replace(/^\*?\./, '')
    if (m?.[2] !== undefined && m[2] !== port) continue
    if (host === name || host.endsWith(`.${name}`)) return true
  }
  return false
}
