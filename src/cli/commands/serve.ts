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
import { IamraError } from '../../errors.js'
import { CredentialCache } from '../../cache/credential-cache.js'
import { cachedCredentials } from '../../server/cached-credentials.js'
import type { CliContext } from '../context.js'
import type { YargsCommand } from '../yargs-cli.js'

export const command: YargsCommand = {
  command: 'serve',
  describe: 'serve credentials to bound consumers (ECS container-credentials protocol)',
  builder: (y: Argv) =>
    y
      .option('configuration-directory', { type: 'string', describe: 'where bind writes; default: $RUNTIME_DIRECTORY' })
      .option('listen', { type: 'string', array: true, describe: 'HOST:PORT, [IPV6]:PORT or /path.sock; ignored under socket activation (default 127.0.0.1:7224)' })
      .option('cache', { type: 'boolean', default: true, describe: 'cache credentials per binding (--no-cache: one CreateSession per request)' })
      .option('refresh-window', { type: 'number', default: 1200, describe: 'seconds: credentials with less left are refreshed before being served' })
      .option('log-level', { type: 'string', choices: ['fatal', 'error', 'warn', 'info', 'debug'], default: 'info' }),
  handler: serve,
}

async function serve(a: Record<string, unknown>, ctx: CliContext): Promise<number> {
  const dir = resolve(configurationDirectory(a['configuration-directory'] as string | undefined, ctx.env))
  const addresses = ((a.listen as string[] | undefined) ?? []).map(parseListen)
  // Only main() passes the real process.env; the LISTEN_* variables are consumed from it.
  const inherited = takeListenFds(ctx.env as Record<string, string | undefined>, process.pid)
  const fetchFor = bindingCredentials({ env: ctx.env, now: ctx.now })
  const cache = new CredentialCache({ refreshWindowMs: refreshWindowMs(a['refresh-window']) })
  const app = await buildApp({
    configurationDirectory: dir,
    resolveCredentials: a.cache === false ? fetchFor : cachedCredentials(fetchFor, cache),
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
  cache.clear()
  return 0
}

function refreshWindowMs(raw: unknown): number {
  const seconds = Number(raw)
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 6 * 3600) throw new IamraError('USAGE', `--refresh-window must be 0 to 21600 seconds, got ${String(raw)}`)
  return seconds * 1000
}
