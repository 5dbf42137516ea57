// `iamra serve` as a real process under systemd-socket-activate, real AWS clients run in an isolated
// environment, and the probes they use (test/clients/). Loopback only; every wait is bounded.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { BIN } from './cli.js'
import { envFileVars } from './env-file.mjs'
import { pollUntil, sleep } from './wait.js'

const here = (p: string): string => new URL(p, import.meta.url).pathname

export const BOTOCORE_PROBE = here('../clients/botocore-probe.py')
export const JS_PROBE = here('../clients/js-probe.mjs')
export const ENV_FILE_RUNNER = here('./env-file.mjs')
export const CLI_V2 = '/usr/bin/aws'

/** An env file's variables as an object (systemd EnvironmentFile= syntax). */
export function readEnvFile(path: string): Record<string, string> {
  return envFileVars(readFileSync(path, 'utf8'))
}

export interface ClientResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
  /** The JSON objects on stdout (see jsonLines). */
  readonly json: Array<Record<string, unknown>>
}

/** The isolated environment of docs/sdk-protocols §4.1: nothing from the real one but PATH. */
export function isolatedEnv(home: string, vars: Readonly<Record<string, string>>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_DEFAULT_REGION: 'us-east-1',
    ...vars,
  }
}

/** The JSON objects a client printed: the whole output if it is one (pretty-printed), else each JSON line. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  if (text.trimStart().startsWith('{') && text.includes('\n  ')) {
    try {
      const v: unknown = JSON.parse(text)
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return [v as Record<string, unknown>]
    } catch {
      // several lines of JSON
    }
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const v: unknown = JSON.parse(line)
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>)
    } catch {
      // not a JSON line
    }
  }
  return out
}

/** Runs a client asynchronously (in-process servers must keep answering) in an isolated environment. */
export function runIsolated(cmd: string, args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<ClientResult> {
  const started = Date.now()
  return new Promise((resolve) => {
    execFile(cmd, [...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({
        code,
        stdout,
        stderr: stderr + (err !== null && typeof err.code !== 'number' ? `\n[${err.message}]` : ''),
        ms: Date.now() - started,
        json: jsonLines(stdout),
      })
    })
  })
}

/** The first line of a command's output, or undefined when it cannot run. */
export function versionOf(cmd: string, args: readonly string[]): string | undefined {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' } })
  if (r.status !== 0) return undefined
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0]
}

export interface LogLine {
  readonly msg?: string
  readonly reqId?: string
  readonly pid?: number
  readonly req?: { readonly url?: string }
  readonly res?: { readonly statusCode?: number }
  readonly [key: string]: unknown
}

export interface ActivatedServer {
  readonly url: string
  readonly child: ChildProcess
  /** The server's JSON log lines read so far. */
  logLines(): LogLine[]
  /** systemd-socket-activate's and the server's stderr so far. */
  stderr(): string
  /** Waits until every log line written before this call has been read (a marked /healthz round trip). */
  sync(): Promise<void>
  /** Requests to the credentials path whose `probe` query parameter is `probe`, with the status each got. */
  requests(probe: string): Array<{ url: string; status: number | undefined }>
  /** SIGTERM to the process group; SIGKILL after `graceMs`. Says whether SIGTERM alone ended it. */
  stop(graceMs?: number): Promise<{ exitedOnTerm: boolean; ms: number }>
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/**
 * `systemd-socket-activate -l HOST:PORT --fdname=NAME node bin/iamra.mjs serve ...` in its own
 * process group. Resolves once the socket is bound and the server has answered /healthz (the first
 * connection starts it).
 */
export async function startActivatedServer(opts: { dir: string; host: string; port: number; fdname: string }): Promise<ActivatedServer> {
  const child = spawn(
    'systemd-socket-activate',
    ['-l', `${opts.host}:${opts.port}`, `--fdname=${opts.fdname}`, process.execPath, BIN, 'serve', '--configuration-directory', opts.dir],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '' },
    },
  )
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString()
  })
  const url = `http://${opts.host}:${opts.port}`
  const server: ActivatedServer = {
    url,
    child,
    logLines: () => jsonLines(out) as LogLine[],
    stderr: () => err,
    sync: async () => {
      const mark = randomBytes(6).toString('hex')
      await fetch(`${url}/healthz?sync=${mark}`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.text(),
        () => '',
      )
      await pollUntil(() => out.includes(mark), { tries: 100, everyMs: 20 })
    },
    requests: (probe) => {
      const lines = server.logLines()
      const status = new Map<string, number | undefined>()
      for (const l of lines) if (l.msg === 'request completed' && l.reqId !== undefined) status.set(l.reqId, l.res?.statusCode)
      const probeOf = (url: string): string | null => new URLSearchParams(url.split('?')[1] ?? '').get('probe')
      return lines
        .filter((l) => l.msg === 'incoming request' && (l.req?.url ?? '').startsWith('/ecs/credentials') && probeOf(l.req?.url ?? '') === probe)
        .map((l) => ({ url: l.req?.url ?? '', status: l.reqId === undefined ? undefined : status.get(l.reqId) }))
    },
    stop: async (graceMs = 3000) => {
      const started = Date.now()
      if (exited(child) || child.pid === undefined) return { exitedOnTerm: true, ms: 0 }
      const done = new Promise((r) => child.once('exit', r))
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
      const onTerm = await Promise.race([done.then(() => true), sleep(graceMs).then(() => false)])
      if (!onTerm && !exited(child)) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
        await Promise.race([done, sleep(5000)])
      }
      return { exitedOnTerm: onTerm, ms: Date.now() - started }
    },
  }
  // Bound: systemd-socket-activate says "Listening on" once the socket exists.
  await pollUntil(() => err.includes('Listening on') || exited(child), { tries: 100, everyMs: 50 })
  let healthy = false
  for (let i = 0; i < 50 && !healthy && !exited(child); i++) {
    healthy = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    )
    if (!healthy) await sleep(100)
  }
  if (!healthy) {
    await server.stop(500)
    throw new Error(`iamra serve did not come up under systemd-socket-activate on ${opts.host}:${opts.port}: ${err.slice(-2000)}`)
  }
  return server
}

/** Whether the built CLI's credential-process knows --env-file (another engineer is adding it). */
export function credentialProcessHasEnvFile(): boolean {
  const r = spawnSync(process.execPath, [BIN, 'credential-process', '--help'], { encoding: 'utf8', timeout: 20_000 })
  return `${r.stdout}`.includes('--env-file')
}

export function haveJsSdk(): boolean {
  return existsSync(here('../../node_modules/@aws-sdk/credential-providers/package.json'))
}

export function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(here(`../../node_modules/${name}/package.json`), 'utf8')) as { version?: string }).version
  } catch {
    return undefined
  }
}
