#!/usr/bin/env bash
# How much CPU the reference service, and its database, spend per request on each HPA load
# path, to choose the HPA scenario's load: an HPA at 70% of a 200m request needs 140 millicores
# per app pod, and a path whose cost lands on the database saturates the database first (on a
# real cluster GET /data over 2000 documents held the SecantusDB pod at 935m of its 1 CPU limit
# while the app sat at 13% of its requests).
# For each path: one bounded wrk run on 127.0.0.1, and the CPU time (utime + stime from
# /proc/PID/stat) of the app process and of the database process before and after it.
# Usage: bench/hpa_cpu.sh [documents (default 2000)] [seconds (default 10)] [connections (default 16)]
# Needs wrk and Python 3; every request goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS="${1:-2000}"
DURATION="${2:-10}"
CONNECTIONS="${3:-16}"
# shellcheck source=bench/stack.sh
. bench/stack.sh
require_wrk
start_stack bench
# The database is the background job of this shell that runs secantusd.
DB_PID=""
for pid in $(jobs -p); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q secantusd; then DB_PID="$pid"; fi
done
[ -n "$DB_PID" ] || { echo "bench: cannot find the database process" >&2; exit 1; }
python3 - "$URL" "$DOCS" <<'PY'
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
present = len(json.load(urllib.request.urlopen(url + "/data")))
for i in range(present, n):
    req = urllib.request.Request(url + "/data", data=json.dumps({"deploycheck_load": i}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
PY
# utime + stime of a process and of its children it waited for, in clock ticks; the fields
# count from after the command name, which may hold spaces.
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }
HZ="$(getconf CLK_TCK)"
echo "GET paths over $DOCS documents, wrk -t2 -c$CONNECTIONS -d${DURATION}s each, CPU per 1000 requests:"
for path in "/" "/data"; do
    app_before="$(ticks "$APP_PID")"
    db_before="$(ticks "$DB_PID")"
    out="$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$URL$path")"
    app_after="$(ticks "$APP_PID")"
    db_after="$(ticks "$DB_PID")"
    requests="$(echo "$out" | awk '/requests in/ {print $1}')"
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    latency="$(echo "$out" | awk '$1 == "Latency" {print $2}')"
    python3 -c "
hz, req, rps = $HZ, $requests, float('$rps')
app = ($app_after - $app_before) / hz
db = ($db_after - $db_before) / hz
per_app, per_db = app / req * 1000, db / req * 1000
pod = 140 / per_app if per_app else float('inf')
print(f'GET {\"$path\":<6} {req} requests, {rps:.0f} req/s, mean latency $latency; '
      f'app {per_app:.3f} s, database {per_db:.3f} s per 1000 requests '
      f'(app {app:.1f} s, database {db:.1f} s in all); '
      f'{pod:.0f} req/s per app pod for 140m')"
done
