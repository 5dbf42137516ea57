/**
 * Which binding a request is for, if any: the token's secret must match the stored hash (constant
 * time), then the token must have come the way the binding's mode says, over a socket that serves
 * that mode. All refusals look alike to a caller without the secret, in body and in time (a name
 * without a binding is compared against a dummy hash); the server log says why (never the token).
 */
import { IamraError } from '../errors.js'
import { isRelative, tokenInQuery, type Mode } from '../binding/modes.js'
import { entryForSecret, type Binding } from '../binding/store.js'
import { hashSecret, parseToken, secretMatches } from '../binding/token.js'
import type { BindingLookup } from './binding-lookup.js'
import type { PresentedToken } from './token-extraction.js'

const REJECTED = 'access token not accepted'

/**
 * Compared against when the name has no binding, only so that the refusal takes as long as a wrong secret's: the
 * result is ignored (a name without a binding is refused whatever the secret), so a fixed value does.
 */
const DUMMY_HASH = hashSecret(Buffer.alloc(64))

/** Socket names (FileDescriptorName=) that serve only one family of modes. */
export function socketAllows(socketName: string | undefined, mode: Mode): boolean {
  if (socketName === 'ecs-relative') return isRelative(mode)
  if (socketName === 'ecs-full') return !isRelative(mode)
  return true
}

/** A refusal: the same answer for every cause, the cause for the log. */
function rejected(reason: string, message = REJECTED): IamraError {
  return new IamraError('TOKEN_REJECTED', message, { cause: new Error(reason) })
}

/** The binding a token opens, looked up in the server's own BindingLookup (one per server, with its parsed-file memo). */
export async function authorize(lookup: BindingLookup, presented: PresentedToken, socketName?: string): Promise<Binding> {
  const parsed = parseToken(presented.token)
  if (parsed === undefined) throw rejected('the token is not of the form iamra.NAME.SECRET')
  let found: ReturnType<BindingLookup['lookup']>
  try {
    found = lookup.lookup(parsed.name)
  } catch (e) {
    // The caller may not hold the secret: the details (paths, errno) go to the log only.
    if (e instanceof IamraError) throw new IamraError(e.code, 'the binding for this token cannot be used; the server log says why', { cause: e })
    throw e
  }
  // Always at least one comparison, so an unknown name costs what a wrong secret costs. During a
  // rebind the file also holds the entries the consumer's previous token opens (binding-file.ts).
  if (!found.found) {
    secretMatches(parsed.secret, DUMMY_HASH)
    throw rejected(found.reason)
  }
  const binding = entryForSecret(found.binding, parsed.secret, found.entries)
  if (binding === undefined) throw rejected(`wrong secret for binding "${found.binding.name}" (an old token after a rebind, or a mistyped one)`)
  const wantQuery = tokenInQuery(binding.mode)
  if (wantQuery !== (presented.from === 'query')) {
    const msg = `${REJECTED}: binding ${binding.name} (mode ${binding.mode}) takes its token in the ${wantQuery ? 'access_token query parameter' : 'Authorization header'}`
    throw rejected(
      `token for binding "${binding.name}" sent in the ${presented.from === 'query' ? 'query' : 'Authorization header'}, but its mode ${binding.mode} takes it in the ${wantQuery ? 'query' : 'header'}`,
      msg,
    )
  }
  if (!socketAllows(socketName, binding.mode)) {
    const msg = `${REJECTED}: binding ${binding.name} (mode ${binding.mode}) is not served on this socket (${socketName})`
    throw rejected(`binding "${binding.name}" (mode ${binding.mode}) is not served on socket ${socketName}`, msg)
  }
  return binding
}
