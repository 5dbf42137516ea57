/** The flags of `iamra serve`, for its three modes: ECS server, IMDS drop-in, Kubernetes node agent. */
import { DEFAULT_REFRESH_WINDOW_MS } from '../../cache/refresh-policy.js'
import { DEFAULT_HOP_LIMIT, DEFAULT_IMDS_PORT } from '../../imds/listen-policy.js'
import { SESSION_NAME_STYLES } from '../../kubernetes/session-name.js'
import type { FlagSpec, FlagTable } from '../flags.js'
import { IDENTITY_FLAGS, SESSION_FLAGS } from '../identity-flags.js'

const IMDS_GROUP = 'IMDS mode (any of these flags; the official aws_signing_helper serve flags):'
const AGENT_GROUP = 'Kubernetes node agent (--kubernetes-issuer turns it on):'

function inGroup<T extends FlagTable>(table: T, group: string): { readonly [K in keyof T]: T[K] & { readonly group: string } } {
  return Object.fromEntries(Object.entries(table).map(([n, s]) => [n, { ...s, group }])) as { [K in keyof T]: T[K] & { readonly group: string } }
}

const COMMON = {
  'configuration-directory': { type: 'string', placeholder: 'DIR', defaultText: '$RUNTIME_DIRECTORY', description: 'where bind writes' },
  listen: {
    type: 'string',
    multiple: true,
    placeholder: 'ADDRESS',
    description:
      'HOST:PORT, [IPV6]:PORT or /path.sock; ignored under socket activation (default 127.0.0.1:7224; IMDS mode: loopback only, default 127.0.0.1:9911)',
  },
  cache: { type: 'boolean', default: true, description: 'cache credentials per binding (--no-cache: one CreateSession per request)' },
  'refresh-window': {
    type: 'integer',
    unit: 'seconds',
    min: 0,
    max: 6 * 3600,
    default: DEFAULT_REFRESH_WINDOW_MS / 1000,
    placeholder: 'SECONDS',
    description: 'seconds: credentials with less left are refreshed before being served',
  },
  'metrics-listen': { type: 'string', placeholder: 'ADDRESS', description: 'HOST:PORT or /path.sock for GET /metrics (Prometheus); off by default' },
  'expiry-warning-days': {
    type: 'number',
    min: 0,
    max: 3650,
    default: 7,
    placeholder: 'DAYS',
    description: "warn when a binding's certificate expires within this many days",
  },
  'log-level': { type: 'choice', choices: ['fatal', 'error', 'warn', 'info', 'debug'], placeholder: 'LEVEL', default: 'info', description: 'log level' },
} as const satisfies FlagTable

/** The official helper's credential flags and its serve flags: giving any of them selects IMDS mode. */
export const IMDS_FLAGS = {
  ...inGroup({ ...IDENTITY_FLAGS, ...SESSION_FLAGS }, IMDS_GROUP),
  port: { type: 'integer', min: 0, max: 65535, default: DEFAULT_IMDS_PORT, group: IMDS_GROUP, description: 'IMDS mode: port on 127.0.0.1; 0 = ephemeral' },
  'hop-limit': {
    type: 'integer',
    min: 1,
    max: 255,
    default: DEFAULT_HOP_LIMIT,
    group: IMDS_GROUP,
    description: 'IMDS mode: 1 to 255, accepted for compatibility; Node cannot set IP_TTL, so --listen is loopback-only (see docs/imds.md)',
  },
} as const satisfies Record<string, FlagSpec>

/** Giving any of these selects the node agent. */
export const AGENT_SWITCHES = ['kubernetes-issuer', 'kubernetes-audience', 'kubernetes-jwks', 'kubernetes-ca', 'kubernetes-token-file'] as const

export const AGENT_FLAGS = {
  'kubernetes-issuer': {
    type: 'string',
    placeholder: 'URL',
    group: AGENT_GROUP,
    description: "the cluster's service-account issuer (its --service-account-issuer), e.g. https://kubernetes.default.svc.cluster.local",
  },
  'kubernetes-audience': {
    type: 'string',
    multiple: true,
    placeholder: 'AUDIENCE',
    group: AGENT_GROUP,
    description: "accepted token audience (the webhook's --container-credentials-audience)",
  },
  'kubernetes-jwks': {
    type: 'string',
    placeholder: 'FILE|URL',
    group: AGENT_GROUP,
    description: "the issuer's keys: a JWKS file, or an https:// URL (e.g. https://API-SERVER/openid/v1/jwks)",
  },
  'kubernetes-ca': {
    type: 'string',
    placeholder: 'FILE',
    group: AGENT_GROUP,
    description: 'CA certificate(s) (PEM) for an https JWKS URL, e.g. the cluster CA',
  },
  'kubernetes-token-file': {
    type: 'string',
    placeholder: 'FILE',
    group: AGENT_GROUP,
    description: 'bearer token file for the JWKS URL (a projected service-account token), re-read on every fetch',
  },
  'kubernetes-session-name': {
    type: 'choice',
    choices: SESSION_NAME_STYLES,
    placeholder: 'STYLE',
    default: 'pod',
    group: AGENT_GROUP,
    description: "roleSessionName: NAMESPACE.POD, NAMESPACE.SERVICEACCOUNT or none (a binding's --role-session-name wins)",
  },
  'kubernetes-rate-limit': {
    type: 'number',
    min: 1,
    max: 100_000,
    default: 50,
    group: AGENT_GROUP,
    description: 'requests per second per source address (bursts of twice that); over it: 429',
  },
  'kubernetes-jwks-cooldown': {
    type: 'number',
    min: 0,
    max: 3600,
    default: 30,
    placeholder: 'SECONDS',
    group: AGENT_GROUP,
    description: 'seconds: the least time between two JWKS re-loads for unknown key ids',
  },
  'kubernetes-clock-tolerance': {
    type: 'number',
    min: 0,
    max: 300,
    default: 30,
    placeholder: 'SECONDS',
    group: AGENT_GROUP,
    description: 'seconds of clock skew allowed on exp, nbf and iat',
  },
} as const satisfies FlagTable

export const SERVE_FLAGS = { ...COMMON, ...IMDS_FLAGS, ...AGENT_FLAGS } as const
