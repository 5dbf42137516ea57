/**
 * The binding store under the configuration directory, one concern per file: where the files go
 * (layout.ts), which directory (configuration-directory.ts), whom the server trusts (trust.ts), the
 * file format (binding-file.ts), reading on a request (read-binding.ts), writing and removing under
 * a per-name lock (write-binding.ts, remove-binding.ts) and temp files killed writers left (leftovers.ts).
 */
export { bindingEntries, entryForSecret, parseBinding, serialiseBinding } from './binding-file.js'
export type { Binding, BindingRequest } from './binding-file.js'
export { configurationDirectory } from './configuration-directory.js'
export { ensureDirectories } from './directories.js'
export { bindingPaths, type BindingPaths } from './layout.js'
export { BINDING_FILE_LIMIT, parseNamedBinding, readBinding, readBindingText } from './read-binding.js'
export { removeBinding } from './remove-binding.js'
export { checkTrustedStats } from './trust.js'
export { writeBinding, type BindingStoreDeps, type WriteBindingInput } from './write-binding.js'
