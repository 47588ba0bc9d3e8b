#!/usr/bin/env bash
# Runs the whole test suite with bun test and prints the plain "N passed, N failed" line CI reads.
# bun test prints its own summary (" N pass", " N fail") on stderr.
set -uo pipefail
cd "$(dirname "$0")/.."
BUN="${BUN:-node_modules/.bin/bun}"
log=$(mktemp)
# --timeout: Bun ignores [test] timeout in bunfig.toml; without this flag every test gets 5 s.
"$BUN" test --timeout "${PIPEOPS_TEST_TIMEOUT_MS:-60000}" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -Eo '^ *[0-9]+ pass$' "$log" | grep -Eo '[0-9]+' | tail -1)
f=$(grep -Eo '^ *[0-9]+ fail$' "$log" | grep -Eo '[0-9]+' | tail -1)
rm -f "$log"
echo "${p:-0} passed, ${f:-0} failed"
exit "$rc"
