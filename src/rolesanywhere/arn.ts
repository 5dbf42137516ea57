/** Parsing and checking of the three ARNs CreateSession takes. */
import { fail } from '../errors.js'

export interface Arn {
  readonly partition: string
  readonly service: string
  readonly region: string
  readonly account: string
  readonly resource: string
}

export function parseArn(value: string, flag: string): Arn {
  const parts = value.split(':')
  if (parts.length < 6 || parts[0] !== 'arn') {
    return fail('ARN_INVALID', `${flag}: "${value}" is not an ARN (expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)`)
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

const FLAGS: Readonly<Record<ArnField, string>> = { trustAnchorArn: '--trust-anchor-arn', profileArn: '--profile-arn', roleArn: '--role-arn' }

/** Checks all three ARNs at once, without throwing: the problems (with their fields) and the region they imply. */
export function inspectArns(arns: { readonly [K in keyof SessionArns]?: string | undefined }): ArnInspection {
  const problems: ArnProblem[] = []
  const parse = (field: ArnField, service: string, type: string): Arn | undefined => {
    const v = arns[field]
    if (v === undefined || v === '') {
      problems.push({ field, code: 'ARN_INVALID', message: (n) => `${n} is required` })
      return undefined
    }
    const parts = v.split(':')
    if (parts.length < 6 || parts[0] !== 'arn') {
      problems.push({ field, code: 'ARN_INVALID', message: (n) => `${n}: "${v}" is not an ARN (expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)` })
      return undefined
    }
    const arn = parseArn(v, field)
    if (arn.service !== service || !arn.resource.startsWith(type + '/') || arn.resource.length <= type.length + 1) {
      problems.push({ field, code: 'ARN_INVALID', message: (n) => `${n}: "${v}" is not a ${service} ${type} ARN` })
    } else if (!/^\d{12}$/.test(arn.account)) {
      problems.push({ field, code: 'ARN_INVALID', message: (n) => `${n}: "${v}" has no 12-digit account id` })
    } else if (service === 'rolesanywhere' && arn.region === '') {
      problems.push({ field, code: 'ARN_INVALID', message: (n) => `${n}: "${v}" has no region` })
    }
    return arn
  }
  const t = parse('trustAnchorArn', 'rolesanywhere', 'trust-anchor')
  const p = parse('profileArn', 'rolesanywhere', 'profile')
  const r = parse('roleArn', 'iam', 'role')
  if (t !== undefined && p !== undefined && t.region !== '' && p.region !== '' && t.region !== p.region) {
    problems.push({ field: 'profileArn', code: 'REGION_MISMATCH', message: () => `trust anchor and profile regions don't match (${t.region} and ${p.region})` })
  }
  return { problems, region: t?.region ?? '', partition: t?.partition ?? 'aws', roleAccount: r?.account ?? '' }
}

/** Validates all three ARNs at once (messages name the command-line flags) and returns the region they imply. */
export function checkArns(arns: { readonly [K in keyof SessionArns]?: string | undefined }): CheckedArns {
  const { problems, region, partition, roleAccount } = inspectArns(arns)
  if (problems.length > 0) {
    const code = problems.every((p) => p.code === 'REGION_MISMATCH') ? 'REGION_MISMATCH' : 'ARN_INVALID'
    fail(code, problems.map((p) => p.message(FLAGS[p.field])).join('; '))
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
