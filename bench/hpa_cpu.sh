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
# shellcheck source=bench/stack.sh
. bench/stack.sh
require_wrk
start_stack bench
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
