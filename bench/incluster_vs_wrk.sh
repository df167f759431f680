#!/usr/bin/env bash
# In-cluster load workers, run here as N local processes, next to wrk with the same total
# connections on the same endpoint in the same run: GET / of the release reference service on
# SecantusDB, loopback only. Prints both req/s and their ratio (target: workers >= 0.5x wrk).
# Usage: bench/incluster_vs_wrk.sh [seconds (default 10)] [workers (default 2)]
#            [connections per worker (default 32)] [reconnect every N requests (default 100000)]
# wrk never reconnects, so the default compares the request loop; pass 100 (the worker's own
# default) to see what reopening connections for kube-proxy costs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
WORKERS="${2:-2}"
PER_WORKER="${3:-32}"
RECONNECT="${4:-100000}"
TOTAL=$((WORKERS * PER_WORKER))
# shellcheck source=bench/stack.sh
. bench/stack.sh
require_wrk
cargo build --release -q -p deploycheck
start_stack appdb
BIN="${CARGO_TARGET_DIR:-target}/release/deploycheck"

echo "== wrk -t$WORKERS -c$TOTAL -d${DURATION}s GET /"
wrk_rps="$(wrk -t"$WORKERS" -c"$TOTAL" -d"${DURATION}s" "$URL/" | awk '/Requests\/sec/ {print $2}')"
echo "wrk: $wrk_rps req/s"

echo "== $WORKERS x deploycheck load-worker --connections $PER_WORKER --duration ${DURATION}s --reconnect-every $RECONNECT GET /"
pids=()
for i in $(seq 1 "$WORKERS"); do
    "$BIN" load-worker --url "$URL" --mix "GET /" --connections "$PER_WORKER" \
        --duration "${DURATION}s" --window "${DURATION}s" --reconnect-every "$RECONNECT" \
        --name "bench-$i" >"$WORK/worker-$i.log" &
    pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done

# The final lines: requests and the run's seconds of each worker; rates add up.
workers_rps="$(grep -h '"last":true' "$WORK"/worker-*.log |
    sed -E 's/.*"window_seconds":([0-9.eE+-]+).*"requests":([0-9]+).*/\2 \1/' |
    awk '{ rps += $1 / $2; n += 1 } END { if (n == 0) exit 1; printf "%.1f", rps }')"
failed="$(grep -h '"last":true' "$WORK"/worker-*.log |
    sed -E 's/.*"failed":([0-9]+).*/\1/' | awk '{ f += $1 } END { print f + 0 }')"
bytes="$(grep -h '"last":true' "$WORK"/worker-*.log | awk '{ n = length($0) > n ? length($0) : n } END { print n }')"
echo "workers: $workers_rps req/s ($failed failed; final line up to $bytes bytes)"
awk -v a="$workers_rps" -v b="$wrk_rps" 'BEGIN { printf "ratio workers/wrk: %.2f\n", a / b }'
