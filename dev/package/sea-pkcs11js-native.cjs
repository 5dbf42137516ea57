// pkcs11js's `require("./build/Release/pkcs11.node")`, inside the single executables: the addon
// found by sea-pkcs11js.cjs, opened with process.dlopen (require() in a SEA loads built-ins only).
'use strict'
const target = { exports: {} }
process.dlopen(target, require('./sea-pkcs11js.cjs').addonPath())
module.exports = target.exports
