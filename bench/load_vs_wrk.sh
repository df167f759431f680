#!/usr/bin/env bash
# deploycheck load next to wrk on the same endpoint in the same run: GET / of the release
# reference service on loopback, same connection count, same duration.
# Usage: bench/load_vs_wrk.sh [seconds (default 10)] [connections/users (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
USERS="${2:-32}"
# shellcheck source=bench/stack.sh
. bench/stack.sh
require_wrk
cargo build --release -q -p deploycheck
start_stack appdb

echo "== wrk -t2 -c$USERS -d${DURATION}s GET /"
wrk -t2 -c"$USERS" -d"${DURATION}s" --latency "$URL/" | grep -E "Requests/sec|Latency  |  50%|  99%"
echo "== deploycheck load --mix get-root --users $USERS --duration ${DURATION}s"
"${CARGO_TARGET_DIR:-target}/release/deploycheck" load --url "$URL" --mix get-root --users "$USERS" --hatch-rate "$USERS" \
    --duration "${DURATION}s" --slo "errors<1%" | grep -E "requests|latency ms|PASS|FAIL"
