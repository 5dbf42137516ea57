// `node --import` this file to append every ESM module URL the process loads to $IAMRA_LOADS_FILE.
import { register } from 'node:module'

const hook = `
import { appendFileSync } from 'node:fs'
export async function load(url, context, next) {
  if (process.env.IAMRA_LOADS_FILE) appendFileSync(process.env.IAMRA_LOADS_FILE, url + '\\n')
  return next(url, context)
}`
register(`data:text/javascript,${encodeURIComponent(hook)}`)
