/** The KEY/value pairs of an env file in systemd EnvironmentFile= syntax, in order. */
export function parseEnvFile(text: string): Array<[string, string]>
