#!/usr/bin/env bash
# Runs `deploycheck local` (the reference stack: contract, the short load with the profile's
# SLOs, a database restart) many times in a row and counts the verdicts: the first command a
# newcomer runs must pass every time, and a flaky verdict only shows over many runs. Each run
# starts its own database and service, as `deploycheck local` does for a newcomer; the release
# build happens once, before the first run.
# Usage: bench/local_repeat.sh [runs (default 20)] [extra arguments for `deploycheck local`]
# Prints one line per run (per-route p95 in ms, the largest GET /data answer), then
# "N passed, M failed"; a failed run is printed in full. KEEP_REPORTS=DIR keeps each run's JSON
# report there. Needs Python 3 (for the one-line summaries). Every request goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-20}"
shift || true
cargo build --release -q -p deploycheck
DEPLOYCHECK="${CARGO_TARGET_DIR:-target}/release/deploycheck"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
REPORTS="${KEEP_REPORTS:-$WORK}"
mkdir -p "$REPORTS"

summary() {
    python3 - "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
load = report.get("load", {})
if load.get("outcome") != "ran":
    print(f"load {load.get('outcome')}: {load.get('reason', '')}")
    sys.exit()
parts = []
for route, r in load["routes"].items():
    parts.append(f"{route} p95 {r['latency_ms']['p95']:.1f}")
    if r.get("list"):
        parts.append(f"({r['list']['documents_max']} docs max)")
missed = [f"{s['slo']} on {s['route']}" for s in load["slos"] if s["verdict"] == "missed"]
print(f"{load['requests']} requests, " + "  ".join(parts)
      + (f"  MISSED: {', '.join(missed)}" if missed else ""))
PY
}

echo "deploycheck local${*:+ $*}, $RUNS runs"
passed=0
failed=0
for run in $(seq 1 "$RUNS"); do
    json="$REPORTS/local-$run.json"
    if "$DEPLOYCHECK" local --json "$json" "$@" >"$WORK/run.txt" 2>&1; then
        passed=$((passed + 1))
        verdict=passed
    else
        failed=$((failed + 1))
        verdict=FAILED
    fi
    line="$( [ -s "$json" ] && summary "$json" || echo "no report")"
    echo "run $run $verdict: $line"
    if [ "$verdict" = FAILED ]; then
        cat "$WORK/run.txt" >&2
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
