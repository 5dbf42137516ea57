// Run by the embedded runtime at build time (dev/package/sea.mjs): loads the pieces from
// ASSET_DIR exactly as the single executable does, runs the command line that follows and, when
// it is done, writes the hot script's V8 code cache (every function the run compiled) to OUT.
// Usage: node sea-train.cjs ASSET_DIR OUT iamra-args...
'use strict'
const { existsSync, readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')
const iamraLoad = require('./sea-loader.cjs')

const [dir, out, ...args] = process.argv.slice(2)
process.argv = [process.execPath, process.execPath, ...args]
const script = iamraLoad(require, (name, text) => {
  if (name === 'hot.cache' || !existsSync(join(dir, name))) return undefined
  return readFileSync(join(dir, name), text ? 'utf8' : undefined)
}, 'main.js')
process.once('beforeExit', () => writeFileSync(out, script.createCachedData()))
