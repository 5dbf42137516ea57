/** `iamra unbind NAME`: removes what bind wrote; the token stops working at once. */
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { checkName } from '../../binding/names.js'
import { configurationDirectory, removeBinding } from '../../binding/store.js'
import { FileLocks } from '../../fs/lock.js'
import type { CliContext } from '../context.js'
import type { YargsCommand } from '../yargs-cli.js'

export const command: YargsCommand = {
  command: 'unbind <name>',
  describe: 'remove a binding (its token stops working at once); succeeds when already gone',
  builder: (y: Argv) =>
    y.positional('name', { type: 'string' }).option('configuration-directory', { type: 'string', describe: 'default: $RUNTIME_DIRECTORY' }),
  handler: async (a: Record<string, unknown>, ctx: CliContext) => {
    const name = checkName(String(a.name))
    const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
    const removed = await removeBinding(dir, name, { locks: new FileLocks(ctx) })
    ctx.stderr(removed.length === 0 ? `iamra: ${name} was not bound; nothing to remove` : `iamra: unbound ${name}`)
    return 0
  },
}
