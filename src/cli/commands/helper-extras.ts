/**
 * The official helper's two rarely used commands, in one module loaded when either runs. One
 * module, not two: each dynamic import is a bundle entry, and every entry splits the chunks that
 * credential-process shares with it, so each one would add module loads to credential-process's
 * start-up (bench/credential-process.mjs).
 */
export * as readCertificateData from './read-certificate-data.js'
export * as signString from './sign-string.js'
