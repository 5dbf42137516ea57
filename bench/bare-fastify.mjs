// The baseline for bench/server.mjs: a bare fastify route returning a JSON body of the same size.
import Fastify from 'fastify'

const body = Buffer.from(
  JSON.stringify({
    AccessKeyId: `ASIA${'X'.repeat(16)}`,
    SecretAccessKey: 'x'.repeat(40),
    Token: 'x'.repeat(420),
    Expiration: '2099-01-01T00:00:00Z',
    AccountId: '123456789012',
    RoleArn: 'arn:aws:iam::123456789012:role/bench',
  }),
)
const app = Fastify()
app.get('/ecs/credentials', async (_req, reply) => reply.header('content-type', 'application/json').send(body))
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) })
process.stdout.write(`listening ${app.server.address().port}\n`)
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
