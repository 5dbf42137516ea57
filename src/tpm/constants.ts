/** TPM 2.0 constants used by iamra (TPM 2.0 Library, Part 2: Structures). */

export const ST = { NO_SESSIONS: 0x8001, SESSIONS: 0x8002, HASHCHECK: 0x8024 } as const
export const CC = { CreatePrimary: 0x131, Load: 0x157, Sign: 0x15d, FlushContext: 0x165, ReadPublic: 0x173 } as const
export const RH = { OWNER: 0x40000001, NULL: 0x40000007, PW: 0x40000009, ENDORSEMENT: 0x4000000b, PLATFORM: 0x4000000c } as const
export const ALG = {
  RSA: 0x0001,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  ECDSA: 0x0018,
  ECC: 0x0023,
  AES: 0x0006,
  CFB: 0x0043,
} as const
export const ECC_CURVES: Readonly<Record<number, { name: 'P-256' | 'P-384' | 'P-521'; bytes: number }>> = {
  // biome-ignore-start lint/complexity/useSimpleNumberKeys: TPM_ECC_CURVE values, written as the TPM 2.0 spec (Part 2, 6.4) writes them
  0x0003: { name: 'P-256', bytes: 32 },
  0x0004: { name: 'P-384', bytes: 48 },
  0x0005: { name: 'P-521', bytes: 66 },
  // biome-ignore-end lint/complexity/useSimpleNumberKeys: -
}
/** objectAttributes bits. */
export const ATTR = {
  fixedTPM: 0x2,
  fixedParent: 0x10,
  sensitiveDataOrigin: 0x20,
  userWithAuth: 0x40,
  noDA: 0x400,
  restricted: 0x10000,
  decrypt: 0x20000,
  sign: 0x40000,
} as const

/** Response codes iamra reacts to. Format-1 codes are compared on `rc & 0xbf` (parameter/handle/session number removed). */
export const RC = {
  SUCCESS: 0,
  INITIALIZE: 0x100,
  RETRY: 0x922,
  YIELDED: 0x908,
  TESTING: 0x90a,
  LOCKOUT: 0x921,
  REFERENCE_H0: 0x910,
  HANDLE: 0x08b,
  AUTH_FAIL: 0x08e,
  BAD_AUTH: 0x0a2,
  POLICY_FAIL: 0x09d,
  SCHEME: 0x092,
  ATTRIBUTES: 0x082,
  KEY: 0x09c,
  INTEGRITY: 0x09f,
  VALUE: 0x084,
} as const

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(RC).map(([k, v]) => [v, `TPM_RC_${k}`]))

/** The response code without its parameter, handle or session number (format 1), for comparisons. */
export const baseCode = (rc: number): number => (rc & 0x80 ? 0x80 | (rc & 0x3f) : rc)

/** `TPM_RC_AUTH_FAIL (0x98e)` and the like, for messages. */
export function rcName(rc: number): string {
  const name = NAMES[baseCode(rc)]
  return `${name ?? 'TPM error'} (0x${rc.toString(16)})`
}
