/**
 * `TSS2 PRIVATE KEY` files (the format of tpm2-openssl, tpm2-tss-engine, the Linux kernel and the
 * official helper): an ASN.1 TPMKey holding the TPM2B_PUBLIC and TPM2B_PRIVATE of a key wrapped
 * by its parent, and the parent's handle. Only loadable keys without policies are usable here.
 */
import { fail, IamraError } from '../errors.js'
import { children, oidString, parseOne, TAG, uintOf } from '../identity/der.js'
import { splitPem } from '../identity/pem.js'

export const TSS2_LABEL = 'TSS2 PRIVATE KEY'

const LOADABLE = new Set(['2.23.133.10.1.3', '2.23.133.10.2'])
const KINDS: Record<string, string> = { '2.23.133.10.1.4': 'an importable key', '2.23.133.10.1.5': 'sealed data' }

export interface TpmKeyFile {
  /** The key needs no password (emptyAuth TRUE). */
  readonly emptyAuth: boolean
  /** The parent: a hierarchy (0x40000001 owner, …) or a persistent handle (0x81…). */
  readonly parent: number
  /** The parent is an RSA storage key (rsaParent TRUE); else the P-256 one. */
  readonly rsaParent: boolean
  /** TPM2B_PUBLIC and TPM2B_PRIVATE, each with its 2-byte size. */
  readonly pub: Buffer
  readonly priv: Buffer
}

/** True when the bytes are a PEM file holding a TSS2 PRIVATE KEY block. */
export const isTss2Pem = (bytes: Buffer): boolean => bytes.includes(`-----BEGIN ${TSS2_LABEL}-----`)

export function parseTpmKeyFile(bytes: Buffer, source: string): TpmKeyFile {
  const block = splitPem(bytes.toString('utf8')).find((b) => b.label === TSS2_LABEL)
  if (block?.der === undefined) return fail('KEY_MALFORMED', `${source}: no ${TSS2_LABEL} block`)
  let fields: ReturnType<typeof children>
  try {
    fields = children(parseOne(block.der, TAG.SEQUENCE))
  } catch (e) {
    throw new IamraError('KEY_MALFORMED', `${source}: malformed ${TSS2_LABEL} (${(e as Error).message})`, { cause: e })
  }
  const [typeField, ...rest] = fields
  const type = typeField === undefined ? '' : oidString(typeField)
  if (!LOADABLE.has(type))
    return fail(
      'KEY_UNSUPPORTED',
      `${source}: the TPM key file holds ${KINDS[type] ?? `an unknown object (${type})`}; only loadable keys (2.23.133.10.1.3) can sign`,
    )
  let emptyAuth = false
  let rsaParent = false
  const plain = rest.filter((f) => (f.tag & 0xe0) !== 0xa0)
  for (const f of rest.filter((x) => (x.tag & 0xe0) === 0xa0)) {
    const n = f.tag & 0x1f
    const inner = children(f)[0]
    if (n === 0) emptyAuth = inner?.tag === TAG.BOOLEAN && inner.value[0] !== 0
    else if (n === 5) rsaParent = inner?.tag === TAG.BOOLEAN && inner.value[0] !== 0
    else if (n === 1 || n === 3)
      fail(
        'KEY_UNSUPPORTED',
        `${source}: the TPM key is sealed to a policy (it has ${n === 1 ? 'policy' : 'authPolicy'} entries); TPM policies are not supported, use a key with a password or no password`,
      )
    else if (n === 2) fail('KEY_UNSUPPORTED', `${source}: the TPM key carries an import secret; only loadable keys are supported`)
  }
  const [parentField, pub, priv] = plain
  if (parentField === undefined || pub?.tag !== TAG.OCTET_STRING || priv?.tag !== TAG.OCTET_STRING)
    return fail('KEY_MALFORMED', `${source}: ${TSS2_LABEL} lacks parent, pubkey or privkey`)
  return { emptyAuth, parent: uintOf(parentField), rsaParent, pub: pub.value, priv: priv.value }
}
