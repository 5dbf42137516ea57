/**
 * Roles Anywhere endpoint resolution: partitions, FIPS and dual-stack variants, pseudo-regions,
 * and custom endpoints (whose path prefix is kept and signed as sent).
 */
import { fail } from '../errors.js'

interface Partition {
  readonly name: string
  readonly pattern: RegExp
  readonly dnsSuffix: string
  readonly dualStackDnsSuffix: string | undefined
}

// Order matters: the more specific us-gov/iso patterns come before the generic aws one.
const PARTITIONS: readonly Partition[] = [
  { name: 'aws-us-gov', pattern: /^us-gov-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
  { name: 'aws-cn', pattern: /^cn-\w+-\d+$/, dnsSuffix: 'amazonaws.com.cn', dualStackDnsSuffix: 'api.amazonwebservices.com.cn' },
  { name: 'aws-iso', pattern: /^us-iso-\w+-\d+$/, dnsSuffix: 'c2s.ic.gov', dualStackDnsSuffix: undefined },
  { name: 'aws-iso-b', pattern: /^us-isob-\w+-\d+$/, dnsSuffix: 'sc2s.sgov.gov', dualStackDnsSuffix: undefined },
  { name: 'aws-iso-e', pattern: /^eu-isoe-\w+-\d+$/, dnsSuffix: 'cloud.adc-e.uk', dualStackDnsSuffix: undefined },
  { name: 'aws-iso-f', pattern: /^us-isof-\w+-\d+$/, dnsSuffix: 'csp.hci.ic.gov', dualStackDnsSuffix: undefined },
  { name: 'aws', pattern: /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/, dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' },
]

export interface EndpointInit {
  readonly region: string
  /** Explicit `--endpoint`; wins over the environment. */
  readonly endpoint?: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
}

export interface ResolvedEndpoint {
  /** Base URL, no trailing slash; `/sessions` is appended to its path. */
  readonly url: URL
  /** The region to sign with (pseudo-region markers stripped). */
  readonly signingRegion: string
  readonly partition: string
  readonly fips: boolean
  readonly custom: boolean
}

const truthy = (v: string | undefined): boolean => v !== undefined && /^(true|1|yes)$/i.test(v.trim())

export function partitionOf(region: string): Partition {
  return PARTITIONS.find((p) => p.pattern.test(region)) ?? (PARTITIONS[PARTITIONS.length - 1] as Partition)
}

export function resolveEndpoint(init: EndpointInit): ResolvedEndpoint {
  let region = init.region
  let fips = truthy(init.env.AWS_USE_FIPS_ENDPOINT)
  const dualStack = truthy(init.env.AWS_USE_DUALSTACK_ENDPOINT)
  if (/^fips-|-fips-|-fips$/.test(region)) {
    region = region.replace(/^fips-|-fips$/, '').replace(/-fips-/, '-')
    fips = true
  }
  if (!/^[a-z0-9-]+$/.test(region)) fail('USAGE', `invalid region "${init.region}"`, { field: 'region' })
  const partition = partitionOf(region)
  const custom = [init.endpoint, init.env.AWS_ENDPOINT_URL_ROLESANYWHERE, init.env.AWS_ENDPOINT_URL].find((v) => v !== undefined && v !== '')
  if (custom !== undefined && custom !== '') {
    if (fips) fail('ENDPOINT_INVALID', `a custom endpoint (${custom}) cannot be combined with FIPS (AWS_USE_FIPS_ENDPOINT or a fips region)`)
    if (dualStack) fail('ENDPOINT_INVALID', `a custom endpoint (${custom}) cannot be combined with AWS_USE_DUALSTACK_ENDPOINT`)
    return { url: parseCustom(custom), signingRegion: region, partition: partition.name, fips, custom: true }
  }
  const suffix = dualStack ? partition.dualStackDnsSuffix : partition.dnsSuffix
  if (suffix === undefined) fail('ENDPOINT_INVALID', `partition ${partition.name} (region ${region}) has no dual-stack endpoint`)
  const host = `${fips ? 'rolesanywhere-fips' : 'rolesanywhere'}.${region}.${suffix}`
  return { url: new URL(`https://${host}`), signingRegion: region, partition: partition.name, fips, custom: false }
}

function parseCustom(value: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail('ENDPOINT_INVALID', `endpoint "${value}" is not a URL (expected e.g. https://rolesanywhere.example.com)`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('ENDPOINT_INVALID', `endpoint "${value}" must be http:// or https://`)
  if (url.search !== '' || url.hash !== '') fail('ENDPOINT_INVALID', `endpoint "${value}" must not have a query or fragment`)
  if (url.username !== '' || url.password !== '') fail('ENDPOINT_INVALID', `endpoint "${value}" must not carry credentials`)
  return url
}

/** The Host header value: with the port only when it is not the scheme's default. */
export function hostHeader(url: URL): string {
  return url.host // WHATWG URL already drops :443 for https and :80 for http
}

/** The request path for CreateSession under a base URL, keeping any path prefix. */
export function sessionsPath(url: URL): string {
  return `${url.pathname.replace(/\/+$/, '')}/sessions`
}
