/**
 * `kubernetes` bindings: a role for one or more service accounts, in `bindings/NAME.json` next to
 * the token bindings but with mode kind "Kubernetes", a `service_accounts` list and no secret.
 * The agent lists them (briefly cached) and picks the one naming a token's service account.
 */
import { accessSync, constants, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fail } from '../errors.js'
import { parseSource, serialiseSource, type BindingSource } from '../binding/binding-file.js'
import { readBindingText } from '../binding/store.js'
import { formatServiceAccount, serviceAccountOf, type ServiceAccountRef } from './service-account.js'

export const KUBERNETES_KIND = 'Kubernetes'

export interface KubernetesBinding extends BindingSource {
  readonly serviceAccounts: readonly ServiceAccountRef[]
}

export function serialiseKubernetesBinding(b: KubernetesBinding): string {
  const json = JSON.stringify(
    {
      name: b.name,
      mode: { kind: KUBERNETES_KIND },
      service_accounts: b.serviceAccounts.map(formatServiceAccount),
      ...serialiseSource(b),
    },
    null,
    2,
  )
  return `${json}\n`
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined)

/** Whether a parsed binding file is a Kubernetes one (others are left to the ECS server). */
export function isKubernetesBindingJson(raw: unknown): boolean {
  return isObj(raw) && isObj(raw.mode) && raw.mode.kind === KUBERNETES_KIND
}

/** Parses a Kubernetes binding file; lists every bad field at once. */
export function parseKubernetesBinding(raw: unknown, source: string): KubernetesBinding {
  const o = isObj(raw) ? raw : {}
  const problems: string[] = []
  const name = typeof o.name === 'string' && o.name !== '' ? o.name : ''
  if (name === '') problems.push('name')
  const serviceAccounts: ServiceAccountRef[] = []
  const sas = strings(o.service_accounts)
  if (sas === undefined || sas.length === 0) problems.push('service_accounts')
  for (const s of sas ?? []) {
    const sa = serviceAccountOf(s)
    if (sa === undefined) problems.push(`service_accounts (${JSON.stringify(s)})`)
    else serviceAccounts.push(sa)
  }
  const parsed = parseSource(o, name, '', problems)
  if (problems.length > 0) fail('BINDING_INVALID', `${source}: missing or invalid ${problems.join(', ')}`)
  return { ...parsed, serviceAccounts }
}

export interface BindingListing {
  readonly bindings: readonly KubernetesBinding[]
  /** Files that could not be used, with the reason (for the log). */
  readonly problems: readonly string[]
}

/**
 * Anyone who could write a binding could give any pod any role: the agent trusts only files and
 * directories owned by itself or root and writable by nobody else (stat follows the symlinks a
 * ConfigMap volume uses, so the checked modes are those of the real files).
 */
function untrusted(path: string): string | undefined {
  const st = statSync(path)
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) return `${path} is owned by uid ${st.uid}, not by the agent's user or root`
  if ((st.mode & 0o022) !== 0 && !readOnlyMount(path)) return `${path} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`
  return undefined
}

/**
 * A ConfigMap volume's directory is mode 0777 but mounted read-only: nobody in this mount
 * namespace can write it, so its mode does not matter (access(2) reports EROFS).
 */
function readOnlyMount(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EROFS'
  }
}

/** Every Kubernetes binding under `dir/bindings`, read now. */
export function listKubernetesBindings(dir: string): BindingListing {
  const bindingsDir = join(dir, 'bindings')
  const problems: string[] = []
  let names: string[]
  try {
    names = readdirSync(bindingsDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'))
  } catch (e) {
    return { bindings: [], problems: [`cannot read ${bindingsDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`] }
  }
  const dirProblem = untrusted(bindingsDir)
  if (dirProblem !== undefined) return { bindings: [], problems: [`${dirProblem}; no binding is trusted`] }
  const bindings: KubernetesBinding[] = []
  for (const file of names.sort()) {
    const path = join(bindingsDir, file)
    try {
      const raw: unknown = JSON.parse(readBindingText(path)) // bounded: a FIFO or a huge file planted there fails alone
      if (!isKubernetesBindingJson(raw)) continue
      const problem = untrusted(path)
      if (problem !== undefined) {
        problems.push(`${problem}; ignored`)
        continue
      }
      const b = parseKubernetesBinding(raw, path)
      if (`${b.name}.json` !== file) problems.push(`${path} names binding "${b.name}"; ignored`)
      else bindings.push(b)
    } catch (e) {
      problems.push(e instanceof SyntaxError ? `${path} is not JSON; ignored` : `${(e as Error).message}; ignored`)
    }
  }
  return { bindings, problems }
}

/** The listing, re-read at most every `ttlMs` (changes are picked up within that time). */
export function cachedListing(dir: string, ttlMs: number, now: () => number): () => BindingListing {
  let last: { at: number; listing: BindingListing } | undefined
  return () => {
    const t = now()
    if (last === undefined || t - last.at >= ttlMs || t < last.at) last = { at: t, listing: listKubernetesBindings(dir) }
    return last.listing
  }
}

/** The bindings naming this service account (the caller refuses none and several). */
export function bindingsFor(listing: BindingListing, namespace: string, serviceAccount: string): KubernetesBinding[] {
  return listing.bindings.filter((b) => b.serviceAccounts.some((sa) => sa.namespace === namespace && sa.name === serviceAccount))
}
