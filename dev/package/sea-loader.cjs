// The single executable's module loader (dev/package/sea.mjs builds the rest). The CLI is split in
// CommonJS pieces. Those the credential-process path runs are one script, the asset hot.js,
// compiled with V8 code cache (hot.cache) that the build made by running that path under the same
// runtime: unlike the SEA's own code cache (top-level code only), it holds every function the path
// ran, so nothing of it is compiled at start-up. Every other piece is its own asset, compiled the
// first time something requires it. A piece's `require("./NAME")` is another piece; anything else
// is a built-in (require() in a SEA loads built-ins only). node:crypto (6–8 ms to load) and
// node:fs/promises (~2 ms, with readline and os) are handed to the pieces as stand-ins that load
// them on the first use of any export: esbuild's CommonJS reads `import { createHash } from
// 'node:crypto'` as `crypto_ns.createHash` at each use, so a `--cache` hit, which uses neither,
// never loads them.
'use strict'
/**
 * require: the script's own; asset(name, text): an asset's content (a string when text, else
 * bytes), undefined if absent. Returns the hot script (the build takes its code cache from it).
 */
module.exports = function iamraLoad(require, asset, entry) {
  const vm = require('node:vm')
  const script = new vm.Script(asset('hot.js', true), { filename: 'iamra:hot.js', cachedData: asset('hot.cache', false) })
  const inline = script.runInThisContext()
  const loaded = new Map()
  const compile = (name) => vm.runInThisContext(asset(name, true), { filename: `iamra:${name}` })
  const load = (name) => {
    let m = loaded.get(name)
    if (m !== undefined) return m.exports
    m = { exports: {} }
    loaded.set(name, m)
    const piece = Object.hasOwn(inline, name) ? inline[name] : compile(name)
    piece.call(m.exports, m.exports, requirePiece, m)
    return m.exports
  }
  const lazy = new Map()
  const lazyBuiltin = (spec) => {
    let real
    const get = () => (real ??= require(spec))
    return new Proxy({}, {
      get: (_, k) => get()[k],
      has: (_, k) => k in get(),
      ownKeys: () => Reflect.ownKeys(get()),
      getOwnPropertyDescriptor: (_, k) => {
        const d = Reflect.getOwnPropertyDescriptor(get(), k)
        return d === undefined ? undefined : { ...d, configurable: true }
      },
    })
  }
  const requirePiece = (spec) => {
    if (spec.startsWith('./')) return load(spec.slice(2))
    if (spec !== 'node:crypto' && spec !== 'node:fs/promises') return require(spec)
    if (!lazy.has(spec)) lazy.set(spec, lazyBuiltin(spec))
    return lazy.get(spec)
  }
  load(entry)
  return script
}
