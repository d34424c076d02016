#!/bin/bash
# The test command: type check, unit tests, the lab's own tests, a whole lab run and the fault
# matrix (every fault turns its named checks red, and only those). Needs root for the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
trap 'echo "== npm test: $(( $(date +%s) - started )) s wall time"' EXIT
# The suite writes its runs to temporary folders: reports/ holds only the user's own runs.
reports_before=$(ls -A reports 2> /dev/null || true)
node_ts=(node --disable-warning=ExperimentalWarning -r ./scripts/register.cjs)

echo "== lab prerequisites"
"${node_ts[@]}" -e 'require("./lab/src/preflight").labPreflight((l) => console.error(l))'
echo "== type check (tsc --noEmit)"
npx tsc --noEmit -p .
echo "== lint and format (biome check; npm run format fixes what it can)"
npx biome check .
echo "== unit tests"
"${node_ts[@]}" --test --test-concurrency=2 --test-reporter=spec test/unit/*.test.ts
echo "== a browser for the report test (Debian's chromium)"
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium > /dev/null \
      || { apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium > /dev/null; }
  else
    echo "the report test needs /usr/bin/chromium: apt-get install chromium" >&2
    exit 1
  fi
fi
echo "== lab tests: lab, ssh driver, acceptance runs and the fault matrix"
"${node_ts[@]}" --test --test-concurrency=1 --test-reporter=spec test/lab/*.test.ts
if [ "$(ls -A reports 2> /dev/null || true)" != "$reports_before" ]; then
  echo "npm test changed reports/ (it holds only your own runs): $(ls -A reports | tr '\n' ' ')" >&2
  exit 1
fi
