/**
 * The binding file's format (`bindings/NAME.json`, needroleshere's field names) and which of its
 * entries a token's secret opens. While a bind replaces a binding, the file also lists the entries
 * whose tokens the consumer may still hold (`previous`), so that the env file can be replaced after
 * the binding file without a moment in which the consumer's token is refused; the bind removes them
 * once the env file is in place.
 */
import { fail } from '../errors.js'
import { modeFromKind, modeKind, type Mode } from './modes.js'
import { secretMatches } from './token.js'

export interface BindingRequest {
  readonly durationSeconds: number
  readonly trustAnchorArn: string
  readonly profileArn: string
  readonly roleArn: string
  readonly roleSessionName?: string | undefined
}

/** Where a role's credentials come from, as every kind of binding (token or Kubernetes) stores it. */
export interface BindingSource {
  readonly name: string
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles: readonly string[]
  readonly privateKeyFile: string
  readonly request: BindingRequest
  readonly region?: string | undefined
  readonly endpoint?: string | undefined
  /** PKCS#11 module for pkcs11: URIs without module-path. */
  readonly pkcs11Lib?: string | undefined
  /** Reuse the user PIN for always-authenticate token keys. */
  readonly reusePin?: boolean | undefined
  /** TPM key: the file the server reads its password from (never the password itself), or no password. */
  readonly tpmKeyPasswordFile?: string | undefined
  readonly noTpmKeyPassword?: boolean | undefined
  readonly createdAt: string
}

export interface Binding extends BindingSource {
  readonly secretHash: string
  readonly mode: Mode
  /** Only during a bind: the entries being replaced whose tokens a consumer still holds (at most two). */
  readonly previous?: readonly Binding[] | undefined
}

/** More previous entries than a bind ever writes (one per file a consumer reads its token from). */
const MAX_PREVIOUS = 2

/** The fields of a binding's source, as the file holds them (needroleshere's names). */
export function serialiseSource(b: BindingSource): Record<string, unknown> {
  return {
    certificate_files: b.certificateFiles,
    intermediates_files: b.intermediatesFiles,
    private_key_file: b.privateKeyFile,
    request: {
      durationSeconds: b.request.durationSeconds,
      profileArn: b.request.profileArn,
      roleArn: b.request.roleArn,
      trustAnchorArn: b.request.trustAnchorArn,
      ...(b.request.roleSessionName === undefined ? {} : { roleSessionName: b.request.roleSessionName }),
    },
    ...(b.region === undefined ? {} : { region: b.region }),
    ...(b.endpoint === undefined ? {} : { endpoint: b.endpoint }),
    ...(b.pkcs11Lib === undefined ? {} : { pkcs11_lib: b.pkcs11Lib }),
    ...(b.reusePin === true ? { reuse_pin: true } : {}),
    ...(b.tpmKeyPasswordFile === undefined ? {} : { tpm_key_password_file: b.tpmKeyPasswordFile }),
    ...(b.noTpmKeyPassword === true ? { no_tpm_key_password: true } : {}),
    created_at: b.createdAt,
  }
}

function serialiseEntry(b: Binding): Record<string, unknown> {
  return { secret_hash: b.secretHash, ...serialiseSource(b), mode: { kind: modeKind(b.mode) } }
}

export function serialiseBinding(b: Binding): string {
  const previous = b.previous ?? []
  if (previous.length > MAX_PREVIOUS) throw new Error(`at most ${MAX_PREVIOUS} previous entries`)
  const json = JSON.stringify(
    {
      name: b.name,
      ...serialiseEntry(b),
      ...(previous.length === 0 ? {} : { previous: previous.map(serialiseEntry) }),
    },
    null,
    2,
  )
  return `${json}\n`
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined)

/**
 * Whether a binding file is of a kind the ECS server does not serve (a Kubernetes binding): its mode
 * names a kind that no token mode has. Unparsable text is not: parseBinding reports it.
 */
export function isOtherKindOfBinding(text: string): boolean {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return false
  }
  return isObj(raw) && isObj(raw.mode) && typeof raw.mode.kind === 'string' && modeFromKind(raw.mode.kind) === undefined
}

/** Parses a binding file (ours, or needroleshere's); lists every bad field at once. */
export function parseBinding(text: string, source: string): Binding {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return fail('BINDING_INVALID', `${source} is not JSON`)
  }
  const problems: string[] = []
  const o = isObj(raw) ? raw : {}
  const name = typeof o.name === 'string' && o.name !== '' ? o.name : ''
  if (name === '') problems.push('name')
  const entry = parseEntry(o, name, '', problems)
  let previous: Binding[] | undefined
  if (o.previous !== undefined) {
    if (!Array.isArray(o.previous) || o.previous.length > MAX_PREVIOUS) problems.push('previous')
    else previous = o.previous.map((p, i) => parseEntry(isObj(p) ? p : {}, name, `previous[${i}].`, problems))
  }
  if (problems.length > 0) fail('BINDING_INVALID', `${source}: missing or invalid ${problems.join(', ')}`)
  return previous === undefined ? entry : { ...entry, previous }
}

/** The source fields of a binding file's object; each bad field is added to `problems` (prefixed with `at`). */
export function parseSource(o: Record<string, unknown>, name: string, at: string, problems: string[]): BindingSource {
  const req = isObj(o.request) ? o.request : {}
  const str = (obj: Record<string, unknown>, key: string, label = key): string => {
    const v = obj[key]
    if (typeof v !== 'string' || v === '') problems.push(at + label)
    return typeof v === 'string' ? v : ''
  }
  const privateKeyFile = str(o, 'private_key_file')
  const listed = strings(o.certificate_files)
  if (listed === undefined) problems.push(`${at}certificate_files`)
  const certificateFiles = listed ?? []
  const duration = req.durationSeconds ?? 3600
  if (typeof duration !== 'number' || !Number.isInteger(duration)) problems.push(`${at}request.durationSeconds`)
  const request: BindingRequest = {
    durationSeconds: typeof duration === 'number' ? duration : 3600,
    trustAnchorArn: str(req, 'trustAnchorArn'),
    profileArn: str(req, 'profileArn'),
    roleArn: str(req, 'roleArn'),
    ...(typeof req.roleSessionName === 'string' && req.roleSessionName !== '' ? { roleSessionName: req.roleSessionName } : {}),
  }
  return {
    name,
    certificateFiles,
    privateKeyFile,
    request,
    intermediatesFiles: strings(o.intermediates_files) ?? [],
    region: typeof o.region === 'string' ? o.region : undefined,
    endpoint: typeof o.endpoint === 'string' ? o.endpoint : undefined,
    pkcs11Lib: typeof o.pkcs11_lib === 'string' ? o.pkcs11_lib : undefined,
    reusePin: o.reuse_pin === true,
    tpmKeyPasswordFile: typeof o.tpm_key_password_file === 'string' ? o.tpm_key_password_file : undefined,
    noTpmKeyPassword: o.no_tpm_key_password === true,
    createdAt: typeof o.created_at === 'string' ? o.created_at : '',
  }
}

function parseEntry(o: Record<string, unknown>, name: string, at: string, problems: string[]): Binding {
  const secretOk = typeof o.secret_hash === 'string' && o.secret_hash !== ''
  const mode = modeFromKind(isObj(o.mode) ? o.mode.kind : undefined)
  const found: string[] = []
  const source = parseSource(o, name, at, found)
  // Reported in the file's own order: secret, files, mode, then the request.
  const files = found.filter((p) => p === `${at}private_key_file` || p === `${at}certificate_files`)
  problems.push(...(secretOk ? [] : [`${at}secret_hash`]), ...files, ...(mode === undefined ? [`${at}mode`] : []), ...found.filter((p) => !files.includes(p)))
  return { ...source, secretHash: secretOk ? String(o.secret_hash) : '', mode: mode ?? 'ecs-full' }
}

/** The binding and its previous entries, each on its own (without `previous`). */
export function bindingEntries(b: Binding): Binding[] {
  const { previous = [], ...current } = b
  return [current, ...previous]
}

/**
 * The entry a secret opens, if any: the current one first. Every entry is compared, each in constant
 * time, so the time taken does not say which one matched. `entries` are `bindingEntries(b)`, passed
 * by a caller that keeps them (the server's lookup: the same entry objects while the file is unchanged).
 */
export function entryForSecret(b: Binding, secret: Buffer, entries: readonly Binding[] = bindingEntries(b)): Binding | undefined {
  let found: Binding | undefined
  for (const e of entries) {
    if (secretMatches(secret, e.secretHash) && found === undefined) found = e
  }
  return found
}
