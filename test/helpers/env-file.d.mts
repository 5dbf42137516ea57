/** The KEY/value pairs of an env file in systemd EnvironmentFile= syntax, in order. */
export function parseEnvFile(text: string): Array<[string, string]>
/** The same as an object (a later line wins, as with systemd). */
export function envFileVars(text: string): Record<string, string>
/** `KEY=value` records split at the first "=" (docker --env-file's reading); empty records skipped. */
export function splitAssignments(text: string, separator?: string): Record<string, string>
