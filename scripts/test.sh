#!/bin/bash
# The test command: type check, unit tests, the lab's own tests, a whole lab run and the fault
# matrix (every fault turns its named checks red, and only those). Needs root for the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
node_ts=(node --disable-warning=ExperimentalWarning -r ts-node/register/transpile-only)

echo "== lab prerequisites"
"${node_ts[@]}" -e 'require("./src/lab/preflight").labPreflight((l) => console.error(l))'
echo "== type check (tsc --noEmit)"
npx tsc --noEmit -p .
echo "== unit tests"
"${node_ts[@]}" --test --test-reporter=spec test/unit/*.test.ts
echo "== lab tests: lab, ssh driver, acceptance runs and the fault matrix"
"${node_ts[@]}" --test --test-concurrency=1 --test-reporter=spec test/lab/*.test.ts
