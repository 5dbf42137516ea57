/**
 * How a consumer reaches its credentials: full or relative URI, token in a header, the query string
 * or a file. The mode decides the env file and where the server accepts the token from.
 */
import { IamraError } from '../errors.js'

export const MODES = ['ecs-full', 'ecs-full-query', 'ecs-relative', 'ecs-relative-query', 'ecs-full-token-file'] as const
export type Mode = (typeof MODES)[number]

/** needroleshere's names in the binding file, kept so its files and ours read alike. */
const KINDS: Record<Mode, string> = {
  'ecs-full': 'EcsFull',
  'ecs-full-query': 'EcsFullQuery',
  'ecs-relative': 'EcsRelative',
  'ecs-relative-query': 'EcsRelativeQuery',
  'ecs-full-token-file': 'EcsFullTokenFile',
}

/** A mode named by its own name (the CLI's `--mode` reports the other values). */
export function isMode(value: string): value is Mode {
  return (MODES as readonly string[]).includes(value)
}

export function modeKind(mode: Mode): string {
  return KINDS[mode]
}

export function modeFromKind(kind: unknown): Mode | undefined {
  return (Object.keys(KINDS) as Mode[]).find((m) => KINDS[m] === kind)
}

export const tokenInQuery = (mode: Mode): boolean => mode.endsWith('-query')
export const isRelative = (mode: Mode): boolean => mode.startsWith('ecs-relative')

export const ECS_CREDENTIALS_PATH = '/ecs/credentials'

export interface EnvInput {
  readonly mode: Mode
  readonly token: string
  /** Base URL for the full-URI modes, e.g. http://127.0.0.1:7224 (its path is kept). */
  readonly url: URL
  /** For ecs-full-token-file: where the token file is. */
  readonly tokenFile: string
}

/** The consumer's variables, in the order they are written. */
export function envFor(input: EnvInput): Array<[string, string]> {
  const base = input.url.origin + input.url.pathname.replace(/\/+$/, '')
  const query = `?access_token=${encodeURIComponent(input.token)}`
  // The bare token: SDKs send the variable verbatim and the server accepts it with or without
  // "Bearer ", and a value without spaces needs no quoting (docker --env-file keeps quotes).
  const header = input.token
  switch (input.mode) {
    case 'ecs-full':
      return [
        ['AWS_CONTAINER_AUTHORIZATION_TOKEN', header],
        ['AWS_CONTAINER_CREDENTIALS_FULL_URI', base + ECS_CREDENTIALS_PATH],
      ]
    case 'ecs-full-query':
      return [['AWS_CONTAINER_CREDENTIALS_FULL_URI', base + ECS_CREDENTIALS_PATH + query]]
    case 'ecs-relative':
      return [
        ['AWS_CONTAINER_AUTHORIZATION_TOKEN', header],
        ['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', ECS_CREDENTIALS_PATH],
      ]
    case 'ecs-relative-query':
      return [['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', ECS_CREDENTIALS_PATH + query]]
    case 'ecs-full-token-file':
      return [
        ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', input.tokenFile],
        ['AWS_CONTAINER_CREDENTIALS_FULL_URI', base + ECS_CREDENTIALS_PATH],
      ]
  }
}

/**
 * Characters that systemd's EnvironmentFile=, `docker run --env-file` and a shell (`set -a; . FILE`)
 * all read as themselves in an unquoted `KEY=value` line: no quotes (docker keeps them), no `$`,
 * backquote, backslash, `~`, `;`, `&`, `|`, `<`, `>`, parentheses or braces (a shell acts on them),
 * no spaces or newlines. `[` and `]` only bracket IPv6 addresses; an assignment is never globbed.
 */
const ENV_SAFE = /^[A-Za-z0-9_./:%?=@+,[\]-]*$/
export const ENV_SAFE_CHARACTERS = 'letters, digits and _ . / : % ? = @ + , - [ ]'

export function isEnvSafe(value: string): boolean {
  return ENV_SAFE.test(value)
}

/**
 * Renders `KEY=value` lines, unquoted. Values are only ever tokens, URLs and paths checked with
 * isEnvSafe; anything else is refused rather than quoted, since no quoting reads the same in all three.
 */
export function renderEnvFile(vars: ReadonlyArray<readonly [string, string]>): string {
  return vars
    .map(([k, v]) => {
      // The value is not shown: in the env file it sits beside a token. Callers check what they put in
      // (bind: the URL and the token file's path, each with its flag named), so this is a bug guard.
      if (!isEnvSafe(v)) {
        throw new IamraError('INTERNAL', `${k} would hold characters an env file cannot carry safely (only ${ENV_SAFE_CHARACTERS}); nothing was written`)
      }
      return `${k}=${v}\n`
    })
    .join('')
}
