#!/usr/bin/env bash
# Measures the reference service with wrk on loopback: throughput and latency of GET /,
# GET /data (100 documents) and POST /data, plus resident memory idle and after load.
# With --with-flask, the same runs against bench/flask_baseline.py (Flask + pymongo under
# gunicorn, one worker per core) on the same database, as the baseline DESIGN.md names.
# Usage: bench/app.sh [--with-flask] [seconds-per-endpoint (default 10)] [connections (default 32)]
# Needs: wrk (Debian package `wrk`), Python 3. Every request goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_FLASK=0
if [ "${1:-}" = "--with-flask" ]; then WITH_FLASK=1; shift; fi
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
# shellcheck source=bench/stack.sh
. bench/stack.sh
require_wrk
start_stack bench

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$APP_PID/status"; }
sleep 1
echo "idle RSS after start: $(rss)"

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","tags":["a","b"],"n":1}'
wrk.headers["Content-Type"] = "application/json"
LUA
run() {
    local name="$1"; shift
    echo "== $name  (wrk -t2 -c$CONNECTIONS -d${DURATION}s)"
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" |
        grep -E "Requests/sec|Latency  |  50%|  99%|Non-2xx|Socket errors"
}
suite() {
    local url="$1" label="$2"
    run "$label GET /" "$url/"
    # GET /data before POST fills the collection: the contract returns every document, so
    # the size is fixed at 100 to measure the service, not the test database's scan speed.
    for i in $(seq 1 100); do
        curl -fs -o /dev/null -H 'Content-Type: application/json' -d "{\"seed\":$i}" "$url/data"
    done
    run "$label GET /data (100 documents)" "$url/data"
    run "$label POST /data" -s "$WORK/post.lua" "$url/data"
}
suite "$URL" "[reference]"
echo "RSS after load: $(rss)"
sleep 3
echo "RSS idle after load: $(rss)"
echo "warnings logged by the service: $(grep -c WARN "$WORK/app.log" || true)"

if [ "$WITH_FLASK" = 1 ]; then
    FLASK_VENV="${FLASK_VENV:-target/bench-flask-venv}"
    if [ ! -x "$FLASK_VENV/bin/gunicorn" ]; then
        python3 -m venv "$FLASK_VENV" && "$FLASK_VENV/bin/pip" install -q flask pymongo gunicorn
    fi
    FLASK_PORT="$(free_port)"
    MONGODB_URI="mongodb://127.0.0.1:$DB_PORT/?directConnection=true" MONGODB_DATABASE=flask \
        "$FLASK_VENV/bin/gunicorn" --chdir bench -w "$(nproc)" -b "127.0.0.1:$FLASK_PORT" \
        --log-level warning flask_baseline:app 2>"$WORK/flask.log" &
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$FLASK_PORT/health" >/dev/null 2>&1 && break; sleep 0.2; done
    suite "http://127.0.0.1:$FLASK_PORT" "[flask+pymongo]"
fi
