#!/usr/bin/env bash
# How much CPU the reference service spends per request on each HPA load path, to choose the
# HPA scenario's load: an HPA at 70% of a 200m request needs 140 millicores per pod, and load
# through kube port-forwards is limited to a few hundred requests per second.
# Usage: bench/hpa_cpu.sh [documents (default 1000)] [seconds (default 10)]
# Needs wrk and Python 3; every request goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS="${1:-1000}"
DURATION="${2:-10}"
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p deploycheck-app
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
MONGODB_URI="mongodb://127.0.0.1:$DB_PORT/?directConnection=true" MONGODB_DATABASE=bench \
    PORT="$APP_PORT" BIND_ADDR=127.0.0.1 RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/deploycheck-app" 2>"$WORK/app.log" &
APP_PID=$!
URL="http://127.0.0.1:$APP_PORT"
for _ in $(seq 1 300); do curl -fs "$URL/ready" >/dev/null 2>&1 && break; sleep 0.2; done
python3 - "$URL" "$DOCS" <<'PY'
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    req = urllib.request.Request(url + "/data", data=json.dumps({"deploycheck_load": i}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
ticks() { awk '{print $14 + $15}' "/proc/$APP_PID/stat"; }
HZ="$(getconf CLK_TCK)"
for path in "/" "/data"; do
    before="$(ticks)"
    out="$(wrk -t1 -c4 -d"${DURATION}s" "$URL$path")"
    after="$(ticks)"
    requests="$(echo "$out" | awk '/requests in/ {print $1}')"
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    python3 -c "
cpu = ($after - $before) / $HZ
req = $requests
per = cpu / req * 1000
print(f'GET {\"$path\":<6} with $DOCS documents: {req} requests, {float(\"$rps\"):.0f} req/s, '
      f'{per:.3f} ms CPU per request -> {140 / per if per else float(\"inf\"):.0f} req/s per pod for 140m')"
done
