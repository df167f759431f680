#!/usr/bin/env bash
# Runs `deploycheck api` against the reference service many times in a row and counts the
# runs: a check that is wrong one run in ten is broken (DESIGN.md 6c), and a flaky verdict
# only shows over many runs. The service (release build, bench/stack.sh) starts once.
# Usage: bench/api_repeat.sh [runs (default 200)]
# HARNESS_PROFILE=debug runs a debug build of deploycheck instead of a release one (a release
# build of the harness takes many minutes on 2 cores). Every request goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-200}"
HARNESS_PROFILE="${HARNESS_PROFILE:-release}"
case "$HARNESS_PROFILE" in
    release) cargo build --release -q -p deploycheck ;;
    debug) cargo build -q -p deploycheck ;;
    *) echo "bench: HARNESS_PROFILE must be release or debug" >&2; exit 2 ;;
esac
DEPLOYCHECK="${CARGO_TARGET_DIR:-target}/$HARNESS_PROFILE/deploycheck"
# shellcheck source=bench/stack.sh
. bench/stack.sh
start_stack api_repeat

echo "deploycheck ($HARNESS_PROFILE) api --url $URL, $RUNS runs"
passed=0
failed=0
for run in $(seq 1 "$RUNS"); do
    if "$DEPLOYCHECK" --profile reference api --url "$URL" >"$WORK/run.txt" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        # Each failure in full: the point of the exercise is to see why.
        echo "-- run $run failed:" >&2
        cat "$WORK/run.txt" >&2
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
