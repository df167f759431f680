#!/usr/bin/env bash
# deploycheck load next to wrk on the same endpoint in the same run: GET / of the release
# reference service on loopback, same connection count, same duration.
# Usage: bench/load_vs_wrk.sh [seconds (default 10)] [connections/users (default 32)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
USERS="${2:-32}"
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p deploycheck -p deploycheck-app
BIN="${CARGO_TARGET_DIR:-target}/release"
VENV="${DEVDB_VENV:-target/devdb-venv}"
if [ ! -x "$VENV/bin/secantusd-py" ]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "SecantusDB==0.7.0b3"
fi
WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DB_PORT="$(free_port)"; APP_PORT="$(free_port)"
cleanup() { kill "${APP_PID:-}" "${DB_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
"$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$DB_PORT" --storage-path "$WORK/db" \
    --standalone --log-level WARNING >"$WORK/db.log" 2>&1 &
DB_PID=$!
MONGODB_URI="mongodb://127.0.0.1:$DB_PORT/?directConnection=true" PORT="$APP_PORT" \
    BIND_ADDR=127.0.0.1 RUST_LOG=warn "$BIN/deploycheck-app" 2>"$WORK/app.log" &
APP_PID=$!
URL="http://127.0.0.1:$APP_PORT"
for _ in $(seq 1 300); do curl -fs "$URL/ready" >/dev/null 2>&1 && break; sleep 0.2; done

echo "== wrk -t2 -c$USERS -d${DURATION}s GET /"
wrk -t2 -c"$USERS" -d"${DURATION}s" --latency "$URL/" | grep -E "Requests/sec|Latency  |  50%|  99%"
echo "== deploycheck load --mix get-root --users $USERS --duration ${DURATION}s"
"$BIN/deploycheck" load --url "$URL" --mix get-root --users "$USERS" --hatch-rate "$USERS" \
    --duration "${DURATION}s" --slo "errors<1%" | grep -E "requests|latency ms|PASS|FAIL"
