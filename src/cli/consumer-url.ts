/**
 * The server URL that bind writes into the env file of the full-URI modes. The AWS SDKs send a token
 * over plain http only to a loopback address, `localhost` or a container-credentials address, and
 * refuse any other host before connecting (spec/sdk-protocols.md §1.2); https may name any host. A
 * URL they would refuse is refused here, before anything is written, unless the caller insists.
 */
import { ENV_SAFE_CHARACTERS, isEnvSafe } from '../binding/modes.js'
import { IamraError } from '../errors.js'

/** The plain-http hosts every current SDK accepts in AWS_CONTAINER_CREDENTIALS_FULL_URI (as the URL parser writes them). */
const HTTP_HOSTS = new Set(['localhost', '[::1]', '169.254.170.2', '169.254.170.23', '[fd00:ec2::23]'])
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

export const ALLOWED_FORMS =
  'http://127.0.0.1:PORT (any 127.x.x.x), http://[::1]:PORT, http://localhost:PORT, http://169.254.170.2, http://169.254.170.23, http://[fd00:ec2::23], or https://ANY-HOST'

/** True when the SDKs will call this URL with a token. */
export function sdksAccept(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && (HTTP_HOSTS.has(url.hostname) || LOOPBACK_V4.test(url.hostname)))
}

/** Parses `--url`; `force` lets through a host the SDKs refuse, never a malformed or unsafe URL. */
export function parseConsumerUrl(value: string, force: boolean): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new IamraError('USAGE', `--url is not a URL (expected e.g. http://127.0.0.1:7224)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new IamraError('USAGE', `--url must be http:// or https://, not ${url.protocol}`)
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new IamraError('USAGE', '--url must be a base URL without query, fragment or credentials')
  }
  // The URL goes into the env file as it is: only characters that systemd, docker and a shell read alike.
  const written = url.origin + url.pathname
  if (!isEnvSafe(written)) {
    throw new IamraError(
      'USAGE',
      `--url ${shown(written)} holds characters an env file cannot carry safely; use only ${ENV_SAFE_CHARACTERS} (percent-encode the rest)`,
    )
  }
  if (!sdksAccept(url) && !force) {
    throw new IamraError(
      'USAGE',
      `--url ${url.origin}: the AWS SDKs send a token over plain http only to ${ALLOWED_FORMS}; they would refuse this URL. Use one of these forms, or --force if you know your clients accept it`,
    )
  }
  return url
}

/** A URL fit for a message: short, and without anything a terminal would act on. */
function shown(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 60)}…` : value
  return JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
