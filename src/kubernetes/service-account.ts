/** A Kubernetes service account named `NAMESPACE/NAME`, checked against Kubernetes' naming rules. */
export interface ServiceAccountRef {
  readonly namespace: string
  readonly name: string
}

/** Namespaces are DNS-1123 labels; service-account names DNS-1123 subdomains. */
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/
const SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/

export function isServiceAccount(namespace: string, name: string): boolean {
  return LABEL.test(namespace) && SUBDOMAIN.test(name)
}

/** `NAMESPACE/NAME`, or undefined when it is not one (each caller says so in its own terms). */
export function serviceAccountOf(value: string): ServiceAccountRef | undefined {
  const [namespace, name, ...rest] = value.split('/')
  if (rest.length > 0 || namespace === undefined || name === undefined || !isServiceAccount(namespace, name)) return undefined
  return { namespace, name }
}

export const formatServiceAccount = (sa: ServiceAccountRef): string => `${sa.namespace}/${sa.name}`
