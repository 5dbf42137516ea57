/**
 * The roleSessionName the agent asks for, so that CloudTrail names the pod (or the service
 * account). Roles Anywhere accepts 2 to 64 characters of [\w+=,.@-]; longer names keep their
 * start and end in a hash, so two pods never share a name by truncation.
 */
import { createHash } from 'node:crypto'

export const SESSION_NAME_STYLES = ['pod', 'service-account', 'none'] as const
export type SessionNameStyle = (typeof SESSION_NAME_STYLES)[number]

export interface PodIdentity {
  readonly namespace: string
  readonly serviceAccount: string
  readonly podName: string
  readonly podUid: string
}

const MAX = 64

/** Fits any string into a valid session name: invalid characters become "-", long ones are hashed. */
export function fitSessionName(raw: string): string {
  const clean = raw.replace(/[^\w+=,.@-]/g, '-')
  if (clean.length <= MAX) return clean.length >= 2 ? clean : `${clean}--`.slice(0, 2)
  const digest = createHash('sha256').update(raw).digest('hex').slice(0, 10)
  return `${clean.slice(0, MAX - digest.length - 1)}-${digest}`
}

/** `NAMESPACE.POD` (style pod), `NAMESPACE.SERVICEACCOUNT` (service-account), or none. */
export function sessionNameFor(pod: PodIdentity, style: SessionNameStyle): string | undefined {
  switch (style) {
    case 'pod':
      return fitSessionName(`${pod.namespace}.${pod.podName}`)
    case 'service-account':
      return fitSessionName(`${pod.namespace}.${pod.serviceAccount}`)
    case 'none':
      return undefined
  }
}
