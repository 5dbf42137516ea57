// Writes bindings directly (no CLI, no validation) for server tests.
import { envFor, renderEnvFile, type Mode } from '../../src/binding/modes.js'
import { bindingPaths, writeBinding, type Binding } from '../../src/binding/store.js'
import { issueToken } from '../../src/binding/token.js'
import { realRandom, testLocks } from './runtime.js'

export const REQUEST = {
  durationSeconds: 3600,
  trustAnchorArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0b3f6a2e-7c41-4d8e-9a15-3e2f6b8c9d01',
  profileArn: 'arn:aws:rolesanywhere:us-east-1:123456789012:profile/6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e',
  roleArn: 'arn:aws:iam::123456789012:role/app',
}

export async function addBinding(dir: string, name: string, mode: Mode, extra: Partial<Binding> = {}): Promise<{ token: string; binding: Binding }> {
  const { token, secretHash } = issueToken(name, realRandom.randomBytes)
  const binding: Binding = {
    name,
    secretHash,
    mode,
    certificateFiles: ['/nonexistent/cert.pem'],
    intermediatesFiles: [],
    privateKeyFile: '/nonexistent/key.pem',
    request: REQUEST,
    createdAt: new Date().toISOString(),
    ...extra,
  }
  const paths = bindingPaths(dir, name)
  await writeBinding(
    dir,
    {
      binding,
      envFile: renderEnvFile(envFor({ mode, token, url: new URL('http://127.0.0.1:7224'), tokenFile: paths.token })),
      tokenFile: mode === 'ecs-full-token-file' ? { content: token } : undefined,
    },
    { locks: testLocks(), randomBytes: realRandom.randomBytes },
  )
  return { token, binding }
}
