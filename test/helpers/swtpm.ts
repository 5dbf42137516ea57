// A software TPM (swtpm) on a free loopback port pair in a temp dir, for one test file, plus the
// tpm2-tools / tpm2-openssl commands that make keys in it. Every wait is bounded; stop() kills it.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, onPath, stopProcess } from './processes.js'

export interface Swtpm {
  readonly dir: string
  /** TPM_DEVICE / TCTI value: swtpm:host=127.0.0.1,port=P */
  readonly device: string
  /** Runs a tpm2-tools command or openssl with the tpm2 provider against this TPM; throws with stderr on failure. */
  run(cmd: string, args: readonly string[]): Promise<string>
  stop(): Promise<void>
}

/** Why the TPM tests cannot run here, or undefined when they can. */
export function swtpmMissing(): string | undefined {
  for (const cmd of ['swtpm', 'tpm2_createprimary', 'openssl'])
    if (!onPath(cmd)) return `${cmd} is not installed (apt-get install swtpm swtpm-tools tpm2-tools tpm2-openssl)`
  // the provider itself only loads with a TPM present: look for its module file instead
  const dir = /MODULESDIR: "([^"]+)"/.exec(spawnSync('openssl', ['version', '-m'], { encoding: 'utf8' }).stdout)?.[1]
  if (dir === undefined || !existsSync(join(dir, 'tpm2.so'))) return 'the tpm2-openssl provider is not installed (apt-get install tpm2-openssl)'
  return undefined
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

export async function startSwtpm(): Promise<Swtpm> {
  const dir = mkdtempSync(join(tmpdir(), 'iamra-swtpm-'))
  for (let attempt = 1; attempt <= 5; attempt++) {
    // the swtpm TCTI of tpm2-tss expects the control port right after the data port
    const port = await freePort()
    const ctrl = port + 1
    if (ctrl > 65535 || (await accepting(ctrl))) continue
    const child: ChildProcess = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${dir}`,
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${ctrl},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { detached: true, stdio: 'ignore' },
    )
    let up = false
    for (let i = 0; i < 100 && child.exitCode === null && !up; i++) {
      await new Promise((r) => setTimeout(r, 50))
      up = await accepting(port)
    }
    if (!up) {
      await stopProcess(child)
      continue
    }
    const device = `swtpm:host=127.0.0.1,port=${port}`
    const env = { ...process.env, TPM2TOOLS_TCTI: device, TPM2OPENSSL_TCTI: device }
    return {
      dir,
      device,
      run: (cmd, args) =>
        new Promise((resolve, reject) => {
          execFile(cmd, [...args], { env, cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
            err === null ? resolve(stdout) : reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)),
          )
        }),
      stop: async () => {
        await stopProcess(child)
        rmSync(dir, { recursive: true, force: true })
      },
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error('swtpm did not start on a free port pair in 5 attempts')
}
