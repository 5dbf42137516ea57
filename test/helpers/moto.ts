// A moto server with auth on, a broker user allowed to assume test-role: a signature-checking STS.
import { spawn } from 'node:child_process'
import type { Test } from 'tap'
import { signV4Hmac, xmlTag } from '../../src/testing/fake-endpoint/sts-mint.js'
import { freePort, stopProcess } from './processes.js'

export interface Moto {
  readonly endpoint: string
  readonly broker: { accessKeyId: string; secretAccessKey: string }
  readonly roleArn: string
  /** A signed Query API call (iam or sts) with the given keys. */
  call(
    service: 'iam' | 'sts',
    params: Record<string, string>,
    keys?: { accessKeyId: string; secretAccessKey: string },
    sessionToken?: string,
  ): Promise<{ status: number; xml: string }>
}

/** Starts moto for this test (stopped at teardown); undefined, with a failed assertion, if it does not come up. */
export async function startMoto(t: Test, opts: { readonly rolePolicy?: Record<string, unknown> } = {}): Promise<Moto | undefined> {
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', detached: true })
  t.teardown(() => stopProcess(moto))
  let ready = false
  for (let i = 0; i < 150 && !ready && moto.exitCode === null; i++) {
    ready = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    )
    if (!ready) await new Promise((r) => setTimeout(r, 200))
  }
  if (!ready) {
    t.fail('moto_server did not come up within 30 s')
    return undefined
  }
  const call: Moto['call'] = async (service, params, keys = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' }, sessionToken) => {
    const body = new URLSearchParams(params).toString()
    const headers = signV4Hmac({
      method: 'POST',
      url: new URL(`${endpoint}/`),
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      ...keys,
      ...(sessionToken === undefined ? {} : { sessionToken }),
      region: 'us-east-1',
      service,
      at: new Date(),
    })
    const res = await fetch(`${endpoint}/`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
    return { status: res.status, xml: await res.text() }
  }
  const policy = (o: unknown): string => JSON.stringify({ Version: '2012-10-17', Statement: [o] })
  const steps: Array<Record<string, string>> = [
    { Action: 'CreateUser', Version: '2010-05-08', UserName: 'broker' },
    {
      Action: 'PutUserPolicy',
      Version: '2010-05-08',
      UserName: 'broker',
      PolicyName: 'assume',
      PolicyDocument: policy({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }),
    },
    {
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: 'test-role',
      AssumeRolePolicyDocument: policy({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:user/broker' }, Action: 'sts:AssumeRole' }),
    },
  ]
  // An inline policy for test-role, for tests whose clients do more than GetCallerIdentity.
  if (opts.rolePolicy !== undefined)
    steps.push({ Action: 'PutRolePolicy', Version: '2010-05-08', RoleName: 'test-role', PolicyName: 'test', PolicyDocument: policy(opts.rolePolicy) })
  for (const step of steps) t.equal((await call('iam', step)).status, 200, `moto setup: ${step.Action}`)
  const key = await call('iam', { Action: 'CreateAccessKey', Version: '2010-05-08', UserName: 'broker' })
  const broker = { accessKeyId: xmlTag(key.xml, 'AccessKeyId') ?? '', secretAccessKey: xmlTag(key.xml, 'SecretAccessKey') ?? '' }
  const reset = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '0' })
  t.equal(reset.status, 200, 'moto: auth is on from here')
  return { endpoint, broker, roleArn: 'arn:aws:iam::123456789012:role/test-role', call }
}
