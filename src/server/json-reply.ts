/**
 * JSON replies every iamra HTTP app sends (the ECS server, IMDS mode, the node agent), whatever
 * protocol its credentials speak: the exact Content-Type, no caching, and one error body.
 */
import type { FastifyReply } from 'fastify'

/**
 * Sends JSON as a Buffer: fastify appends `; charset=utf-8` to JSON content types otherwise, and
 * Go's SDK only parses error bodies whose Content-Type is exactly `application/json`.
 */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return sendJsonBytes(reply, status, jsonBytes(body))
}

/** A JSON body serialised once, for a reply sent many times (the same cached credentials). */
export function jsonBytes(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body))
}

export function sendJsonBytes(reply: FastifyReply, status: number, bytes: Buffer): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').header('cache-control', 'no-store').send(bytes)
}

/** An error: `Code` and `Message` as AWS SDKs read them, `code` and `message` for everyone else. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return sendJson(reply, status, { Code: code, Message: message, code, message })
}
