/** ML-DSA (FIPS 204) parameter sets as X.509 names them; no crypto here, so it loads for free. */

export type MlDsaLevel = 44 | 65 | 87

/** id-ml-dsa-44/65/87 (RFC 9881), used both as key and as signature algorithm, with no parameters. */
const MLDSA_OIDS: Readonly<Record<string, MlDsaLevel>> = {
  '2.16.840.1.101.3.4.3.17': 44,
  '2.16.840.1.101.3.4.3.18': 65,
  '2.16.840.1.101.3.4.3.19': 87,
}

/** The ML-DSA level of a key or signature algorithm OID, or undefined. */
export const mlDsaLevel = (oid: string): MlDsaLevel | undefined => MLDSA_OIDS[oid]

/** Byte sizes: public key, expanded private key, signature (FIPS 204 table 2). */
export const SIZES: Readonly<Record<MlDsaLevel, { publicKey: number; secretKey: number; signature: number }>> = {
  44: { publicKey: 1312, secretKey: 2560, signature: 2420 },
  65: { publicKey: 1952, secretKey: 4032, signature: 3309 },
  87: { publicKey: 2592, secretKey: 4896, signature: 4627 },
}
