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

/** Validates all three ARNs at once and returns the region they imply. */
export function checkArns(arns: { readonly [K in keyof SessionArns]?: string | undefined }): CheckedArns {
  const problems: string[] = []
  const need = (v: string | undefined, flag: string): string | undefined => {
    if (v === undefined || v === '') problems.push(`${flag} is required`)
    return v
  }
  const ta = need(arns.trustAnchorArn, '--trust-anchor-arn')
  const pr = need(arns.profileArn, '--profile-arn')
  const ro = need(arns.roleArn, '--role-arn')
  const parse = (v: string | undefined, flag: string, service: string, type: string): Arn | undefined => {
    if (v === undefined || v === '') return undefined
    try {
      const arn = parseArn(v, flag)
      if (arn.service !== service || !arn.resource.startsWith(type + '/') || arn.resource.length <= type.length + 1) {
        problems.push(`${flag}: "${v}" is not a ${service} ${type} ARN`)
      } else if (!/^\d{12}$/.test(arn.account)) {
        problems.push(`${flag}: "${v}" has no 12-digit account id`)
      } else if (service === 'rolesanywhere' && arn.region === '') {
        problems.push(`${flag}: "${v}" has no region`)
      }
      return arn
    } catch (e) {
      problems.push((e as Error).message)
      return undefined
    }
  }
  const t = parse(ta, '--trust-anchor-arn', 'rolesanywhere', 'trust-anchor')
  const p = parse(pr, '--profile-arn', 'rolesanywhere', 'profile')
  const r = parse(ro, '--role-arn', 'iam', 'role')
  if (t !== undefined && p !== undefined && t.region !== '' && p.region !== '' && t.region !== p.region) {
    problems.push(`trust anchor and profile regions don't match (${t.region} and ${p.region})`)
  }
  if (problems.length > 0) {
    const code = problems.every((m) => m.includes("regions don't match")) ? 'REGION_MISMATCH' : 'ARN_INVALID'
    fail(code, problems.join('; '))
  }
  return { region: t?.region ?? '', partition: t?.partition ?? 'aws', roleAccount: r?.account ?? '' }
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
