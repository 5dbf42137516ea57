// The error catalogue and docs/errors.md describe the same codes, exit codes and statuses.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CODES, exitCodeOf, httpStatusOf, IamraError } from '../src/errors.js'

t.test('docs/errors.md lists every code with its exit code and HTTP status', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
  const rows = new Map([...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (\d) \| (\d{3}) \|/gm)].map((m) => [m[1], [Number(m[2]), Number(m[3])]]))
  t.same([...rows.keys()].sort(), [...ERROR_CODES].sort(), 'same set of codes')
  for (const code of ERROR_CODES) t.same(rows.get(code), [exitCodeOf(code), httpStatusOf(code)], code)
})

t.test('IamraError carries code, exit code, status and cause', async (t) => {
  const cause = new Error('root')
  const e = new IamraError('UPSTREAM_DENIED', 'no', { cause, upstreamCode: 'AccessDeniedException' })
  t.same([e.code, e.exitCode, e.httpStatus, e.upstreamCode, e.cause], ['UPSTREAM_DENIED', 4, 403, 'AccessDeniedException', cause])
})

t.test('an error about an input carries its field; each door words it, the message uses the core name', async (t) => {
  const e = new IamraError('USAGE', (name) => `${name('durationSeconds')} must be 900 to 43200`, { field: 'durationSeconds' })
  t.same([e.field, e.fields, e.message], ['durationSeconds', ['durationSeconds'], 'durationSeconds must be 900 to 43200'])
  t.equal(
    e.describe((f) => (f === 'durationSeconds' ? '--session-duration' : f)),
    '--session-duration must be 900 to 43200',
  )
  const plain = new IamraError('CERT_EXPIRED', 'expired')
  t.same([plain.field, plain.fields, plain.describe(() => 'x')], [undefined, [], 'expired'], 'no field: the message as it is')
  const more = e.rephrase((text) => `${text} (after 3 attempts)`)
  t.same([more.code, more.fields, more.cause, more.message], ['USAGE', ['durationSeconds'], e, 'durationSeconds must be 900 to 43200 (after 3 attempts)'])
  t.equal(
    more.describe(() => '--x'),
    '--x must be 900 to 43200 (after 3 attempts)',
    'context added, wording kept',
  )
})
