// Builds test/clients/credprobe.go once per test file against Debian's aws-sdk-go-v2 (GOPATH mode,
// no module proxy): docs/sdk-protocols §4.6.
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onPath } from './processes.js'

const GOCODE = '/usr/share/gocode'
const SDK = `${GOCODE}/src/github.com/aws/aws-sdk-go-v2`
const SOURCE = new URL('../clients/credprobe.go', import.meta.url).pathname

export type GoProbe =
  | { readonly kind: 'built'; readonly path: string; readonly sdkVersion: string; readonly credentialsVersion: string; cleanup(): void }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'error'; readonly reason: string }

function moduleVersion(dir: string): string {
  try {
    return /goModuleVersion = "([^"]+)"/.exec(readFileSync(join(dir, 'go_module_metadata.go'), 'utf8'))?.[1] ?? '?'
  } catch {
    return '?'
  }
}

/** `static`: CGO off, for a scratch container image (test/kubernetes-podman.test.ts). */
export async function buildGoProbe(opts: { static?: boolean } = {}): Promise<GoProbe> {
  if (!onPath('go')) return { kind: 'skip', reason: 'go is not installed (apt-get install golang-go)' }
  if (!existsSync(`${SDK}/config`)) return { kind: 'skip', reason: `${SDK} is missing (apt-get install golang-github-aws-aws-sdk-go-v2-dev)` }
  const g = mkdtempSync(join(tmpdir(), 'iamra-goprobe-'))
  const src = join(g, 'src', 'credprobe')
  mkdirSync(src, { recursive: true })
  copyFileSync(SOURCE, join(src, 'main.go'))
  const out = join(g, 'credprobe')
  // With a C compiler the standard library's prebuilt packages are used (~2x faster than CGO_ENABLED=0,
  // which rebuilds net and os/user); go 1.19 needs CGO_ENABLED=0 when there is none.
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: g,
    GOPATH: `${g}:${GOCODE}`,
    GO111MODULE: 'off',
    GOCACHE: join(g, 'cache'),
    GOFLAGS: '',
    ...(onPath('gcc') && opts.static !== true ? {} : { CGO_ENABLED: '0' }),
  }
  const result = await new Promise<{ ok: boolean; stderr: string }>((resolve) => {
    execFile('go', ['build', '-o', out, '.'], { cwd: src, env, timeout: 180_000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) =>
      resolve({ ok: err === null, stderr: stderr || String(err?.message ?? '') }),
    )
  })
  const cleanup = (): void => rmSync(g, { recursive: true, force: true })
  if (!result.ok) {
    cleanup()
    return { kind: 'error', reason: `go build of credprobe failed: ${result.stderr.slice(-1500)}` }
  }
  return { kind: 'built', path: out, sdkVersion: moduleVersion(`${SDK}/aws`), credentialsVersion: moduleVersion(`${SDK}/credentials`), cleanup }
}
