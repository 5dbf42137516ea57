/** `iamra unbind NAME`: removes what bind wrote; the token stops working at once. */
import { resolve } from 'node:path'
import { checkName } from '../../binding/names.js'
import { configurationDirectory, removeBinding } from '../../binding/store.js'
import { FileLocks } from '../../fs/lock.js'
import type { TableCommand } from '../flags.js'

const FLAGS = {
  'configuration-directory': { type: 'string', placeholder: 'DIR', defaultText: '$RUNTIME_DIRECTORY', description: 'where bind wrote the binding' },
} as const

export const command: TableCommand<typeof FLAGS> = {
  usage: 'iamra unbind NAME [--configuration-directory DIR]',
  summary: 'Removes a binding (its token stops working at once); succeeds when already gone.',
  positional: ['NAME', 'binding name'],
  flags: FLAGS,
  run: async ({ flags, positionals }, ctx) => {
    const name = checkName(positionals[0] ?? '')
    const dir = resolve(configurationDirectory(flags['configuration-directory'], ctx.env))
    const removed = await removeBinding(dir, name, { locks: new FileLocks(ctx) })
    ctx.stderr(removed.length === 0 ? `iamra: ${name} was not bound; nothing to remove` : `iamra: unbound ${name}`)
    return 0
  },
}
