#!/usr/bin/env -S node --
// The installed command: the esbuild bundle built by `npm run build`.
import '../dist/iamra.mjs'
