// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are source code samples the walker reads, template literals included
// Every place in src/ that raises or answers with an error code, read from the syntax tree and checked
// against the catalogue: the code exists, the layer raising it may raise it (a USAGE from the
// signing core, an UPSTREAM_* from a file editor or a listen failure would mean something else
// than it says), and every catalogue code is raised somewhere or documented here as reserved.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'
import { ERROR_CODES, type IamraErrorCode } from '../src/errors.js'

const SRC = new URL('../src/', import.meta.url).pathname

/**
 * Where each code may be raised: folders (ending in /) or files under src/. A code means what it says
 * only if it comes from the layer that knows it: USAGE from argument handling, UPSTREAM_* from code
 * talking to the service (or, for credential-process --env-file, to iamra's own server), FILE_* from
 * the readers and writers of files, HSM_* from PKCS#11, and so on.
 */
/**
 * Argument handling: the CLI (every flag parser lives under cli/), the library's options, and the
 * checks of values a user types as arguments in any door: a binding name (bind, unbind, the
 * server's start-up scan), update's profile name and credentials file (HOME,
 * AWS_SHARED_CREDENTIALS_FILE), and TPM_DEVICE. Anywhere else a USAGE must name the field at fault,
 * so each door can say which of its own inputs is wrong.
 */
const ARGUMENT_HANDLING: readonly string[] = ['cli/', 'library/', 'binding/names.ts', 'update/credentials-file.ts', 'update/run-update.ts', 'tpm/transport.ts']

const ALLOWED: Readonly<Record<IamraErrorCode, readonly string[]>> = {
  // Any layer, but outside ARGUMENT_HANDLING only with the field at fault.
  USAGE: [''],
  UNSUPPORTED_ON_PLATFORM: ['cli/'],
  ARN_INVALID: ['rolesanywhere/', 'library/'],
  REGION_MISMATCH: ['rolesanywhere/', 'library/'],
  ENDPOINT_INVALID: ['rolesanywhere/', 'library/'],
  CONFIG_DIRECTORY_MISSING: ['binding/'],
  CONFIG_DIRECTORY_UNUSABLE: ['binding/'],
  CERT_UNREADABLE: ['identity/', 'secrets/', 'library/', 'cli/commands/fake-endpoint.ts'],
  CERT_MALFORMED: ['identity/', 'mldsa/', 'pkcs11/', 'library/', 'cli/commands/fake-endpoint.ts', 'cli/commands/read-certificate-data.ts'],
  CERT_EXPIRED: ['identity/'],
  CERT_NOT_YET_VALID: ['identity/'],
  KEY_UNREADABLE: ['identity/', 'secrets/', 'library/'],
  KEY_MALFORMED: ['identity/', 'mldsa/', 'tpm/', 'library/', 'cli/commands/sign-string.ts'],
  KEY_UNSUPPORTED: ['identity/', 'mldsa/', 'tpm/', 'pkcs11/', 'signing/', 'library/', 'cli/commands/bind.ts'],
  KEY_PASSWORD_REQUIRED: ['identity/', 'tpm/'],
  KEY_PASSWORD_WRONG: ['identity/', 'tpm/'],
  KEY_CERT_MISMATCH: ['identity/', 'pkcs11/', 'library/'],
  SIGNER_FAILED: ['signing/', 'library/'],
  HSM_URI_INVALID: ['pkcs11/'],
  HSM_MODULE_NOT_FOUND: ['pkcs11/'],
  HSM_TOKEN_NOT_FOUND: ['pkcs11/'],
  HSM_TOKEN_AMBIGUOUS: ['pkcs11/'],
  HSM_CERT_NOT_FOUND: ['pkcs11/'],
  HSM_KEY_NOT_FOUND: ['pkcs11/'],
  HSM_AMBIGUOUS: ['pkcs11/'],
  HSM_PIN_REQUIRED: ['pkcs11/'],
  HSM_PIN_WRONG: ['pkcs11/'],
  HSM_PIN_LOCKED: ['pkcs11/'],
  HSM_DEVICE_ERROR: ['pkcs11/'],
  HSM_FAILED: ['pkcs11/'],
  TPM_UNAVAILABLE: ['tpm/'],
  TPM_KEY_NOT_FOUND: ['tpm/'],
  TPM_LOCKOUT: ['tpm/'],
  TPM_FAILED: ['tpm/'],
  UPSTREAM_DENIED: ['rolesanywhere/'],
  UPSTREAM_INVALID_REQUEST: ['rolesanywhere/', 'credentials/from-server.ts'],
  UPSTREAM_NOT_FOUND: ['rolesanywhere/'],
  UPSTREAM_THROTTLED: ['rolesanywhere/'],
  UPSTREAM_UNAVAILABLE: ['rolesanywhere/', 'credentials/from-server.ts'],
  UPSTREAM_NETWORK: ['rolesanywhere/'],
  UPSTREAM_TLS: ['rolesanywhere/'],
  // The shared cache waits for the upstream call; when that wait outlasts its bound, it is an upstream timeout.
  UPSTREAM_TIMEOUT: ['rolesanywhere/', 'cache/memoizer.ts'],
  UPSTREAM_BAD_RESPONSE: ['rolesanywhere/', 'credentials/from-server.ts'],
  CREDENTIALS_EXPIRED: ['rolesanywhere/', 'credentials/', 'imds/credentials.ts'],
  BINDING_INVALID: ['binding/', 'server/binding-lookup.ts', 'kubernetes/binding.ts'],
  TOKEN_MISSING: ['server/', 'imds/app.ts', 'kubernetes/agent-app.ts'],
  TOKEN_AMBIGUOUS: ['server/'],
  TOKEN_REJECTED: ['server/', 'credentials/from-server.ts'],
  NOT_FOUND: ['server/', 'imds/app.ts'],
  SERVER_UNREACHABLE: ['credentials/from-server.ts', 'cli/commands/probe.ts'],
  SERVER_STOPPING: ['server/', 'rolesanywhere/create-session.ts'],
  TOKEN_INVALID: ['imds/app.ts'],
  INVALID_TOKEN_TTL: ['imds/app.ts'],
  FORWARDED_REQUEST: ['imds/app.ts'],
  HOST_REFUSED: ['imds/app.ts'],
  METHOD_NOT_ALLOWED: ['server/', 'imds/app.ts'],
  BAD_REQUEST: ['server/http-app.ts'],
  LOCK_TIMEOUT: ['fs/'],
  FILE_UNWRITABLE: ['fs/', 'update/', 'cache/process-cache.ts'],
  // The readers of secret files: PIN files, TPM key password files, token files.
  FILE_UNREADABLE: ['fs/', 'pkcs11/pin.ts', 'tpm/tpm-key.ts', 'credentials/from-server.ts'],
  LISTEN_FAILED: ['server/run-server.ts', 'cli/commands/fake-endpoint.ts'],
  SA_TOKEN_REJECTED: ['kubernetes/'],
  SA_NOT_BOUND: ['kubernetes/'],
  AGENT_HOST_REFUSED: ['kubernetes/'],
  RATE_LIMITED: ['kubernetes/'],
  JWKS_UNAVAILABLE: ['kubernetes/'],
  // A bug, from anywhere (checks that should never fail, unexpected throws).
  INTERNAL: [''],
}

/** Catalogue codes raised by no site today, kept for their documented meaning. */
const RESERVED: ReadonlyMap<IamraErrorCode, string> = new Map<IamraErrorCode, string>([])

/**
 * Constructions whose code is not a literal: the file, the code expression as written, the codes it can
 * carry and why. A construction not listed here fails the test, so a new one must say what it raises.
 */
const DYNAMIC: ReadonlyArray<{ file: string; expr: string; codes: readonly IamraErrorCode[]; why: string }> = [
  { file: 'errors.ts', expr: 'code', codes: [], why: 'fail(): its callers are read as constructions' },
  { file: 'errors.ts', expr: 'this.code', codes: [], why: 'rephrase(): keeps the code of an error already raised' },
  {
    file: 'identity/files.ts',
    expr: 'code',
    codes: ['CERT_UNREADABLE', 'KEY_UNREADABLE'],
    why: 'the identity file reader: its callers say which file it reads',
  },
  { file: 'secrets/env-source.ts', expr: 'code', codes: ['CERT_UNREADABLE', 'KEY_UNREADABLE'], why: 'env: sources for certificates and keys' },
  {
    file: 'pkcs11/errors.ts',
    expr: 'code',
    codes: ['HSM_FAILED', 'HSM_PIN_WRONG', 'HSM_PIN_LOCKED', 'HSM_DEVICE_ERROR', 'KEY_UNSUPPORTED'],
    why: 'CKR_ names mapped to codes',
  },
  {
    file: 'rolesanywhere/arn.ts',
    expr: 'code',
    codes: ['ARN_INVALID', 'REGION_MISMATCH'],
    why: 'REGION_MISMATCH only when every problem is one (chosen by problem, not by text)',
  },
  {
    file: 'rolesanywhere/create-session.ts',
    expr: 'se.code',
    codes: ['UPSTREAM_THROTTLED', 'UPSTREAM_UNAVAILABLE', 'UPSTREAM_DENIED', 'UPSTREAM_NOT_FOUND', 'UPSTREAM_INVALID_REQUEST', 'UPSTREAM_BAD_RESPONSE'],
    why: 'classifyServiceError (response.ts) by HTTP status',
  },
  {
    file: 'credentials/from-server.ts',
    expr: 'known ?? fallback',
    codes: ['TOKEN_REJECTED', 'UPSTREAM_UNAVAILABLE', 'UPSTREAM_INVALID_REQUEST'],
    why: "the iamra server's own code when it is a catalogue code, else by HTTP status",
  },
  { file: 'server/authorize.ts', expr: 'e.code', codes: [], why: "a binding lookup's error with its details (paths) moved to the log" },
  { file: 'imds/app.ts', expr: 'code', codes: ['INTERNAL'], why: "the credential source's error code, or INTERNAL for a throw that is not an IamraError" },
  { file: 'server/app.ts', expr: 'error.code', codes: [], why: 'the HTTP answer for an error already raised' },
  { file: 'kubernetes/agent-app.ts', expr: 'error.code', codes: [], why: 'the HTTP answer for an error already raised' },
  { file: 'library/create-provider.ts', expr: 'e.code', codes: [], why: "a core error in the library's words" },
  { file: 'library/load-identity.ts', expr: 'e.code', codes: [], why: "a core error in the library's words" },
  { file: 'library/load-identity.ts', expr: 'unreadable(field)', codes: ['CERT_UNREADABLE', 'KEY_UNREADABLE'], why: 'a source function that threw, by option' },
  {
    file: 'library/resolve-options.ts',
    expr: 'first.code',
    codes: ['USAGE', 'ARN_INVALID', 'REGION_MISMATCH', 'ENDPOINT_INVALID'],
    why: 'the first of the option problems',
  },
]

/** Flags of other programs a message may name (tpm2-tools). */
const OTHER_PROGRAMS_FLAGS: ReadonlySet<string> = new Set(['--clear-lockout'])

/** The first iamra flag a message names, if any. */
function namesFlag(message: string): string | undefined {
  return [...message.matchAll(/(?<![\w-])--[a-z][a-z0-9-]+/g)].map((m) => m[0]).find((f) => !OTHER_PROGRAMS_FLAGS.has(f))
}

/** Outside argument handling, a USAGE must name the field at fault. */
function usageNeedsField(file: string): boolean {
  return !ARGUMENT_HANDLING.some((p) => file.startsWith(p))
}

interface Site {
  readonly file: string
  readonly line: number
  readonly code?: string
  readonly expr: string
  readonly hasField: boolean
  readonly via: string
  /** The message argument as written. */
  readonly message: string
}

/** The codes for a file that cannot be read; a message saying "cannot read … file" must carry one of them. */
const READ_CODES: ReadonlySet<string> = new Set(['CERT_UNREADABLE', 'KEY_UNREADABLE', 'FILE_UNREADABLE', 'BINDING_INVALID', 'JWKS_UNAVAILABLE'])
const saysUnreadableFile = (message: string): boolean => /^\W*(\(\w*\)\s*=>\s*`)?cannot read\b/.test(message) && /\bfile\b/.test(message)

/** `new IamraError(`, `fail(`, `x instanceof IamraError`, imports, types and declarations: the uses the walk understands. */
function plainUse(id: ts.Identifier): boolean {
  const p = id.parent
  if ((ts.isNewExpression(p) || ts.isCallExpression(p)) && p.expression === id) return true
  if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.InstanceOfKeyword && p.right === id) return true
  return (
    ts.isImportSpecifier(p) ||
    ts.isTypeReferenceNode(p) ||
    ts.isExpressionWithTypeArguments(p) ||
    ts.isClassDeclaration(p) ||
    ts.isFunctionDeclaration(p) ||
    ts.isPropertyAccessExpression(p) ||
    ts.isMethodDeclaration(p) ||
    ts.isTypeQueryNode(p) ||
    ts.isQualifiedName(p)
  )
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    if (d.isDirectory()) return sourceFiles(p)
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [p] : []
  })
}

function hasProperty(node: ts.Expression | undefined, name: string): boolean {
  return (
    node !== undefined &&
    ts.isObjectLiteralExpression(node) &&
    node.properties.some((p) => (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && p.name.getText() === name)
  )
}

/** The code-carrying expression of each construction: `new IamraError(CODE, …)`, `fail(CODE, …)`, `sendError(reply, status, CODE, …)`, `new CredentialsProviderError(msg, { code: CODE })`. */
function sitesOf(file: string, text: string): { sites: Site[]; unread: string[] } {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true)
  const sites: Site[] = []
  const unread: string[] = []
  const add = (node: ts.Node, codeExpr: ts.Expression | undefined, opts: ts.Expression | undefined, via: string, message?: ts.Expression): void => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1
    if (codeExpr === undefined) {
      unread.push(`${file}:${line}: ${via} without a code`)
      return
    }
    const literal = ts.isStringLiteral(codeExpr) || ts.isNoSubstitutionTemplateLiteral(codeExpr) ? codeExpr.text : undefined
    sites.push({
      file,
      line,
      ...(literal === undefined ? {} : { code: literal }),
      expr: codeExpr.getText(),
      hasField: hasProperty(opts, 'field'),
      via,
      message: message?.getText() ?? '',
    })
  }
  const visit = (node: ts.Node): void => {
    // A namespace import would let `errors.fail(…)` through unseen.
    if (
      ts.isImportDeclaration(node) &&
      /\/errors\.js$/.test((node.moduleSpecifier as ts.StringLiteral).text) &&
      node.importClause?.namedBindings !== undefined &&
      ts.isNamespaceImport(node.importClause.namedBindings)
    ) {
      unread.push(`${file}: a namespace import of errors.js`)
    }
    // The constructors used as values (an alias, a callback) would raise codes the walk cannot see.
    if (ts.isIdentifier(node) && (node.text === 'IamraError' || node.text === 'fail') && !plainUse(node)) {
      unread.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.text} used as a value`)
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression)) {
      const args = node.arguments ?? ts.factory.createNodeArray()
      if (node.expression.text === 'IamraError') add(node, args[0], args[2], 'new IamraError', args[1])
      if (node.expression.text === 'CredentialsProviderError') {
        const opts = args[1]
        const prop =
          opts !== undefined && ts.isObjectLiteralExpression(opts)
            ? opts.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && p.name.getText() === 'code')
            : undefined
        if (prop === undefined)
          unread.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}: new CredentialsProviderError without an inline { code }`)
        else add(node, prop.initializer, opts, 'new CredentialsProviderError', args[0])
      }
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
      if (node.expression.text === 'fail') add(node, node.arguments[0], node.arguments[2], 'fail', node.arguments[1])
      if (node.expression.text === 'sendError') add(node, node.arguments[2], undefined, 'sendError', node.arguments[3])
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  // Anything spelled like a construction that the walk did not see (an alias, a call through a property) cannot be read.
  const spelled = (re: RegExp): number =>
    text
      .split('\n')
      .filter((l) => !/^\s*(\*|\/\/)/.test(l))
      .join('\n')
      .match(re)?.length ?? 0
  const seen = (via: string): number => sites.filter((s) => s.via === via).length + unread.filter((u) => u.includes(via)).length
  for (const [re, via] of [
    [/new IamraError\(/g, 'new IamraError'],
    [/(?<![.\w])fail\(/g, 'fail'],
    [/(?<![.\w])sendError\(/g, 'sendError'],
  ] as const) {
    const n = spelled(re) - (via === 'fail' && file === 'errors.ts' ? 1 : 0) - (via === 'sendError' && /export function sendError\(/.test(text) ? 1 : 0)
    if (n !== seen(via)) unread.push(`${file}: ${n} × ${via}( in the text, ${seen(via)} read from the syntax tree`)
  }
  return { sites, unread }
}

const all = sourceFiles(SRC).map((path) => sitesOf(relative(SRC, path), readFileSync(path, 'utf8')))
const sites = all.flatMap((a) => a.sites)
const allowedIn = (code: IamraErrorCode, file: string): boolean => ALLOWED[code].some((p) => file.startsWith(p))
const known = new Set<string>(ERROR_CODES)

/** What is wrong with these sites' codes: unknown, from a layer not allowed to raise them, or a USAGE without its field. */
function misuses(sites: readonly Site[]): string[] {
  const wrong: string[] = []
  for (const s of sites) {
    if (s.code === undefined) continue
    if (!known.has(s.code)) wrong.push(`${s.file}:${s.line}: ${s.code} is not in src/errors.ts`)
    else if (!allowedIn(s.code as IamraErrorCode, s.file))
      wrong.push(`${s.file}:${s.line}: ${s.code} may come only from ${ALLOWED[s.code as IamraErrorCode].join(', ')}`)
    else if (s.code === 'USAGE' && usageNeedsField(s.file) && !s.hasField)
      wrong.push(`${s.file}:${s.line}: USAGE outside argument handling must name its field`)
    else if (saysUnreadableFile(s.message) && !READ_CODES.has(s.code))
      wrong.push(`${s.file}:${s.line}: a file that cannot be read is ${[...READ_CODES].join(', ')}, not ${s.code}`)
  }
  for (const s of sites) {
    const flag = namesFlag(s.message)
    if (flag !== undefined && usageNeedsField(s.file))
      wrong.push(`${s.file}:${s.line}: the core names no flag (${flag}): give the field, and let each door name it`)
  }
  return wrong
}

t.test('every construction is read: a literal code, or a listed dynamic one', async (t) => {
  t.same(
    all.flatMap((a) => a.unread),
    [],
    'no construction the walk cannot read',
  )
  t.ok(sites.length > 250, `found ${sites.length} sites`)
  const dynamic = sites.filter((s) => s.code === undefined)
  for (const s of dynamic) {
    t.ok(
      DYNAMIC.some((d) => d.file === s.file && d.expr === s.expr),
      `${s.file}:${s.line}: ${s.via}(${s.expr}, …) is listed in DYNAMIC with the codes it can carry`,
    )
  }
  for (const d of DYNAMIC)
    t.ok(
      dynamic.some((s) => s.file === d.file && s.expr === d.expr),
      `DYNAMIC ${d.file} ${d.expr} still exists`,
    )
})

t.test('every code exists in the catalogue and comes from a layer allowed to raise it', async (t) => {
  const wrong = misuses(sites)
  for (const d of DYNAMIC) {
    for (const code of d.codes)
      if (!allowedIn(code, d.file)) wrong.push(`DYNAMIC ${d.file} (${d.expr}): ${code} may come only from ${ALLOWED[code].join(', ')}`)
  }
  t.same(wrong, [], 'codes that mean what they say')
})

t.test('every catalogue code is raised somewhere, or reserved with a reason', async (t) => {
  const used = new Set<string>([...sites.flatMap((s) => (s.code === undefined ? [] : [s.code])), ...DYNAMIC.flatMap((d) => d.codes)])
  t.same(
    ERROR_CODES.filter((c) => !used.has(c) && !RESERVED.has(c)),
    [],
    'no unused code',
  )
  t.same(
    [...RESERVED.keys()].filter((c) => used.has(c)),
    [],
    'a reserved code that is used is no longer reserved',
  )
})

t.test('the checks catch what they are for: the misuses issue 9 lists, and constructions they cannot read', async (t) => {
  const sample = (file: string, text: string): string[] => {
    const r = sitesOf(file, text)
    return [...r.unread, ...misuses(r.sites)]
  }
  const listen = "throw new IamraError('USAGE', `cannot listen: ${e.code}`, { cause: e })"
  t.match(sample('server/run-server.ts', listen), [/USAGE outside argument handling must name its field/], 'USAGE for a listen failure')
  t.match(
    sample('credentials/from-server.ts', "throw new IamraError('TOKEN_FILE', 'x')"),
    [/TOKEN_FILE is not in src\/errors.ts/],
    'a code not in the catalogue',
  )
  t.match(
    sample('pkcs11/pin.ts', "fail('FILE_UNWRITABLE', `cannot read the PIN file ${path}`)"),
    [/FILE_UNWRITABLE may come only from/],
    'a file code away from its readers',
  )
  t.match(
    sample('pkcs11/pin.ts', "throw new IamraError('HSM_PIN_REQUIRED', `cannot read the PIN file ${path} (pin-source): ${reason}`, { cause: e })"),
    [/a file that cannot be read is/],
    'HSM_PIN_REQUIRED for an unreadable PIN file',
  )
  t.match(
    sample('credentials/from-server.ts', "throw new IamraError('USAGE', `cannot read ${what} ${path}: ${e.message}`, { cause: e })"),
    [/USAGE outside argument handling must name its field/],
    'USAGE for an unreadable token file',
  )
  t.match(
    sample('fs/lock.ts', "throw new IamraError('INTERNAL', 'x'); fail('HSM_PIN_REQUIRED', 'y')"),
    [/HSM_PIN_REQUIRED may come only from pkcs11/],
    'HSM_* away from PKCS#11',
  )
  t.match(
    sample('update/credentials-file.ts', "throw new IamraError('UPSTREAM_BAD_RESPONSE', 'x')"),
    [/UPSTREAM_BAD_RESPONSE may come only from/],
    'UPSTREAM_* from the file editor',
  )
  t.match(
    sample('identity/identity.ts', "fail('USAGE', 'no certificate given: pass --certificate FILE')"),
    [/must name its field/],
    'a USAGE from the core without its field',
  )
  t.same(
    sample('identity/identity.ts', "fail('USAGE', (n) => `no certificate: ${n('certificate')}`, { field: 'certificate' })"),
    [],
    'with its field it is fine',
  )
  t.match(
    sample('identity/private-key.ts', "fail('KEY_PASSWORD_REQUIRED', `${source} is encrypted: pass --pkcs8-password`)"),
    [/the core names no flag \(--pkcs8-password\)/],
    'a core message naming a CLI flag',
  )
  t.match(sample('x/alias.ts', "const E = IamraError\nthrow new E('USAGE', 'x')"), [/IamraError used as a value/], 'an alias cannot be read')
  t.match(
    sample('x/ns.ts', "import * as errors from '../errors.js'\nerrors.fail('USAGE', 'x')"),
    [/a namespace import of errors.js/],
    'a call through a namespace cannot be read',
  )
  t.match(
    sample('x/text.ts', "const s = 'new IamraError(' + x"),
    [/1 × new IamraError\( in the text, 0 read/],
    'text the walk does not see as a construction is flagged',
  )
  t.same(
    sitesOf('x/dyn.ts', "throw new IamraError(pick(), 'x')").sites.map((s) => [s.code, s.expr]),
    [[undefined, 'pick()']],
    'a computed code is seen as dynamic (and must then be listed)',
  )
})
