#!/usr/bin/env bash
# Measures `deploycheck image` on a generated `docker save` tarball (default 520 MiB in 12
# layers: many small files, large incompressible ones, overwrites and whiteouts) against GNU
# tar reading the same tarball: wall time and peak RSS from /usr/bin/time -v, best of RUNS.
#
#   bench/image.sh [MiB (default 520)] [layers (default 12)]
#
# Baselines:
#   tar tvf x2        `tar tvf image.tar` twice: the archive's own listing (GNU tar seeks over
#                     member data on a regular file, so this reads only the headers)
#   tar tvf x2 piped  `tar tvf - < image.tar` twice: the same listing, every byte read, twice
#   tar every layer   what a script needs for the same per-file view: for each layer,
#                     `tar -xOf image.tar LAYER | tar -tv[z]f -`
# Environment: RUNS (default 3); BENCH_GZIP=1 also measures the image with gzip layers
# (docker 25+ on the containerd store keeps registry blobs compressed).
# The images are written under target/bench-image/ one at a time and deleted at the end; disk
# use peaks at about the image size plus one layer. The page cache is warmed before timing.
set -euo pipefail
cd "$(dirname "$0")/.."

MIB="${1:-520}"
LAYERS="${2:-12}"
RUNS="${RUNS:-3}"
DIR=target/bench-image
BIN=target/release/deploycheck
GEN=target/release/examples/gen_image

[[ -x /usr/bin/time ]] || { echo "bench/image.sh: needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 2; }
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT

echo "building (release) ..." >&2
cargo build --release -q -p deploycheck --bin deploycheck --example gen_image

# measure LABEL CMD...: best wall time and the largest peak RSS over RUNS runs.
measure() {
  local label=$1 best="" rss=0 run secs kb
  shift
  for ((run = 0; run < RUNS; run++)); do
    /usr/bin/time -v -o "$DIR/time" "$@" >/dev/null 2>"$DIR/stderr" || {
      local rc=$?
      # deploycheck exits 1 when it has findings; anything else is a broken run.
      if ((rc != 1)) || [[ $1 != "$BIN" ]]; then
        echo "bench/image.sh: '$label' failed ($rc): $(head -c 300 "$DIR/stderr")" >&2
        exit 1
      fi
    }
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {
      n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$DIR/time")
    kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/time")
    if [[ -z $best ]] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best=$secs
    fi
    ((kb > rss)) && rss=$kb
  done
  printf '  %-22s %8.2f s  %7.1f MiB peak RSS\n' "$label" "$best" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
}

bench() {
  local image=$1 untar=$2
  local -a layers
  echo "== $(du -m "$image" | cut -f1) MiB on disk, $LAYERS layers ($3); best of $RUNS"
  cat "$image" >/dev/null
  mapfile -t layers < <(tar tf "$image" | grep 'layer.tar$')
  measure "deploycheck image" "$BIN" image "$image" --format json
  # shellcheck disable=SC2016 # expanded by the inner bash
  measure "tar tvf x2" bash -c 'tar tvf "$1" >/dev/null && tar tvf "$1" >/dev/null' _ "$image"
  # shellcheck disable=SC2016 # expanded by the inner bash
  measure "tar tvf x2 piped" bash -c 'tar tvf - <"$1" >/dev/null && tar tvf - <"$1" >/dev/null' _ "$image"
  # shellcheck disable=SC2016 # expanded by the inner bash
  measure "tar every layer" bash -c 'image=$1 untar=$2; shift 2
    for layer in "$@"; do tar -xOf "$image" "$layer" | tar "$untar" - >/dev/null; done' \
    _ "$image" "$untar" "${layers[@]}"
  "$BIN" image "$image" >"$DIR/report.txt" || true
  grep -E '^efficiency|^dive-ci' "$DIR/report.txt" | sed 's/^/  /'
}

echo "generating ${MIB} MiB in ${LAYERS} uncompressed layers ..." >&2
"$GEN" "$DIR/plain.tar" "$MIB" "$LAYERS"
bench "$DIR/plain.tar" -tvf "uncompressed layers, as docker save writes them"
rm -f "$DIR/plain.tar"

if [[ ${BENCH_GZIP:-0} == 1 ]]; then
  echo "generating ${MIB} MiB in ${LAYERS} gzip layers ..." >&2
  "$GEN" "$DIR/gzip.tar" "$MIB" "$LAYERS" --gzip
  bench "$DIR/gzip.tar" -tvzf "gzip layers"
fi
