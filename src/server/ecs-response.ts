/** Bodies in the ECS container-credentials format, with the exact Content-Type SDKs require. */
import type { FastifyReply } from 'fastify'
import { accountOf } from '../rolesanywhere/arn.js'
import type { SessionCredentials } from '../rolesanywhere/response.js'
import { formatExpiration } from '../credentials/process-output.js'

export function ecsBody(c: SessionCredentials): Record<string, string> {
  const account = accountOf(c.roleArn)
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    Expiration: formatExpiration(c.expiresAt),
    ...(account === undefined ? {} : { AccountId: account }),
    RoleArn: c.roleArn,
  }
}

/**
 * Sends JSON as a Buffer: fastify appends `; charset=utf-8` to JSON content types otherwise, and
 * Go's SDK only parses error bodies whose Content-Type is exactly `application/json`.
 */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').header('cache-control', 'no-store').send(Buffer.from(JSON.stringify(body)))
}

export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return sendJson(reply, status, { Code: code, Message: message, code, message })
}
