/**
 * Parsing and checking of the three ARNs CreateSession takes, by the grammar of the ARNs the services
 * issue: partition `aws` or `aws-…`, a region like `eu-west-1` (none for IAM), a 12-digit account,
 * trust anchor and profile ids as Roles Anywhere makes them (36-character UUIDs), and IAM role names
 * and paths with IAM's own characters and lengths. Anything else (a newline, non-ASCII text, a
 * `..` path segment, kilobytes of text) is refused before it reaches a file or a request.
 */
import { fail, type Phrase } from '../errors.js'

export interface Arn {
  readonly partition: string
  readonly service: string
  readonly region: string
  readonly account: string
  readonly resource: string
}

/** Roles Anywhere's limit for its ARN parameters (the API model's maximum length). */
const MAX_ARN_LENGTH = 1011
const PARTITION = /^aws(-[a-z]{1,10}){0,3}$/
const REGION = /^[a-z]{2,8}(-[a-z]{1,16}){1,3}-\d{1,3}$/
const ACCOUNT = /^\d{12}$/
/** Trust anchor and profile ids, as the Roles Anywhere API defines them. */
const RESOURCE_ID = /^[a-f0-9]{8}-([a-z0-9]{4}-){3}[a-z0-9]{12}$/
/** IAM: role names of 1 to 64 of these characters; paths `/` or `/…/` of printable ASCII, at most 512. */
const ROLE_NAME = /^[A-Za-z0-9_+=,.@-]{1,64}$/
const ROLE_PATH = /^\/([\x21-\x7e]{1,510}\/)?$/

/** A value fit for a message: at most 80 characters, control and non-ASCII characters escaped. */
function shown(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 60)}…` : value
  const text = JSON.stringify(cut).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return value.length > 80 ? `${text} (${value.length} characters)` : text
}

export function parseArn(value: string, flag: string): Arn {
  const parts = value.split(':')
  if (parts.length < 6 || parts[0] !== 'arn') {
    return fail('ARN_INVALID', `${flag}: ${shown(value)} is not an ARN (expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)`)
  }
  const [, partition = '', service = '', region = '', account = ''] = parts
  return { partition, service, region, account, resource: parts.slice(5).join(':') }
}

export interface SessionArns {
  readonly trustAnchorArn: string
  readonly profileArn: string
  readonly roleArn: string
}

export interface CheckedArns {
  /** The region of the trust anchor (and profile). */
  readonly region: string
  readonly partition: string
  readonly roleAccount: string
}

/** Every problem with one ARN, by the grammar above; an empty list when it is well formed. */
function arnProblems(
  value: string,
  flag: string,
  service: 'rolesanywhere' | 'iam',
  type: 'trust-anchor' | 'profile' | 'role',
): { arn?: Arn; problems: string[] } {
  const what = `${service === 'iam' ? 'an IAM' : 'a Roles Anywhere'} ${type.replace('-', ' ')} ARN`
  if (value.length > MAX_ARN_LENGTH) return { problems: [`${flag}: ${shown(value)} is longer than any ARN (${MAX_ARN_LENGTH} characters at most)`] }
  if (!/^[\x21-\x7e]*$/.test(value)) return { problems: [`${flag}: ${shown(value)} holds spaces, control or non-ASCII characters, which no ARN has`] }
  let arn: Arn
  try {
    arn = parseArn(value, flag)
  } catch (e) {
    return { problems: [(e as Error).message] }
  }
  const problems: string[] = []
  const bad = (why: string): number => problems.push(`${flag}: ${shown(value)} ${why}`)
  if (arn.service !== service || !arn.resource.startsWith(`${type}/`)) {
    bad(`is not ${what} (expected arn:aws:${service}:${service === 'iam' ? '' : 'REGION'}:ACCOUNT:${type}/${type === 'role' ? 'NAME' : 'ID'})`)
    return { problems }
  }
  if (!PARTITION.test(arn.partition)) bad(`has an unknown partition "${arn.partition}" (aws, aws-cn, aws-us-gov, …)`)
  if (service === 'iam') {
    if (arn.region !== '') bad('has a region; IAM ARNs have none (arn:aws:iam::ACCOUNT:role/NAME)')
  } else if (arn.region === '') {
    bad('has no region')
  } else if (!REGION.test(arn.region)) {
    bad(`has a malformed region "${arn.region}" (e.g. eu-west-1)`)
  }
  if (!ACCOUNT.test(arn.account)) bad('has no 12-digit account id')
  const rest = arn.resource.slice(type.length + 1)
  if (type === 'role') {
    const slash = rest.lastIndexOf('/')
    const path = `/${rest.slice(0, slash + 1)}`
    const name = rest.slice(slash + 1)
    if (!ROLE_NAME.test(name)) bad('has an invalid role name (1 to 64 letters, digits and + = , . @ _ -)')
    if (!ROLE_PATH.test(path) || path.split('/').some((s) => s === '.' || s === '..'))
      bad('has an invalid role path (printable ASCII between slashes, no . or .. segments, 512 characters at most)')
  } else if (!RESOURCE_ID.test(rest)) {
    bad(`has an invalid ${type.replace('-', ' ')} id (36 characters, as the console shows it: 8-4-4-4-12 lowercase hex digits)`)
  }
  return { arn, problems }
}

/** The option each ARN comes from; callers name it their own way (a flag, an option field). */
export type ArnField = keyof SessionArns

/** One thing wrong with the ARNs: the field at fault and a message that names it as the caller wants. */
export interface ArnProblem {
  readonly field: ArnField
  readonly code: 'ARN_INVALID' | 'REGION_MISMATCH'
  readonly message: (name: string) => string
}

export interface ArnInspection extends CheckedArns {
  /** Every problem at once; empty when the ARNs are usable. */
  readonly problems: readonly ArnProblem[]
}

/** Stands for the field's name in a message until the caller says how it names it. */
const FIELD = '\u0000'

/** Checks all three ARNs at once, without throwing: the problems (with their fields) and the region they imply. */
export function inspectArns(arns: { readonly [K in keyof SessionArns]?: string | undefined }): ArnInspection {
  const problems: ArnProblem[] = []
  const add = (field: ArnField, code: ArnProblem['code'], text: string): number => problems.push({ field, code, message: (n) => text.split(FIELD).join(n) })
  const check = (field: ArnField, service: 'rolesanywhere' | 'iam', type: 'trust-anchor' | 'profile' | 'role'): Arn | undefined => {
    const v = arns[field]
    if (v === undefined || v === '') {
      add(field, 'ARN_INVALID', `${FIELD} is required`)
      return undefined
    }
    const r = arnProblems(v, FIELD, service, type)
    for (const text of r.problems) add(field, 'ARN_INVALID', text)
    return r.problems.length === 0 ? r.arn : undefined
  }
  const t = check('trustAnchorArn', 'rolesanywhere', 'trust-anchor')
  const p = check('profileArn', 'rolesanywhere', 'profile')
  const r = check('roleArn', 'iam', 'role')
  const partitions = new Set([t, p, r].flatMap((a) => (a === undefined ? [] : [a.partition])))
  if (partitions.size > 1) add('roleArn', 'ARN_INVALID', `the ARNs name different partitions (${[...partitions].join(', ')})`)
  if (t !== undefined && p !== undefined && t.region !== p.region) {
    add('profileArn', 'REGION_MISMATCH', `trust anchor and profile regions don't match (${t.region} and ${p.region})`)
  }
  return { problems, region: t?.region ?? '', partition: t?.partition ?? 'aws', roleAccount: r?.account ?? '' }
}

/** Validates all three ARNs at once and returns the region they imply; the error names each field at fault. */
export function checkArns(arns: { readonly [K in keyof SessionArns]?: string | undefined }): CheckedArns {
  const { problems, region, partition, roleAccount } = inspectArns(arns)
  if (problems.length > 0) {
    const code = problems.every((p) => p.code === 'REGION_MISMATCH') ? 'REGION_MISMATCH' : 'ARN_INVALID'
    const message: Phrase = (name) => problems.map((p) => p.message(name(p.field))).join('; ')
    fail(code, message, { field: [...new Set(problems.map((p) => p.field))] })
  }
  return { region, partition, roleAccount }
}

/** The role name (last path segment) of an IAM role ARN. */
export function roleName(roleArn: string): string {
  const resource = roleArn.split(':').slice(5).join(':')
  return resource.split('/').pop() ?? resource
}

/** The 12-digit account of any ARN, or undefined. */
export function accountOf(arn: string): string | undefined {
  const account = arn.split(':')[4]
  return account !== undefined && /^\d{12}$/.test(account) ? account : undefined
}
