/** The ECS container-credentials body: the wire format of the server's `GET /ecs/credentials`. */
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
