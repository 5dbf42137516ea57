// The pkcs11js addon (N-API) for each target, compiled from the installed pkcs11js sources
// against the embedded runtime's headers (arm64 with the aarch64-linux-gnu cross compiler).
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { NODE_VERSION, cacheDir, root, targets } from './config.mjs'
import { runtimeDir } from './runtime.mjs'
import { have, run, step } from './run.mjs'

function nodeGyp() {
  const npmCli = realpathSync(run('sh', ['-c', 'command -v npm']).trim())
  const gyp = join(dirname(npmCli), '../node_modules/node-gyp/bin/node-gyp.js')
  if (!existsSync(gyp)) throw new Error(`package: node-gyp not found beside npm (${gyp})`)
  return gyp
}

export function pkcs11jsVersion() {
  return JSON.parse(readFileSync(join(root, 'node_modules/pkcs11js/package.json'), 'utf8')).version
}

/** Path of pkcs11js.node built for `arch` (cached per pkcs11js and runtime version). */
export function buildAddon(arch) {
  const t = targets[arch]
  const out = join(cacheDir, `pkcs11js-${pkcs11jsVersion()}-node-${NODE_VERSION}-${arch}.node`)
  if (existsSync(out)) return out
  const cross = arch !== process.arch
  if (cross && !have(`${t.gnuTriplet}-g++`))
    throw new Error(`package: building the ${arch} pkcs11js addon needs ${t.gnuTriplet}-g++ (apt install g++-${t.gnuTriplet})`)
  step(`${arch}: compiling the pkcs11js addon${cross ? ' (cross)' : ''}`)
  const src = join(cacheDir, `pkcs11js-src-${arch}-${process.pid}`)
  rmSync(src, { recursive: true, force: true })
  mkdirSync(src, { recursive: true })
  for (const f of ['binding.gyp', 'package.json', 'src', 'includes']) cpSync(join(root, 'node_modules/pkcs11js', f), join(src, f), { recursive: true })
  const env = { ...process.env, npm_config_nodedir: runtimeDir(arch) }
  if (cross) Object.assign(env, { CC: `${t.gnuTriplet}-gcc`, CXX: `${t.gnuTriplet}-g++`, LINK: `${t.gnuTriplet}-g++`, AR: `${t.gnuTriplet}-ar` })
  run(process.execPath, [nodeGyp(), 'rebuild', `--arch=${arch}`, `--nodedir=${runtimeDir(arch)}`, '--jobs=2'], {
    cwd: src,
    env,
    purpose: `compiling pkcs11js for ${arch} (make, g++)`,
  })
  const built = join(src, 'build/Release/pkcs11.node')
  run(cross ? `${t.gnuTriplet}-strip` : 'strip', ['--strip-unneeded', built])
  copyFileSync(built, out)
  rmSync(src, { recursive: true, force: true })
  return out
}
