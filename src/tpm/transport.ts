/**
 * Where TPM commands go: a character device (`/dev/tpmrm0`, then `/dev/tpm0`) or swtpm's TCP data
 * port, which speaks the same raw command/response bytes. `TPM_DEVICE` names it, in the official
 * helper's form (a path) or in the TCTI form tpm2-tools use (`device:/dev/tpm0`,
 * `swtpm:host=127.0.0.1,port=2321`).
 */
import { constants } from 'node:fs'
import { access, type FileHandle, open } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { IamraError, fail } from '../errors.js'

export type TpmDevice = { readonly kind: 'device'; readonly path: string } | { readonly kind: 'swtpm'; readonly host: string; readonly port: number }

/** One open connection: sends a command, returns the whole response. */
export interface TpmTransport {
  send(command: Buffer): Promise<Buffer>
  close(): Promise<void>
}

const MAX_RESPONSE = 4096
const TIMEOUT_MS = 30_000

/** The device `TPM_DEVICE` names, or the first of /dev/tpmrm0 and /dev/tpm0 that exists. */
export async function resolveDevice(spec: string | undefined): Promise<TpmDevice> {
  if (spec !== undefined && spec !== '') return parseDevice(spec)
  for (const path of ['/dev/tpmrm0', '/dev/tpm0']) {
    try {
      await access(path, constants.F_OK)
      return { kind: 'device', path }
    } catch {
      // try the next one
    }
  }
  return fail(
    'TPM_UNAVAILABLE',
    'no TPM found: neither /dev/tpmrm0 nor /dev/tpm0 exists; set TPM_DEVICE to the device (or swtpm:host=H,port=P for a software TPM)',
  )
}

export function parseDevice(spec: string): TpmDevice {
  if (spec.startsWith('/')) return { kind: 'device', path: spec }
  const m = /^([a-z]+)(?::(.*))?$/.exec(spec)
  if (m?.[1] === 'device' && m[2] !== undefined && m[2] !== '') return { kind: 'device', path: m[2] }
  if (m?.[1] === 'swtpm') {
    const opts = new Map(
      (m[2] ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => kv.split('=', 2) as [string, string]),
    )
    const port = Number(opts.get('port') ?? 2321)
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail('USAGE', `TPM_DEVICE ${spec}: port must be 1 to 65535`)
    return { kind: 'swtpm', host: opts.get('host') ?? 'localhost', port }
  }
  return fail('USAGE', `TPM_DEVICE "${spec}" is not a device path, device:PATH or swtpm:host=H,port=P`)
}

export const describeDevice = (d: TpmDevice): string => (d.kind === 'device' ? d.path : `swtpm ${d.host}:${d.port}`)

export async function openTransport(device: TpmDevice): Promise<TpmTransport> {
  return device.kind === 'device' ? openDevice(device.path) : openSocket(device.host, device.port)
}

async function openDevice(path: string): Promise<TpmTransport> {
  let fh: FileHandle
  try {
    fh = await open(path, 'r+')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why =
      code === 'EACCES'
        ? 'permission denied (add the user to group tss, or grant access to the device)'
        : code === 'ENOENT'
          ? 'no such device'
          : code === 'EBUSY'
            ? 'busy (another process holds /dev/tpm0; use /dev/tpmrm0)'
            : (code ?? (e as Error).message)
    throw new IamraError('TPM_UNAVAILABLE', `cannot open the TPM ${path}: ${why}`, { cause: e })
  }
  return {
    async send(command) {
      await fh.write(command, 0, command.length, null)
      const buf = Buffer.alloc(MAX_RESPONSE)
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      return buf.subarray(0, bytesRead)
    },
    close: () => fh.close(),
  }
}

async function openSocket(host: string, port: number): Promise<TpmTransport> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host, port })
    const timer = setTimeout(() => s.destroy(new Error('connection timed out')), TIMEOUT_MS)
    s.once('connect', () => {
      clearTimeout(timer)
      resolve(s)
    })
    s.once('error', (e) => {
      clearTimeout(timer)
      reject(
        new IamraError('TPM_UNAVAILABLE', `cannot reach the software TPM at ${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }),
      )
    })
  })
  let pending: Buffer[] = []
  let waiter: (() => void) | undefined
  let failure: Error | undefined
  socket.on('data', (d: Buffer) => {
    pending.push(d)
    waiter?.()
  })
  socket.on('error', (e) => {
    failure = e
    waiter?.()
  })
  socket.on('close', () => {
    failure ??= new Error('connection closed')
    waiter?.()
  })
  return {
    async send(command) {
      pending = []
      socket.write(command)
      // A monotonic deadline (a timeout, not a time of day: the wall clock may jump).
      const deadline = performance.now() + TIMEOUT_MS
      for (;;) {
        const got = Buffer.concat(pending)
        if (got.length >= 6 && got.length >= got.readUInt32BE(2)) return got.subarray(0, got.readUInt32BE(2))
        if (failure !== undefined) throw new IamraError('TPM_UNAVAILABLE', `the software TPM at ${host}:${port} failed: ${failure.message}`, { cause: failure })
        const left = deadline - performance.now()
        if (left <= 0) throw new IamraError('TPM_UNAVAILABLE', `the software TPM at ${host}:${port} did not answer within ${TIMEOUT_MS / 1000} s`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          waiter = () => {
            clearTimeout(timer)
            waiter = undefined
            resolve()
          }
        })
      }
    },
    close: async () => void socket.destroy(),
  }
}
