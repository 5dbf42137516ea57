/**
 * Which binding a request is for, if any: the token's secret must match the stored hash (constant
 * time), then the token must have come the way the binding's mode says, over a socket that serves
 * that mode. All refusals look alike to a caller without the secret.
 */
import { IamraError } from '../errors.js'
import { isRelative, tokenInQuery, type Mode } from '../binding/modes.js'
import { entryForSecret, readBinding, type Binding } from '../binding/store.js'
import { parseToken } from '../binding/token.js'
import type { PresentedToken } from './token-extraction.js'

const REJECTED = 'access token not accepted'

/** Socket names (FileDescriptorName=) that serve only one family of modes. */
export function socketAllows(socketName: string | undefined, mode: Mode): boolean {
  if (socketName === 'ecs-relative') return isRelative(mode)
  if (socketName === 'ecs-full') return !isRelative(mode)
  return true
}

export async function authorize(dir: string, presented: PresentedToken, socketName?: string): Promise<Binding> {
  const parsed = parseToken(presented.token)
  if (parsed === undefined) throw new IamraError('TOKEN_REJECTED', REJECTED)
  let binding: Binding | undefined
  try {
    binding = await readBinding(dir, parsed.name)
  } catch (e) {
    // The caller may not hold the secret: the details (paths, errno) go to the log only.
    if (e instanceof IamraError) throw new IamraError(e.code, 'the binding for this token cannot be used; the server log says why', { cause: e })
    throw e
  }
  // During a rebind the file also holds the entries the consumer's previous token opens (binding-file.ts).
  const entry = binding === undefined ? undefined : entryForSecret(binding, parsed.secret)
  if (entry === undefined) throw new IamraError('TOKEN_REJECTED', REJECTED)
  binding = entry
  const wantQuery = tokenInQuery(binding.mode)
  if (wantQuery !== (presented.from === 'query')) {
    throw new IamraError('TOKEN_REJECTED', `${REJECTED}: binding ${binding.name} (mode ${binding.mode}) takes its token in the ${wantQuery ? 'access_token query parameter' : 'Authorization header'}`)
  }
  if (!socketAllows(socketName, binding.mode)) {
    throw new IamraError('TOKEN_REJECTED', `${REJECTED}: binding ${binding.name} (mode ${binding.mode}) is not served on this socket (${socketName})`)
  }
  return binding
}
