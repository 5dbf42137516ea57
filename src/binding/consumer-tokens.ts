/**
 * The secrets a binding's consumer holds now: the token in its env file (header variable or
 * access_token in the URI) and the one in its token file. A rebind keeps the entries these open
 * until the new env and token files are in place (see binding-file.ts).
 */
import { parseEnvFile } from './env-file.js'
import { SECRET_FILE_LIMIT } from '../fs/read-bounded.js'
import { readOwnFile } from './own-file.js'
import { parseToken } from './token.js'

export interface ConsumerFiles {
  readonly name: string
  readonly env: string
  readonly token: string
}

export async function consumerSecrets(files: ConsumerFiles): Promise<Buffer[]> {
  const tokens: string[] = []
  const envText = await readOwnFile(files.env, SECRET_FILE_LIMIT)
  if (envText !== undefined) {
    const vars = parseEnvFile(envText)
    const header = vars.AWS_CONTAINER_AUTHORIZATION_TOKEN
    if (header !== undefined) tokens.push(header.replace(/^Bearer\s+/i, ''))
    for (const uri of [vars.AWS_CONTAINER_CREDENTIALS_FULL_URI, vars.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI]) {
      if (uri === undefined) continue
      const q = uri.indexOf('?')
      if (q >= 0) tokens.push(...new URLSearchParams(uri.slice(q + 1)).getAll('access_token'))
    }
  }
  // Read whether or not the env file names it: token-file consumers may be given its path another way.
  const tokenText = await readOwnFile(files.token, SECRET_FILE_LIMIT)
  if (tokenText !== undefined) tokens.push(tokenText.trim())
  const secrets: Buffer[] = []
  for (const token of tokens) {
    const parsed = parseToken(token)
    if (parsed !== undefined && parsed.name === files.name) secrets.push(parsed.secret)
  }
  return secrets
}
