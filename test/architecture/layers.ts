/**
 * The layering of src/, in one place: test/architecture.test.ts checks every import against it and
 * renders it, with the real folder arrows, into docs/architecture.md.
 *
 * A folder may import folders of its own layer or of any layer below, never one above; and the
 * folders, like the files, import each other without a cycle.
 */

export interface Layer {
  readonly name: string
  /** Folders under src/; `errors`, `version` and `runtime` are the files src/errors.ts, src/version.ts and src/runtime.ts. */
  readonly folders: readonly string[]
  /** What the layer is for, one sentence (rendered into the doc). */
  readonly role: string
}

/** Top to bottom. */
export const LAYERS: readonly Layer[] = [
  {
    name: 'entry points',
    folders: ['cli'],
    role: 'The command line: parses arguments once, builds the runtime (clock, environment, randomness, logger, PKCS#11 context) and hands it down.',
  },
  {
    name: 'services',
    folders: ['server', 'imds', 'kubernetes', 'update', 'library', 'testing'],
    role: "What a user runs or imports: the multi-role ECS server (and the HTTP host IMDS mode and the node agent run on), IMDS mode, the Kubernetes node agent and binder, `update`, the library (`library/index.ts` is the package's `.` export) and the fake endpoint and test PKI (`testing/index.ts` is `./testing`).",
  },
  {
    name: 'credentials',
    folders: ['credentials', 'cache'],
    role: 'Credentials from a certificate or from the server, their output formats, and the caches that hold them.',
  },
  {
    name: 'keys',
    folders: ['keys'],
    role: 'Key backends: picks a key file, a PKCS#11 token or a TPM for an identity, and holds the PKCS#11 context and TPM connection an entry point creates and disposes.',
  },
  {
    name: 'core',
    folders: ['rolesanywhere', 'binding', 'identity', 'pkcs11', 'tpm', 'mldsa', 'secrets', 'signing'],
    role: 'CreateSession and its endpoint, the binding store, certificates and keys (files, PKCS#11, TPM, ML-DSA), secret inputs, SigV4-X509 signing.',
  },
  {
    name: 'base',
    folders: ['fs', 'errors', 'version', 'runtime'],
    role: 'Bounded reads, atomic writes and locks; the error catalogue; the version; the Runtime type (clock, environment, randomness) each entry point builds.',
  },
]

/**
 * An arrow known to break a rule, tolerated only until the named branch lands. Each entry must
 * still exist and still break a rule (the test says when one can go); the lead empties this list
 * as those branches merge.
 */
export interface KnownBreak {
  readonly from: string
  readonly to: string
  /** The branch removing it. */
  readonly branch: string
  readonly why: string
}

/** Folder arrows: known, being removed by the branch named. */
export const KNOWN_FOLDER_BREAKS: readonly KnownBreak[] = []

/** File arrows (paths under src/): known, being removed by the branch named. */
export const KNOWN_FILE_BREAKS: readonly KnownBreak[] = []
