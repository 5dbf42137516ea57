/** A group name or number to a gid, from /etc/group. */
import { readFile } from 'node:fs/promises'
import { IamraError } from '../../errors.js'

export async function groupId(group: string, groupFile = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group)
  const lines = (await readFile(groupFile, 'utf8').catch(() => '')).split('\n')
  const line = lines.find((l) => l.split(':')[0] === group)
  const gid = line?.split(':')[2]
  if (gid === undefined || !/^\d+$/.test(gid)) throw new IamraError('USAGE', `unknown group "${group}"`)
  return Number(gid)
}
