// Resolves credentials with AWS SDK for JavaScript v3 providers and prints one JSON line per provider:
// {"provider","ok","ak","hasSecret","hasToken","expiration","accountId"} or {"provider","ok":false,"name","message","code"}.
// Usage: node js-probe.mjs http|container|chain|process ...  (exit 1 if any provider failed)
import { fromContainerMetadata, fromHttp, fromNodeProviderChain, fromProcess } from '@aws-sdk/credential-providers'

const providers = {
  http: () => fromHttp({}),
  container: () => fromContainerMetadata({}),
  chain: () => fromNodeProviderChain({}),
  process: () => fromProcess({}),
}
let failed = false
for (const name of process.argv.slice(2)) {
  const make = providers[name]
  if (make === undefined) {
    console.log(JSON.stringify({ provider: name, ok: false, name: 'Usage', message: `unknown provider ${name}` }))
    failed = true
    continue
  }
  const started = Date.now()
  try {
    const c = await make()()
    console.log(
      JSON.stringify({
        provider: name,
        ok: true,
        ak: c.accessKeyId,
        hasSecret: Boolean(c.secretAccessKey),
        hasToken: Boolean(c.sessionToken),
        expiration: c.expiration instanceof Date ? c.expiration.toISOString() : null,
        accountId: c.accountId ?? null,
        ms: Date.now() - started,
      }),
    )
  } catch (e) {
    failed = true
    console.log(
      JSON.stringify({
        provider: name,
        ok: false,
        name: e?.name,
        message: String(e?.message ?? e).slice(0, 500),
        code: e?.Code ?? e?.code ?? null,
        ms: Date.now() - started,
      }),
    )
  }
}
process.exit(failed ? 1 : 0)
