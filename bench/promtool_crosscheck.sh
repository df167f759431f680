#!/usr/bin/env bash
# Runs `promtool check metrics` (Debian's prometheus package; PROMTOOL=path to use another) on
# every broken exposition of harness/tests/fixtures/metrics/broken.toml and on the good ones,
# printing the DM rule each case expects beside what promtool says: how deploycheck's metrics
# rules line up with promtool's. Needs python3 (3.11+, tomllib) and apt-get download.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${PROMTOOL:-}" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download prometheus >/dev/null && dpkg -x prometheus_*.deb root)
  PROMTOOL=$work/root/usr/bin/promtool
fi
"$PROMTOOL" --version 2>&1 | head -1
cd "$repo/harness/tests/fixtures/metrics"
PROMTOOL=$PROMTOOL python3 - <<'PY'
import os, subprocess, tomllib
promtool = os.environ["PROMTOOL"]
def check(text):
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    return r.returncode, (r.stdout + r.stderr).decode().strip().replace("\n", " | ")
for case in tomllib.load(open("broken.toml", "rb"))["case"]:
    text = open(case.get("file", "good.prom")).read().replace(case["replace"], case["with"])
    rc, said = check(text)
    print(f"{','.join(case['expect']):6} promtool rc={rc}  {case['what'][:50]:50}  {said[:120]}")
for good in ("good.prom", "good.openmetrics"):
    rc, said = check(open(good).read())
    print(f"{good}: promtool rc={rc}  {said[:160]}")
PY
