// Private network namespaces for the end-to-end tests that need a fixed address (169.254.170.2 for the
// ECS relative URI, 169.254.170.23 and fd00:ec2::23 for the node agent): the probe that says whether
// this machine can make one, and a bounded run of a program inside one. Nothing leaves the namespace.
import { spawn, spawnSync } from 'node:child_process'
import type { Test } from 'tap'
import { onPath } from './processes.js'

/** Addresses the namespace's loopback owns. */
export interface NamespaceAddresses {
  readonly ipv4?: readonly string[]
  readonly ipv6?: readonly string[]
}

/** The shell commands that bring the loopback up and give it the addresses. */
export function loopbackSetup(addresses: NamespaceAddresses): string {
  return [
    'ip link set lo up',
    ...(addresses.ipv4 ?? []).map((a) => `ip addr add ${a}/32 dev lo`),
    ...(addresses.ipv6 ?? []).map((a) => `ip -6 addr add ${a}/128 dev lo`),
  ].join(' && ')
}

/**
 * How `unshare` makes a namespace owning `addresses` here: the first of `candidates` that works
 * (`-n` needs root; `-rn` adds a user namespace), or why none does.
 */
export function unshareArgs(
  addresses: NamespaceAddresses,
  candidates: ReadonlyArray<readonly string[]> = [['-n'], ['-rn']],
): { args: string[] } | { reason: string } {
  if (!onPath('unshare')) return { reason: 'unshare (util-linux) is not installed' }
  if (!onPath('ip')) return { reason: 'ip (iproute2) is not installed' }
  const reasons: string[] = []
  for (const args of candidates) {
    const r = spawnSync('unshare', [...args, 'sh', '-c', loopbackSetup(addresses)], { encoding: 'utf8', timeout: 10_000 })
    if (r.status === 0) return { args: [...args] }
    reasons.push(`unshare ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`)
  }
  const owned = [...(addresses.ipv4 ?? []), ...(addresses.ipv6 ?? [])].join(' and ')
  return { reason: `cannot create a network namespace owning ${owned}: ${reasons.join('; ')}` }
}

export interface NamespaceRun {
  /** The exit code, or null when killed (on the timeout). */
  readonly code: number | null
  /** stdout and stderr together, in arrival order. */
  readonly out: string
}

/**
 * Runs `command` (argv) under `unshare ARGS` in its own process group, collecting its output; the
 * whole group is killed after `timeoutMs` and when the test ends.
 */
export async function runInNamespace(
  t: Test,
  init: { unshareArgs: readonly string[]; command: readonly string[]; env: Record<string, string>; timeoutMs: number; timeoutNote?: string },
): Promise<NamespaceRun> {
  const child = spawn('unshare', [...init.unshareArgs, ...init.command], { env: init.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const killGroup = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
  t.teardown(killGroup)
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      out += `\n[timed out after ${init.timeoutMs / 1000} s${init.timeoutNote === undefined ? '' : `; ${init.timeoutNote}`}]`
      killGroup()
    }, init.timeoutMs)
    child.on('exit', (c) => {
      clearTimeout(timer)
      resolve(c)
    })
  })
  return { code, out }
}
