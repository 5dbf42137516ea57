// Known-answer and property tests for the SigV4-X509 signer.
import t from 'tap'
import { X509Certificate, createPrivateKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { amzDate, canonicalHeaders, canonicalQuery, canonicalUri, uriEncode } from '../src/signing/canonical.js'
import { fromKeyObject, type Signer } from '../src/signing/signer.js'
import { sha256Hex, signRequest } from '../src/signing/sigv4x509.js'
import { requestBody, requestQuery } from '../src/rolesanywhere/create-session.js'
import { decimalSerial } from '../src/identity/certificates.js'
import { createCa, createLeaf } from '../src/testing/pki.js'

const fixture = (name: string): string => new URL(`./fixtures/kat/${name}`, import.meta.url).pathname

// The worked example of shared/spec/signing-and-createsession.md §9.
const SPEC_X509 =
  'MIICPTCCAeKgAwIBAgIUHjpcf5stT2CBo8Xn+bHT9afJ4fMwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQaWFtcmEgZXhhbXBsZSBDQTAeFw0yNDAxMDEwMDAwMDBaFw0zNDAxMDEwMDAwMDBaMB8xHTAbBgNVBAMMFGlhbXJhLWV4YW1wbGUtY2xpZW50MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyJhhYm3izOvrUn8eH8onmDtffqV7otts1Nj+URSmH3RS9ozc9JXrSk4JlOKJsah9EDML3t61MNSQlmEkkMVQyLUTHhdNUBoBUrIflDYCPgj1pt3hXSvu9H0BtsI4195G6zpUrs/nW1FTDyPMKFFQWlN43gj+04OIGz5oJUnSShjNuS1BumoZ08RGzQTcJxBPb8StdSMF60tXF8O1qYTiyV6l17Lpr4uIlO+XKsXCwJNQLuhoqHyHwLa5jrXoS6lb16ndxh22pP32qiMPID5ULVFWxbKcquFNP3iR5e7pGzaI3EiffWg++EMhwWwUJVlukG9T895vxsd2taJIpzm/ZwIDAQABozUwMzAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDAjAKBggqhkjOPQQDAgNJADBGAiEAlX0kmLWwDMtAC902j8JxKVdTQ+QDs0wAOvEEd99NhK0CIQCTpP7WzCU48IlEwNvpWqfL4FllHf+1zFwLyCsJVnaOGg=='
const SPEC_SIG =
  '96f161586c83d2b2e883cf3c8525363b7184ebda79bc802e2664480ee9239b3d59d9b9ba3c14bfd6bf87a49f36609dc8e142c487a9a762fe491d2d3a8f620eef265f090b118121f783ef634322835e7abec350c11453bf27aabd2ffa5642a603dd8f1bb863ee8ee3a34cd700eb57b840359d82c1dad4113084a37daa21d6febf19992149da7f41db177ccfa3d9932c9e359076159314fcf9f3882f74bc08482aeec6e37deb1ed4b8c003ddd9512bfbda33ad680f76a02b65fcf1e5a126cfdff168aaf660e92c3be27ebb50597228afe9a099fe9064fb52d62b24d76319da0b1c2f55b32a24e1c24f03d993dc318470492267c115785f41440fdaf002c090996b'

t.test('spec worked example: canonical request, string to sign, Authorization', async (t) => {
  const leafDer = Buffer.from(SPEC_X509, 'base64')
  const leaf = new X509Certificate(leafDer)
  let signedData: Buffer | undefined
  const replay: Signer = {
    family: 'RSA',
    sign: async (d) => {
      signedData = d
      return Buffer.from(SPEC_SIG, 'hex')
    },
  }
  const req = {
    trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01',
    profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e',
    roleArn: 'arn:aws:iam::123456789012:role/iamra-example',
    durationSeconds: 3600,
  }
  const body = requestBody(req)
  t.equal(sha256Hex(body), '1a15f67f6619aa540b13e9a4c37d149fb2c9bdea25d82b73a3878826694dfe27')
  t.equal(decimalSerial(leaf), '172571224098661885432759610396734365470439367155')
  const out = await signRequest({
    method: 'POST',
    host: 'rolesanywhere.us-east-1.amazonaws.com',
    path: '/sessions',
    query: requestQuery(req),
    body,
    region: 'us-east-1',
    at: new Date('2024-05-01T12:34:56Z'),
    leafDer,
    serial: decimalSerial(leaf),
    chainDer: [],
    signer: replay,
  })
  t.equal(Buffer.byteLength(out.canonicalRequest), 1305)
  t.equal(sha256Hex(out.canonicalRequest), '254cf22c96ea0464caf915b26a6d81a9436f5a5b1503f271218ca07cd2fa7f37')
  t.equal(
    out.stringToSign,
    'AWS4-X509-RSA-SHA256\n20240501T123456Z\n20240501/us-east-1/rolesanywhere/aws4_request\n254cf22c96ea0464caf915b26a6d81a9436f5a5b1503f271218ca07cd2fa7f37',
  )
  t.equal(sha256Hex(signedData ?? ''), '71e8fce9893f311cfd2e6fe37187f44f497b13b9f55ecbc72908150040851354')
  t.ok(verify('sha256', Buffer.from(out.stringToSign), leaf.publicKey, Buffer.from(SPEC_SIG, 'hex')), 'the spec signature verifies over our string to sign')
  t.equal(
    out.headers.authorization,
    `AWS4-X509-RSA-SHA256 Credential=172571224098661885432759610396734365470439367155/20240501/us-east-1/rolesanywhere/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509, Signature=${SPEC_SIG}`,
  )
  t.equal(out.headers['x-amz-x509'], SPEC_X509)
  t.notOk('x-amz-x509-chain' in out.headers, 'no chain header when the chain is empty')
})

t.test('fixed RSA key: signature equals the one openssl computed', async (t) => {
  const key = createPrivateKey(readFileSync(fixture('rsa2048.key')))
  const cert = new X509Certificate(readFileSync(fixture('rsa2048.crt')))
  t.equal(decimalSerial(cert), '68084868553483927', 'decimal serial, no leading zero byte')
  const req = {
    trustAnchorArn: 'arn:aws:rolesanywhere:eu-west-2:123456789012:trust-anchor/ta-1',
    profileArn: 'arn:aws:rolesanywhere:eu-west-2:123456789012:profile/p-1',
    roleArn: "arn:aws:iam::123456789012:role/path/Team(Dev)!*'",
    durationSeconds: 900,
    roleSessionName: 'kat session',
  }
  const query = requestQuery(req)
  t.equal(
    query,
    'profileArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-2%3A123456789012%3Aprofile%2Fp-1&roleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpath%2FTeam%28Dev%29%21%2A%27&trustAnchorArn=arn%3Aaws%3Arolesanywhere%3Aeu-west-2%3A123456789012%3Atrust-anchor%2Fta-1',
  )
  const out = await signRequest({
    method: 'POST',
    host: 'rolesanywhere.eu-west-2.amazonaws.com',
    path: '/sessions',
    query,
    body: requestBody(req),
    region: 'eu-west-2',
    at: new Date('2025-01-02T03:04:05.678Z'),
    leafDer: Buffer.from(cert.raw),
    serial: decimalSerial(cert),
    chainDer: [],
    signer: fromKeyObject(key),
  })
  t.equal(sha256Hex(out.canonicalRequest), 'd3d66cdaed4b77ad691308659da6e2f3131d3085667371a1d143fcdce3e6d4aa')
  t.match(
    out.headers.authorization,
    /Signature=0e79486565149c2c09f214dd3a5944048ee1a7b6a95b6afe502a5d70b1eeb5191b8e193530fdaace61eae03e337a84376296979a9697bc3379262ab1fa205ce056951acfe44dd272218122ef0598add984bc08fb80d940acd628527438c41d08e750cf0afd4f6ab08fc1fb5fe6de235d94471af9b04fdc32f8f60f6bde7abac0c7b87abc90a61fb19b897793772ca58dceaf0bb308915d03c5de9881f020b9206c25bc3f364f549a8edd1cb2f09adc2a4d5c9cddd369e93fa9a92fa99a89debf9a75795b5576e798c0854f4bd55d53c7596eca45fa3fe49ca1621e724e2ff71c38a237c2d836e931771793fcb7f277b738ad4d88652a4e24403484fe150d8eef$/,
  )
  t.match(
    out.headers.authorization,
    /^AWS4-X509-RSA-SHA256 Credential=68084868553483927\/20250102\/eu-west-2\/rolesanywhere\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-x509, /,
  )
})

t.test('ECDSA on every curve: SHA-256, DER encoding, chain header signed', async (t) => {
  const ca = await createCa({ name: 'ca', key: 'p256' })
  for (const spec of ['p256', 'p384', 'p521'] as const) {
    const leaf = await createLeaf({ name: `leaf-${spec}`, key: spec, issuer: ca })
    const out = await signRequest({
      method: 'POST',
      host: '127.0.0.1:8443',
      path: '/prefix/sessions',
      query: '',
      body: Buffer.from('{}'),
      region: 'us-east-1',
      at: new Date(),
      leafDer: leaf.der,
      serial: decimalSerial(leaf.cert),
      chainDer: [ca.der],
      signer: fromKeyObject(leaf.key),
    })
    const sig = Buffer.from(/Signature=([0-9a-f]+)$/.exec(out.headers.authorization ?? '')?.[1] ?? '', 'hex')
    t.equal(sig[0], 0x30, `${spec}: DER SEQUENCE`)
    t.ok(verify('sha256', Buffer.from(out.stringToSign), leaf.cert.publicKey, sig), `${spec}: verifies with SHA-256`)
    t.match(out.headers.authorization, /^AWS4-X509-ECDSA-SHA256 .*SignedHeaders=content-type;host;x-amz-date;x-amz-x509;x-amz-x509-chain,/)
    t.equal(out.headers['x-amz-x509-chain'], ca.der.toString('base64'))
    t.match(out.canonicalRequest, /^POST\n\/prefix\/sessions\n\nContent-Type/i)
  }
})

t.test('canonicalisation details', async (t) => {
  t.equal(uriEncode("a b!'()*~-_."), 'a%20b%21%27%28%29%2A~-_.')
  t.equal(uriEncode('é/+='), '%C3%A9%2F%2B%3D')
  t.equal(
    canonicalQuery([
      ['b', '2'],
      ['a', 'z'],
      ['a', 'y'],
    ]),
    'a=y&a=z&b=2',
  )
  t.equal(canonicalUri('/a b/sessions'), '/a%20b/sessions')
  t.equal(canonicalUri('/a%20b/sessions'), '/a%2520b/sessions', 'the path as sent is encoded once more (SigV4, non-S3)')
  t.equal(canonicalUri(new URL('https://h/caf\u00e9 x/sessions').pathname), '/caf%25C3%25A9%2520x/sessions')
  t.equal(canonicalUri(''), '/')
  const h = canonicalHeaders({ 'X-B': '  two   words ', 'x-a': '1', host: 'h' })
  t.equal(h.block, 'host:h\nx-a:1\nx-b:two words\n')
  t.equal(h.signedHeaders, 'host;x-a;x-b')
  t.equal(amzDate(new Date('2024-05-01T12:34:56.789Z')), '20240501T123456Z')
})
