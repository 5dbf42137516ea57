// A fake Roles Anywhere endpoint for the container tests, run there on the shipped Node runtime
// with the testing kit (dist/testing.mjs, mounted read-only). Access key ids carry the role's name
// (ASIA + name + random), so a test can tell which role a consumer got.
// Usage: node fake-endpoint.mjs TESTING_MJS CA_PEM PORT
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

const [testing, caFile, port] = process.argv.slice(2)
const { startFakeEndpoint } = await import(testing)
const fake = await startFakeEndpoint({
  trustAnchors: [readFileSync(caFile, 'utf8')],
  region: 'us-east-1',
  port: Number(port),
  mint: async (req) => ({
    accessKeyId: `ASIA${req.roleArn
      .slice(req.roleArn.lastIndexOf('/') + 1)
      .toUpperCase()
      .replace(/[^A-Z0-9]/g, '')}${randomBytes(4).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(60).toString('base64'),
    expiration: new Date(Date.now() + req.durationSeconds * 1000),
  }),
})
process.stdout.write(`listening ${fake.url}\n`)
