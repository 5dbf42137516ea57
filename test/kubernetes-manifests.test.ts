// contrib/kubernetes renders with `kubectl kustomize` (kustomize ≥ 4), and what it renders keeps
// the promises docs/kubernetes.md makes: non-root, read-only root, no service-account token where
// none is needed, probes and limits; the example binding is one the agent accepts.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { parseKubernetesBinding } from '../src/kubernetes/binding.js'
import { onPath } from './helpers/processes.js'

const ROOT = new URL('../contrib/kubernetes', import.meta.url).pathname
// biome-ignore lint/suspicious/noExplicitAny: parsed manifests are walked by path in assertions; a wrong path fails the assertion
type Obj = Record<string, any>

function kubectl(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync('kubectl', args, {
    input,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', KUBECONFIG: '/dev/null' },
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** kubectl prints several objects as consecutive pretty JSON documents: split at column-0 braces. */
function documents(text: string): Obj[] {
  return text
    .split(/\n(?=\{\n)/)
    .filter((s) => s.trim() !== '')
    .map((s) => JSON.parse(s) as Obj)
}

const version = onPath('kubectl') ? kubectl(['version', '--client']).out : ''
const kustomize = /Kustomize Version: v(\d+)/.exec(version)?.[1]
if (!onPath('kubectl')) t.skip('manifests: kubectl is not installed (it renders the kustomization)', async () => {})
else {
  t.test('kubectl kustomize renders every manifest', async (t) => {
    t.comment(`versions: ${version.trim().split('\n').join('; ')}`)
    // Each directory renders with any kustomize (Debian's kubectl 1.20 embeds v2.0.3); the root,
    // whose resources are directories, needs kustomize v4 or later.
    const parts = ['node-agent', 'sidecar'].map((d) => kubectl(['kustomize', `${ROOT}/${d}`]))
    for (const p of parts) t.equal(p.code, 0, p.err)
    const rendered = { out: `${parts.map((p) => p.out.trimEnd()).join('\n---\n')}\n` }
    if (kustomize !== undefined && Number(kustomize) >= 4) {
      const root = kubectl(['kustomize', ROOT])
      t.equal(root.code, 0, root.err)
      t.equal(root.out.split(/^kind: /m).length, rendered.out.split(/^kind: /m).length, 'the root kustomization renders both')
    } else t.comment(`root kustomization not rendered: kustomize ${kustomize ?? '?'} is older than v4`)
    // Offline YAML → JSON: kubectl's local mode touches no server.
    const json = kubectl(['annotate', '--local', '-f', '-', '-o', 'json', 'iamra.test/rendered=yes'], rendered.out)
    t.equal(json.code, 0, json.err)
    const objs = documents(json.out)
    const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()
    t.same(kinds, [
      'ClusterRoleBinding/iamra-node-agent-issuer-discovery',
      'ConfigMap/iamra-bindings',
      'ConfigMap/iamra-node-agent',
      'ConfigMap/iamra-sidecar',
      'DaemonSet/iamra-node-agent',
      'Namespace/iamra-system',
      'Pod/app-with-iamra-csi',
      'Pod/app-with-iamra-secret',
      'ServiceAccount/iamra-node-agent',
    ])
    const byName = (kind: string, name: string): Obj => objs.find((o) => o.kind === kind && o.metadata.name === name) as Obj

    const ds = byName('DaemonSet', 'iamra-node-agent')
    const pod = ds.spec.template.spec
    t.equal(pod.hostNetwork, true, 'hostNetwork')
    t.equal(pod.automountServiceAccountToken, false, 'no token mounted by default')
    const [init] = pod.initContainers
    t.same(init.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] }, 'link-local set-up with NET_ADMIN only')
    t.match(init.command.join(' '), /169\.254\.170\.23\/32[\s\S]*fd00:ec2::23\/128/)
    t.notOk((init.volumeMounts ?? []).length, 'the init container mounts nothing (no token)')
    const [agent] = pod.containers
    t.equal(agent.securityContext.runAsNonRoot, true)
    t.equal(agent.securityContext.runAsUser, 65532)
    t.equal(agent.securityContext.readOnlyRootFilesystem, true)
    t.same(agent.securityContext.capabilities, { drop: ['ALL'] })
    t.ok(agent.resources.limits.memory && agent.resources.requests.cpu, 'limits and requests')
    for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) t.equal(agent[p].httpGet.path, '/healthz', p)
    t.ok(
      agent.volumeMounts.every((m: Obj) => m.readOnly === true),
      'every mount read-only',
    )
    const args = agent.args.join(' ')
    t.match(
      args,
      /--kubernetes-issuer \$\(ISSUER\) --kubernetes-audience \$\(AUDIENCE\) --kubernetes-jwks https:\/\/\$\(KUBERNETES_SERVICE_HOST\):\$\(KUBERNETES_SERVICE_PORT\)\/openid\/v1\/jwks/,
    )
    const projected = pod.volumes.find((v: Obj) => v.name === 'kube-api').projected.sources
    t.equal(projected[0].serviceAccountToken.expirationSeconds, 3600, 'a short-lived token for the JWKS fetch')
    const crb = byName('ClusterRoleBinding', 'iamra-node-agent-issuer-discovery')
    t.equal(crb.roleRef.name, 'system:service-account-issuer-discovery', 'RBAC: JWKS discovery only')

    const bindings = byName('ConfigMap', 'iamra-bindings').data as Record<string, string>
    for (const [file, text] of Object.entries(bindings)) {
      const b = parseKubernetesBinding(JSON.parse(text), file)
      t.equal(`${b.name}.json`, file, `${file} is a valid kubernetes binding`)
    }

    for (const name of ['app-with-iamra-csi', 'app-with-iamra-secret']) {
      const p = byName('Pod', name).spec
      t.equal(p.automountServiceAccountToken, false, `${name}: no token`)
      t.equal(p.securityContext.runAsNonRoot, true)
      const sidecar = p.containers.find((c: Obj) => c.name === 'iamra')
      t.equal(sidecar.securityContext.readOnlyRootFilesystem, true)
      t.same(sidecar.livenessProbe.exec.command, ['iamra', 'probe', 'http://127.0.0.1:9911/healthz'], `${name}: exec probe on /healthz`)
      t.ok(sidecar.resources.limits.memory)
      const app = p.containers.find((c: Obj) => c.name === 'app')
      t.same(
        app.env.find((e: Obj) => e.name === 'AWS_EC2_METADATA_SERVICE_ENDPOINT'),
        { name: 'AWS_EC2_METADATA_SERVICE_ENDPOINT', value: 'http://127.0.0.1:9911/' },
      )
    }
    t.ok(byName('Pod', 'app-with-iamra-csi').spec.volumes[0].csi.driver === 'csi.cert-manager.io', 'CSI-driver variant')
    t.ok(byName('Pod', 'app-with-iamra-secret').spec.volumes[0].secret.secretName, 'Secret variant')
  })
}
