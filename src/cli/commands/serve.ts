/** `iamra serve`: the multi-role ECS credentials server. */
import { resolve } from 'node:path'
import type { Argv } from 'yargs'
import { configurationDirectory } from '../../binding/store.js'
import { buildApp } from '../../server/app.js'
import { bindingCredentials } from '../../server/binding-credentials.js'
import { DEFAULT_LISTEN, parseListen, takeListenFds } from '../../server/listen.js'
import { runServer } from '../../server/run-server.js'
import { createServiceManager } from '../../server/service-manager.js'
import { redactUrl } from '../../server/token-extraction.js'
import type { CliContext } from '../context.js'
import type { YargsCommand } from '../yargs-cli.js'

export const command: YargsCommand = {
  command: 'serve',
  describe: 'serve credentials to bound consumers (ECS container-credentials protocol)',
  builder: (y: Argv) =>
    y
      .option('configuration-directory', { type: 'string', describe: 'where bind writes; default: $RUNTIME_DIRECTORY' })
      .option('listen', { type: 'string', array: true, describe: 'HOST:PORT, [IPV6]:PORT or /path.sock; ignored under socket activation (default 127.0.0.1:7224)' })
      .option('log-level', { type: 'string', choices: ['fatal', 'error', 'warn', 'info', 'debug'], default: 'info' }),
  handler: serve,
}

async function serve(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const addresses = ((a.listen as string[] | undefined) ?? []).map(parseListen)
  // Only main() passes the real process.env; the LISTEN_* variables are consumed from it.
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: bindingCredentials({ env: ctx.env, now: ctx.now }),
    logger: {
      level: String(a['log-level']),
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: redactUrl(req.url) }) },
      redact: ['req.headers.authorization', 'headers.authorization'],
    },
  })
  const log = (msg: string, extra: Record<string, unknown> = {}): void => app.fastify.log.info(extra, msg)
  const serviceManager = createServiceManager({ env: ctx.env, pid: process.pid, log })
  await runServer({
    app, inherited, addresses: addresses.length > 0 ? addresses : [DEFAULT_LISTEN], serviceManager, stopSignal: ctx.stopSignal, log,
  })
  return 0
}
