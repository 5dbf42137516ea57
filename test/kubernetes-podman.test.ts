// The shipped manifests under `podman kube play`, with iamra's OCI image (npm run package →
// dist/release/iamra-VERSION-oci*.tar; IAMRA_OCI_ARCHIVE overrides): the sidecar pod (Secret
// variant) with a client container getting credentials over IMDSv2, and the node agent's pod
// template played as a Pod with a client holding a service-account token. Each pod gets its own
// network namespace with loopback only (--network none); a fake Roles Anywhere endpoint runs as
// one more container of the same image inside it. Podman uses a private store under a temp dir.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { AtomicWriterDir } from './helpers/atomic-writer.js'
import { buildGoProbe } from './helpers/go-probe.js'
import { ISSUER, jwksOf, podToken, signingKey } from './helpers/k8s-issuer.js'
import { makePkiFiles } from './helpers/pki-files.js'
import { onPath } from './helpers/processes.js'
import { PROFILE_ARN, ROLE_ARN, TRUST_ANCHOR_ARN } from './helpers/scenario.js'
import { ensureRelease, releaseToolsMissing } from './helpers/release.js'

// Loading the image, building the client and two pods with start-up retries take minutes.
t.setTimeout(600_000)

const CONTRIB = new URL('../contrib/kubernetes', import.meta.url).pathname
const RELEASE = new URL('../dist/release', import.meta.url).pathname

function findArchive(): string | undefined {
  if (process.env.IAMRA_OCI_ARCHIVE !== undefined) return process.env.IAMRA_OCI_ARCHIVE
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64'
  const files = existsSync(RELEASE) ? readdirSync(RELEASE) : []
  const pick = files.find((f) => f.endsWith(`-oci-${arch}.tar`)) ?? files.find((f) => /^iamra-.+-oci\.tar$/.test(f))
  return pick === undefined ? undefined : join(RELEASE, pick)
}

interface Run {
  code: number
  stdout: string
  stderr: string
}
function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({
        code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
        stdout,
        stderr: stderr + (err !== null && typeof err.code !== 'number' ? String(err.message) : ''),
      })
    })
  })
}

// In CI nothing has built the release yet when this file runs: build it (once, shared with the
// release tests under their lock) rather than skip.
if (process.env.IAMRA_OCI_ARCHIVE === undefined && releaseToolsMissing() === undefined) await ensureRelease()
const archive = findArchive()
const missing =
  archive === undefined || !existsSync(archive)
    ? `no OCI archive in ${RELEASE} (run npm run package, or set IAMRA_OCI_ARCHIVE)`
    : !onPath('podman') || !onPath('buildah')
      ? 'podman or buildah is not installed'
      : !onPath('kubectl')
        ? 'kubectl is not installed (it renders the manifests)'
        : process.getuid?.() !== 0
          ? 'needs root (rootful podman with --network none)'
          : undefined

if (missing !== undefined) t.skip(`podman kube play of contrib/kubernetes: ${missing}`, async () => {})
else {
  t.test('podman kube play: the sidecar pod and the node agent pod', async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'iamra-podman-'))
    t.teardown(() => rmSync(work, { recursive: true, force: true }))
    writeFileSync(join(work, 'containers.conf'), '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
    const env = { PATH: process.env.PATH ?? '', HOME: work, CONTAINERS_CONF: join(work, 'containers.conf') }
    const store = ['--root', join(work, 'store'), '--runroot', join(work, 'run'), '--storage-driver', 'vfs']
    const podman = (args: string[], timeoutMs?: number): Promise<Run> => run('podman', [...store, ...args], env, timeoutMs)
    const buildah = (args: string[]): Promise<Run> => run('buildah', [...store, ...args], env)
    t.teardown(async () => {
      await podman(['pod', 'rm', '-a', '-f', '-t', '0'])
      await podman(['rmi', '-a', '-f'])
      const secrets = (await podman(['secret', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter(Boolean)
      if (secrets.length > 0) await podman(['secret', 'rm', ...secrets])
    })

    const loaded = await podman(['load', '-i', archive as string], 300_000)
    t.equal(loaded.code, 0, `podman load: ${loaded.stderr}`)
    const image = /Loaded image(?:\(s\))?: *(\S+)/.exec(loaded.stdout + loaded.stderr)?.[1]
    if (!t.ok(image, `image name from podman load: ${loaded.stdout}`)) return
    const [imageName, imageTag] = splitImage(image as string)

    // The client: Go SDK v2's default chain, static, in an image from scratch.
    const go = await buildGoProbe({ static: true })
    if (go.kind !== 'built') {
      t.skip(`client image: Go probe ${go.kind === 'skip' ? go.reason : `failed: ${go.reason}`}`, async () => {})
      return
    }
    t.teardown(go.cleanup)
    const ctr = (await buildah(['from', 'scratch'])).stdout.trim()
    for (const args of [
      ['copy', '--chmod', '0755', ctr, go.path, '/credprobe'],
      ['config', '--entrypoint', '["/credprobe"]', '--user', '65532:65532', ctr],
      ['commit', ctr, 'localhost/iamra-test-client:k8s'],
    ]) {
      const r = await buildah(args)
      if (!t.equal(r.code, 0, `buildah ${args[0]}: ${r.stderr}`)) return
    }

    const pki = await makePkiFiles('p256')
    t.teardown(pki.cleanup)
    const chain = readFileSync(pki.path('leaf.pem'), 'utf8') + readFileSync(pki.path('int.pem'), 'utf8')

    await t.test('sidecar pod (Secret variant): the app container gets credentials over IMDSv2', async (t) => {
      const dir = join(work, 'sidecar')
      mkdirSync(dir)
      writeFileSync(join(dir, 'tls.crt'), chain)
      writeFileSync(join(dir, 'tls.key'), readFileSync(pki.path('key.pem')))
      writeFileSync(join(dir, 'root.pem'), readFileSync(pki.path('root.pem')))
      // podman before 4.4 writes a secret volume's files still base64-encoded: there the Secret is
      // replaced by a directory in the kubelet's own ..data layout, so the pod itself still runs.
      const version = (await podman(['version', '--format', '{{.Client.Version}}'])).stdout.trim()
      const [major = 0, minor = 0] = version.split('.').map(Number)
      const secretsWork = major > 4 || (major === 4 && minor >= 4)
      let volumePatch = '    - {op: add, path: /spec/volumes/0/secret/optional, value: false}  # podman 4.3 dereferences an unset optional'
      if (!secretsWork) {
        t.comment(`podman ${version}: its secret volumes hold base64 text, so the Secret volume is replaced by a hostPath in the ..data layout`)
        const vol = new AtomicWriterDir(join(dir, 'volume'), ['tls.crt', 'tls.key', 'root.pem'], 0o644) // read by uid 65532
        vol.write({ 'tls.crt': chain, 'tls.key': readFileSync(pki.path('key.pem'), 'utf8'), 'root.pem': readFileSync(pki.path('root.pem'), 'utf8') })
        chmodSync(join(dir, 'volume'), 0o755)
        volumePatch = `    - {op: replace, path: /spec/volumes/0, value: {name: tls, hostPath: {path: "${join(dir, 'volume')}", type: Directory}}}`
      }
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ${relative(dir, CONTRIB)}/sidecar
images:
- name: iamra
  newName: ${imageName}
  newTag: "${imageTag}"
- name: docker.io/amazon/aws-cli
  newName: localhost/iamra-test-client
  newTag: k8s
${secretsWork ? 'secretGenerator:\n- name: app-roles-anywhere-tls\n  files: [tls.crt, tls.key, root.pem]\n  options:\n    disableNameSuffixHash: true\n' : ''}configMapGenerator:
- name: iamra-sidecar
  behavior: replace
  literals:
  - IAMRA_TRUST_ANCHOR_ARN=${TRUST_ANCHOR_ARN}
  - IAMRA_PROFILE_ARN=${PROFILE_ARN}
  - IAMRA_ROLE_ARN=${ROLE_ARN}
  options:
    disableNameSuffixHash: true
patches:
- patch: |-
    $patch: delete
    apiVersion: v1
    kind: Pod
    metadata:
      name: app-with-iamra-csi
- target:
    kind: Pod
    name: app-with-iamra-secret
  patch: |-
    - {op: add, path: /spec/restartPolicy, value: OnFailure}
${volumePatch}
    - {op: remove, path: /spec/containers/0/command}
    # podman does not expand $(VAR) references in args, as the kubelet does: the ARNs as literals.
    - {op: replace, path: /spec/containers/1/args/6, value: "${TRUST_ANCHOR_ARN}"}
    - {op: replace, path: /spec/containers/1/args/8, value: "${PROFILE_ARN}"}
    - {op: replace, path: /spec/containers/1/args/10, value: "${ROLE_ARN}"}
    - {op: add, path: /spec/containers/1/args/-, value: --endpoint}
    - {op: add, path: /spec/containers/1/args/-, value: "http://127.0.0.1:8444"}
    - op: add
      path: /spec/containers/-
      value:
        name: fake
        image: iamra
        args: [fake-endpoint, --trust-anchor, /var/run/secrets/iamra/root.pem, --port, "8444"]
        volumeMounts: [{name: tls, mountPath: /var/run/secrets/iamra, readOnly: true}]
`,
      )
      const played = await playAndWait(t, dir, 'app-with-iamra-secret', 'app')
      if (played === undefined) return
      const j = jsonLine(played)
      t.comment(`sidecar client: ${played.trim().split('\n').slice(-1)[0]}`)
      t.equal(j.ok, true, 'the app container got credentials')
      t.match(String(j.ak), /^ASIA/)
      t.equal(j.source, 'EC2RoleProvider', 'through IMDS (AWS_EC2_METADATA_SERVICE_ENDPOINT)')
    })

    await t.test('node agent pod template as a Pod: a client with a service-account token gets its role', async (t) => {
      const dir = join(work, 'agent')
      mkdirSync(join(dir, 'pki'), { recursive: true })
      mkdirSync(join(dir, 'kube-api'))
      const key = signingKey('ES256')
      writeFileSync(join(dir, 'kube-api', 'jwks.json'), JSON.stringify(jwksOf(key)), { mode: 0o644 })
      writeFileSync(join(dir, 'pki', 'node.crt'), chain, { mode: 0o644 })
      writeFileSync(join(dir, 'pki', 'node.key'), readFileSync(pki.path('key.pem')), { mode: 0o644 })
      writeFileSync(join(dir, 'pki', 'root.pem'), readFileSync(pki.path('root.pem')), { mode: 0o644 })
      writeFileSync(join(dir, 'agent-pod.yaml'), podFromDaemonSet(readFileSync(join(CONTRIB, 'node-agent', 'daemonset.yaml'), 'utf8'), 'iamra-node-agent'))
      const binding = JSON.stringify({
        name: 'payments',
        mode: { kind: 'Kubernetes' },
        service_accounts: ['shop/payments'],
        certificate_files: ['/etc/iamra/pki/node.crt'],
        intermediates_files: [],
        private_key_file: '/etc/iamra/pki/node.key',
        endpoint: 'http://127.0.0.1:8444',
        request: { durationSeconds: 3600, profileArn: PROFILE_ARN, roleArn: ROLE_ARN, trustAnchorArn: TRUST_ANCHOR_ARN },
        created_at: new Date().toISOString(),
      })
      const token = podToken(key, { namespace: 'shop', serviceAccount: 'payments', audience: 'iamra' })
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ${relative(dir, CONTRIB)}/node-agent/config.yaml
- ${relative(dir, CONTRIB)}/node-agent/bindings.yaml
- agent-pod.yaml
images:
- name: iamra
  newName: ${imageName}
  newTag: "${imageTag}"
patches:
- target: {kind: ConfigMap, name: iamra-bindings}
  patch: |-
    - {op: replace, path: /data, value: {payments.json: ${JSON.stringify(binding)}}}
- target: {kind: Pod, name: iamra-node-agent}
  patch: |-
    - {op: add, path: /spec/restartPolicy, value: OnFailure}
    - {op: remove, path: /spec/initContainers}
    - {op: remove, path: /spec/hostNetwork}
    - {op: remove, path: /spec/containers/0/ports}
    - {op: remove, path: /spec/containers/0/startupProbe}
    - {op: remove, path: /spec/containers/0/livenessProbe}
    - {op: remove, path: /spec/containers/0/readinessProbe}
    - op: replace
      path: /spec/containers/0/args
      value: [serve, --configuration-directory, /etc/iamra, --listen, "127.0.0.1:8023", --kubernetes-issuer, "${ISSUER}", --kubernetes-audience, iamra, --kubernetes-jwks, /var/run/secrets/iamra/kube-api/jwks.json]
    - {op: replace, path: /spec/volumes/1, value: {name: node-pki, hostPath: {path: "${dir}/pki", type: Directory}}}
    - {op: replace, path: /spec/volumes/2, value: {name: kube-api, hostPath: {path: "${dir}/kube-api", type: Directory}}}
    - op: add
      path: /spec/containers/-
      value: {name: fake, image: iamra, args: [fake-endpoint, --trust-anchor, /etc/iamra/pki/root.pem, --port, "8444"], volumeMounts: [{name: node-pki, mountPath: /etc/iamra/pki, readOnly: true}]}
    - op: add
      path: /spec/containers/-
      value:
        name: client
        image: localhost/iamra-test-client:k8s
        env:
        - {name: AWS_CONTAINER_CREDENTIALS_FULL_URI, value: "http://127.0.0.1:8023/v1/credentials"}
        - {name: AWS_CONTAINER_AUTHORIZATION_TOKEN, value: "${token}"}
        - {name: AWS_REGION, value: us-east-1}
        - {name: AWS_EC2_METADATA_DISABLED, value: "true"}
`,
      )
      const played = await playAndWait(t, dir, 'iamra-node-agent', 'client')
      if (played === undefined) return
      const j = jsonLine(played)
      t.comment(`agent client: ${played.trim().split('\n').slice(-1)[0]}`)
      t.equal(j.ok, true, "the client got its service account's role from the agent")
      t.equal(j.source, 'CredentialsEndpointProvider')
    })

    /** Renders DIR's kustomization, plays it with loopback-only networking, waits for CONTAINER's JSON line. */
    async function playAndWait(t: Test, dir: string, pod: string, container: string): Promise<string | undefined> {
      const rendered = await run('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', dir], {
        PATH: env.PATH,
        HOME: work,
        KUBECONFIG: '/dev/null',
      })
      if (!t.equal(rendered.code, 0, `kubectl kustomize: ${rendered.stderr}`)) return undefined
      // podman 4.3 cannot take a Secret from the played file: Secrets become podman secrets
      // holding the Secret object, which is where kube play reads secret volumes from. (podman
      // 4.3.1 then writes the files with the wrong content; see the report: needs podman ≥ 4.4.)
      const docs = rendered.stdout.split(/^---\n/m)
      for (const doc of docs.filter((d) => /^kind: Secret$/m.test(d))) {
        const name = /^metadata:\n(?: {2}.*\n)*? {2}name: (\S+)$/m.exec(doc)?.[1] ?? ''
        const secretFile = join(dir, `secret-${name}.yaml`)
        writeFileSync(secretFile, doc, { mode: 0o600 })
        const created = await podman(['secret', 'create', name, secretFile])
        if (!t.equal(created.code, 0, `podman secret create ${name}: ${created.stderr}`)) return undefined
      }
      const file = join(dir, 'rendered.yaml')
      writeFileSync(file, docs.filter((d) => !/^kind: Secret$/m.test(d)).join('---\n'))
      const play = await podman(['kube', 'play', '--network', 'none', file], 180_000)
      if (!t.equal(play.code, 0, `podman kube play: ${play.stderr}`)) return undefined
      let logs = ''
      for (let i = 0; i < 90 && !/"ok":true/.test(logs); i++) {
        await new Promise((r) => setTimeout(r, 1000))
        logs = (await podman(['logs', `${pod}-${container}`])).stdout
      }
      if (!/"ok":true/.test(logs)) {
        const all = await podman(['pod', 'logs', pod])
        t.comment(`pod logs: ${(all.stdout + all.stderr).slice(-3000)}`)
      }
      return logs
    }
  })
}

function splitImage(ref: string): [string, string] {
  const at = ref.lastIndexOf(':')
  return at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest']
}

function jsonLine(text: string): Record<string, unknown> {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
  for (const l of lines.reverse()) {
    try {
      return JSON.parse(l) as Record<string, unknown>
    } catch {
      // next
    }
  }
  return {}
}

/** The DaemonSet's pod template as a Pod (podman kube play cannot play a DaemonSet). */
function podFromDaemonSet(yaml: string, name: string): string {
  const lines = yaml.split('\n')
  const start = lines.indexOf('  template:')
  const template = lines
    .slice(start + 1)
    .filter((l) => l.startsWith('    ') || l.trim() === '')
    .map((l) => l.slice(4))
  const metadata = template.indexOf('metadata:')
  template.splice(metadata + 1, 0, `  name: ${name}`, '  namespace: iamra-system')
  return `apiVersion: v1\nkind: Pod\n${template.join('\n')}\n`
}
