// Stands in for src/pkcs11/addon.ts inside the single executables: pkcs11js's JavaScript is
// bundled, its native part (pkcs11js.node, N-API) is loaded from disk, first found of:
//   1. beside the binary: pkcs11js-linux-ARCH.node (as released) or pkcs11js.node;
//   2. /usr/lib/iamra/pkcs11js.node (the .deb, the image).
'use strict'
const { existsSync } = require('node:fs')
const { dirname, join } = require('node:path')

let found
exports.addonPath = () => found

exports.requirePkcs11js = function requirePkcs11js() {
  const dir = dirname(process.execPath)
  const places = [join(dir, `pkcs11js-linux-${process.arch}.node`), join(dir, 'pkcs11js.node'), '/usr/lib/iamra/pkcs11js.node']
  found = places.find((p) => existsSync(p))
  if (found === undefined) {
    throw new Error(`the PKCS#11 addon file pkcs11js.node is missing (looked for ${places.join(', ')}); ` +
      `it is released beside the iamra binary as pkcs11js-linux-${process.arch}.node and installed by the iamra .deb`)
  }
  return require('pkcs11js')
}
