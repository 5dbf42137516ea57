/**
 * The binding store under the configuration directory: `bindings/NAME.json` (never the secret),
 * `env/NAME` (the consumer's EnvironmentFile=) and, in token-file mode, `tokens/NAME`.
 */
import { statSync } from 'node:fs'
import { chmod, lstat, mkdir, readdir, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { IamraError, fail } from '../errors.js'
import { writeFilesAtomic, type AtomicWriteOptions } from '../fs/atomic-write.js'
import { readRegularFileSync, UnreadableFileError } from '../fs/read-bounded.js'
import { modeFromKind, modeKind, type Mode } from './modes.js'
import { checkName } from './names.js'

export interface BindingRequest {
  readonly durationSeconds: number
  readonly trustAnchorArn: string
  readonly profileArn: string
  readonly roleArn: string
  readonly roleSessionName?: string | undefined
}

export interface Binding {
  readonly name: string
  readonly secretHash: string
  readonly certificateFiles: readonly string[]
  readonly intermediatesFiles: readonly string[]
  readonly privateKeyFile: string
  readonly request: BindingRequest
  readonly mode: Mode
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

export interface BindingPaths {
  readonly binding: string
  readonly env: string
  readonly token: string
}

export function bindingPaths(dir: string, name: string): BindingPaths {
  checkName(name)
  return { binding: join(dir, 'bindings', `${name}.json`), env: join(dir, 'env', name), token: join(dir, 'tokens', name) }
}

/** Directories: bindings/ and env/ private to the owner; tokens/ traversable for consumers' groups. */
export async function ensureDirectories(dir: string): Promise<void> {
  // A directory we create must stay traversable for token-file readers (tokens/ is 0711).
  await mkdir(dir, { recursive: true, mode: 0o711 })
  for (const [sub, mode] of [['bindings', 0o700], ['env', 0o700], ['tokens', 0o711]] as const) {
    const path = join(dir, sub)
    await mkdir(path, { recursive: true, mode })
    // mkdir's mode is narrowed by the umask and not applied to an existing directory.
    await chmod(path, mode).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EPERM') {
        throw new IamraError('USAGE', `${path} belongs to another user: bind as the user that owns ${dir} (the server trusts only its own or root's files)`)
      }
      throw e
    })
  }
}

/**
 * The server acts on binding files, so it trusts only files and directories owned by itself or
 * root and writable by nobody else: anyone who could write there could mint tokens for any role.
 */
function checkTrusted(path: string, what: string): void {
  checkTrustedStats(statSync(path), path, what)
}

/** checkTrusted on stats already taken (the server's per-request lookup stats each file once). */
export function checkTrustedStats(st: { readonly uid: number; readonly mode: number }, path: string, what: string): void {
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) fail('BINDING_INVALID', `${what} ${path} is owned by uid ${st.uid}, not by the server's user or root; not trusted`)
  if ((st.mode & 0o022) !== 0) fail('BINDING_INVALID', `${what} ${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); not trusted`)
}

/** The configuration directory: the flag, else $RUNTIME_DIRECTORY (its first entry), else an error. */
export function configurationDirectory(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const dir = flag ?? env.RUNTIME_DIRECTORY?.split(':')[0]
  if (dir === undefined || dir === '') {
    return fail('CONFIG_DIRECTORY_MISSING', 'no configuration directory: pass --configuration-directory DIR or run under systemd with RuntimeDirectory= (which sets $RUNTIME_DIRECTORY)')
  }
  return dir
}

export function serialiseBinding(b: Binding): string {
  return JSON.stringify({
    name: b.name,
    secret_hash: b.secretHash,
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
    mode: { kind: modeKind(b.mode) },
    ...(b.region === undefined ? {} : { region: b.region }),
    ...(b.endpoint === undefined ? {} : { endpoint: b.endpoint }),
    ...(b.pkcs11Lib === undefined ? {} : { pkcs11_lib: b.pkcs11Lib }),
    ...(b.reusePin === true ? { reuse_pin: true } : {}),
    ...(b.tpmKeyPasswordFile === undefined ? {} : { tpm_key_password_file: b.tpmKeyPasswordFile }),
    ...(b.noTpmKeyPassword === true ? { no_tpm_key_password: true } : {}),
    created_at: b.createdAt,
  }, null, 2) + '\n'
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined)

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
  const req = isObj(o.request) ? o.request : {}
  const str = (obj: Record<string, unknown>, key: string): string => {
    const v = obj[key]
    if (typeof v !== 'string' || v === '') problems.push(key)
    return typeof v === 'string' ? v : ''
  }
  const name = str(o, 'name')
  const secretHash = str(o, 'secret_hash')
  const privateKeyFile = str(o, 'private_key_file')
  const certificateFiles = strings(o.certificate_files) ?? (problems.push('certificate_files'), [])
  const mode = modeFromKind(isObj(o.mode) ? o.mode.kind : undefined) ?? (problems.push('mode'), 'ecs-full')
  const duration = req.durationSeconds ?? 3600
  if (typeof duration !== 'number' || !Number.isInteger(duration)) problems.push('request.durationSeconds')
  const request: BindingRequest = {
    durationSeconds: typeof duration === 'number' ? duration : 3600,
    trustAnchorArn: str(req, 'trustAnchorArn'),
    profileArn: str(req, 'profileArn'),
    roleArn: str(req, 'roleArn'),
    ...(typeof req.roleSessionName === 'string' ? { roleSessionName: req.roleSessionName } : {}),
  }
  if (problems.length > 0) fail('BINDING_INVALID', `${source}: missing or invalid ${problems.join(', ')}`)
  return {
    name, secretHash, certificateFiles, privateKeyFile, request, mode,
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

/** A binding file is a few hundred bytes; anything far larger is not one. */
export const BINDING_FILE_LIMIT = 256 * 1024

/** Reads a binding; undefined when there is none by that name. */
export async function readBinding(dir: string, name: string): Promise<Binding | undefined> {
  const { binding } = bindingPaths(dir, name)
  let text: string
  try {
    checkTrusted(dirname(binding), 'bindings directory')
    checkTrusted(binding, 'binding file')
    text = readBindingText(binding)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (e instanceof IamraError && e.cause instanceof UnreadableFileError && e.cause.problem === 'missing') return undefined // just unbound
    if (e instanceof IamraError) throw e
    throw new IamraError('BINDING_INVALID', `cannot read ${binding}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e })
  }
  return parseNamedBinding(text, binding, name)
}

/**
 * A binding file's text, read bounded: a regular file only, never blocking (a FIFO planted there
 * must not stall the server), at most BINDING_FILE_LIMIT bytes.
 */
export function readBindingText(path: string): string {
  try {
    return readRegularFileSync(path, { maxBytes: BINDING_FILE_LIMIT }).toString('utf8')
  } catch (e) {
    if (e instanceof UnreadableFileError) throw new IamraError('BINDING_INVALID', `cannot read ${path}: ${e.message}`, { cause: e })
    throw e
  }
}

/** parseBinding, and the file must name the binding it is stored as. */
export function parseNamedBinding(text: string, path: string, name: string): Binding {
  const b = parseBinding(text, path)
  if (b.name !== name) fail('BINDING_INVALID', `${path} names binding "${b.name}", not "${name}"`)
  return b
}

export interface WriteBindingInput {
  readonly binding: Binding
  readonly envFile: string
  /** Token file content (token-file mode only). */
  readonly tokenFile?: { readonly content: string; readonly gid?: number | undefined } | undefined
}

/**
 * Writes token file, binding and env file: all three are prepared (written, synced, owned) before
 * any is renamed into place, so a failure leaves the previous binding whole. Leftovers of earlier
 * runs are removed first.
 */
export async function writeBinding(dir: string, input: WriteBindingInput): Promise<BindingPaths> {
  const paths = bindingPaths(dir, input.binding.name)
  await ensureDirectories(dir)
  await removeStaleTemps(dir, input.binding.name)
  const files: Array<{ path: string; data: string; opts: AtomicWriteOptions }> = []
  if (input.tokenFile !== undefined) {
    const gid = input.tokenFile.gid
    // The token file's access is what this bind says, never what an earlier bind allowed.
    const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
    files.push({ path: paths.token, data: input.tokenFile.content, opts: { preserve: false, ...(gid === undefined ? { mode: 0o600, ...self } : { mode: 0o640, uid: self.uid, gid }) } })
  }
  files.push({ path: paths.binding, data: serialiseBinding(input.binding), opts: { mode: 0o600 } })
  files.push({ path: paths.env, data: input.envFile, opts: { mode: 0o600 } })
  await writeFilesAtomic(files)
  if (input.tokenFile === undefined) await unlink(paths.token).catch(ignoreMissing)
  return paths
}

/** Removes everything bind wrote for NAME; parts already gone are fine. Returns what was removed. */
export async function removeBinding(dir: string, name: string): Promise<string[]> {
  const paths = bindingPaths(dir, name)
  const removed: string[] = []
  // The binding file goes first: from that moment the token is refused.
  for (const p of [paths.binding, paths.env, paths.token]) {
    try {
      await unlink(p)
      removed.push(p)
    } catch (e) {
      ignoreMissing(e)
    }
  }
  await removeStaleTemps(dir, name)
  return removed
}

async function removeStaleTemps(dir: string, name: string): Promise<void> {
  for (const sub of ['bindings', 'env', 'tokens']) {
    let entries: string[]
    try {
      entries = await readdir(join(dir, sub))
    } catch (e) {
      ignoreMissing(e)
      continue
    }
    const prefixes = [`.${name}.json.`, `.${name}.`, `.wip.${name}`]
    for (const entry of entries) {
      if (prefixes.some((p) => entry.startsWith(p)) && (entry.endsWith('.tmp') || entry === `.wip.${name}`)) {
        // Only leftovers: a concurrent bind of the same name may be writing its own temp files now.
        const path = join(dir, sub, entry)
        const age = Date.now() - (await lstat(path).then((s) => s.mtimeMs, () => Date.now()))
        if (age > STALE_TEMP_MS) await unlink(path).catch(ignoreMissing)
      }
    }
  }
}

const STALE_TEMP_MS = 60_000

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
}
