#!/usr/bin/env bash
# Runs deploycheck against a throwaway kind cluster, locally and in CI (ci/github/e2e.yml).
#
#   ci/kind.sh [ACTION...]     ACTION: up | image | check | e2e | down   (default: up image check)
#
# Actions run in the order given and stop at the first failure, e.g. `ci/kind.sh up e2e check down`.
# `image` saves the app image (and the harness image, if built) with `docker save` and checks it
# with `deploycheck image` (reports $REPORTS/image-<name>.{json,xml,sarif}); no cluster needed.
#
# Environment:
#   CLUSTER          kind cluster name (default deploycheck; kube context is kind-$CLUSTER)
#   REPORTS          report directory, relative to the repository root (default reports)
#   KIND_NODE_IMAGE  node image for `kind create cluster --image` (default: kind's own default)
#   SKIP_BUILD=1     load an already-built deploycheck-app:0.1.0 instead of building it
#   PRELOAD_MONGO=1  pull mongo:7.0 on the host and kind-load it (saves a pull per fresh cluster)
#   PRELOAD_MONITORING=1  the same for the monitoring variant's images (Prometheus, Grafana)
#   BUILD_TIMEOUT, CHECK_TIMEOUT, E2E_TIMEOUT   upper bounds in seconds for the long phases
#
# Exit status: that of the failing phase; `check` passes the harness's through unchanged
# (0 pass, 1 a check failed, 2 usage/config/cluster unreachable); 2 for missing tools or an
# absent cluster; 124 when a phase hit its time limit.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTER="${CLUSTER:-deploycheck}"
CONTEXT="kind-${CLUSTER}"
REPORTS="${REPORTS:-reports}"
KIND_CONFIG="ci/kind-config.yaml"
# The dev overlay pins this exact tag with imagePullPolicy IfNotPresent, so it is not configurable.
APP_IMAGE="deploycheck-app:0.1.0"
# The harness image the in-cluster load workers run (the profiles' cluster.load_image).
HARNESS_IMAGE="deploycheck:0.1.0"
MONGO_IMAGE="mongo:7.0"
METRICS_SERVER_URL="https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.7.2/components.yaml"
METRICS_WAIT_SECONDS=90
BUILD_TIMEOUT="${BUILD_TIMEOUT:-900}"
CHECK_TIMEOUT="${CHECK_TIMEOUT:-1500}"
E2E_TIMEOUT="${E2E_TIMEOUT:-1800}"

log() { printf '%s [kind.sh] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  local code=$1
  shift
  log "ERROR: $*"
  exit "$code"
}

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/deploycheck-kind.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# GNU timeout is `gtimeout` on macOS with coreutils; without either, phases run unbounded
# rather than refusing to run at all on a developer machine.
if command -v timeout >/dev/null 2>&1; then
  TIMEOUT_BIN=timeout
elif command -v gtimeout >/dev/null 2>&1; then
  TIMEOUT_BIN=gtimeout
else
  TIMEOUT_BIN=""
  log "warning: neither timeout nor gtimeout found; phases are not time-bounded"
fi

# bounded SECONDS CMD...: run CMD, killing it after SECONDS (and hard after 30 s more).
bounded() {
  local secs=$1
  shift
  if [[ -n $TIMEOUT_BIN ]]; then
    "$TIMEOUT_BIN" -k 30 "$secs" "$@"
  else
    "$@"
  fi
}

# All kubectl calls name the context, so a user's current context is never the target.
kc() { kubectl --context "$CONTEXT" --request-timeout=30s "$@"; }

install_url() {
  case $1 in
    docker) echo "https://docs.docker.com/engine/install/" ;;
    kind) echo "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
    kubectl) echo "https://kubernetes.io/docs/tasks/tools/" ;;
    cargo) echo "https://rustup.rs/" ;;
    curl) echo "https://curl.se/download.html" ;;
    *) echo "your package manager" ;;
  esac
}

require() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]} > 0)); then
    for tool in "${missing[@]}"; do
      log "missing required tool: $tool (install: $(install_url "$tool"))"
    done
    die 2 "install the missing tool(s) above and re-run"
  fi
}

cluster_exists() {
  local clusters
  # Captured first: `kind get clusters | grep -q` can SIGPIPE kind and trip pipefail.
  clusters="$(bounded 30 kind get clusters 2>/dev/null)" || return 1
  grep -qxF "$CLUSTER" <<<"$clusters"
}

# Writes a kubeconfig holding only this cluster, so tools that follow the *current* context
# (the cucumber suite) cannot reach any other cluster whatever the user's kubeconfig says.
isolated_kubeconfig() {
  local path="$WORK/kubeconfig"
  cluster_exists || die 2 "kind cluster '$CLUSTER' not found; run 'ci/kind.sh up' first"
  bounded 30 kind get kubeconfig --name "$CLUSTER" >"$path"
  kubectl --kubeconfig "$path" --context "$CONTEXT" --request-timeout=10s get --raw /readyz >/dev/null 2>&1 ||
    die 2 "kind cluster '$CLUSTER' exists but its API server is not reachable (docker restarted? try 'ci/kind.sh down up')"
  echo "$path"
}

# Absolute because cargo runs integration tests from the package directory, not the root.
reports_dir() {
  mkdir -p "$REPORTS"
  (cd "$REPORTS" && pwd)
}

phase_up() {
  require docker kind kubectl curl
  bounded 30 docker info >/dev/null 2>&1 ||
    die 2 "docker is installed but its daemon is not reachable (is it running, and may this user use it?)"
  log "kind $(kind version 2>/dev/null || echo '?'); $(kubectl version --client 2>/dev/null | head -n1 || echo 'kubectl ?')"

  if cluster_exists; then
    log "cluster '$CLUSTER' already exists; reusing it"
  else
    local args=(create cluster --name "$CLUSTER" --config "$KIND_CONFIG" --wait 180s)
    if [[ -n ${KIND_NODE_IMAGE:-} ]]; then
      args+=(--image "$KIND_NODE_IMAGE")
    fi
    log "creating cluster '$CLUSTER'${KIND_NODE_IMAGE:+ with node image $KIND_NODE_IMAGE}"
    bounded 600 kind "${args[@]}"
  fi
  # Re-export in case the kubeconfig entry was lost while the cluster survived; this also
  # makes kind-$CLUSTER current, which `cargo test --features e2e` run by hand relies on.
  bounded 30 kind export kubeconfig --name "$CLUSTER" >/dev/null
  kubectl config use-context "$CONTEXT" >/dev/null
  bounded 200 kubectl --context "$CONTEXT" wait --for=condition=Ready nodes --all --timeout=180s

  log "installing metrics-server (the HPA scenario needs CPU metrics)"
  bounded 90 curl -fsSL --retry 3 --connect-timeout 10 --max-time 60 -o "$WORK/metrics-server.yaml" "$METRICS_SERVER_URL"
  kc apply -f "$WORK/metrics-server.yaml" >/dev/null
  # kind's kubelets serve self-signed certificates. Patch only when absent: a JSON-patch
  # append is not idempotent and a duplicate flag would force a needless rollout.
  local ms_args
  ms_args="$(kc -n kube-system get deployment metrics-server -o jsonpath='{.spec.template.spec.containers[0].args}')"
  if [[ $ms_args != *--kubelet-insecure-tls* ]]; then
    kc -n kube-system patch deployment metrics-server --type=json \
      -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]' >/dev/null
  fi
  bounded 200 kubectl --context "$CONTEXT" -n kube-system rollout status deployment/metrics-server --timeout=180s
  # A Ready metrics-server has not necessarily scraped yet; until it has, the HPA reports
  # <unknown> CPU and its scenario would fail for a reason unrelated to the app.
  local deadline=$((SECONDS + METRICS_WAIT_SECONDS))
  until kubectl --context "$CONTEXT" --request-timeout=10s top nodes >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die 1 "metrics-server serves no node metrics after ${METRICS_WAIT_SECONDS}s (see: kubectl --context $CONTEXT -n kube-system logs deployment/metrics-server)"
    fi
    sleep 5
  done
  log "metrics API is serving"

  if [[ ${SKIP_BUILD:-0} == 1 ]]; then
    bounded 30 docker image inspect "$APP_IMAGE" >/dev/null 2>&1 ||
      die 2 "SKIP_BUILD=1 but image $APP_IMAGE is not present locally; build it or unset SKIP_BUILD"
    log "SKIP_BUILD=1: using the existing $APP_IMAGE"
  else
    log "building $APP_IMAGE"
    bounded "$BUILD_TIMEOUT" docker build -f app/Dockerfile -t "$APP_IMAGE" .
  fi
  log "loading $APP_IMAGE into the cluster"
  bounded 300 kind load docker-image "$APP_IMAGE" --name "$CLUSTER"

  # Without it the HPA scenario falls back to port-forward load and says so.
  if [[ ${SKIP_BUILD:-0} == 1 ]] && bounded 30 docker image inspect "$HARNESS_IMAGE" >/dev/null 2>&1; then
    log "SKIP_BUILD=1: using the existing $HARNESS_IMAGE"
  else
    log "building $HARNESS_IMAGE"
    bounded "$BUILD_TIMEOUT" docker build -f harness/Dockerfile -t "$HARNESS_IMAGE" .
  fi
  log "loading $HARNESS_IMAGE into the cluster"
  bounded 300 kind load docker-image "$HARNESS_IMAGE" --name "$CLUSTER"

  if [[ ${PRELOAD_MONGO:-0} == 1 ]]; then
    preload "$MONGO_IMAGE"
  fi
  if [[ ${PRELOAD_MONITORING:-0} == 1 ]]; then
    # The images the monitoring variant names besides the app's (Prometheus, Grafana), read
    # from the rendered overlay so this list cannot drift from the manifests.
    local image
    for image in $(kubectl kustomize k8s/overlays/monitoring |
      sed -n 's/^ *image: *//p' | tr -d "\"'" | sort -u); do
      [[ $image == "$APP_IMAGE" || $image == "$MONGO_IMAGE" ]] || preload "$image"
    done
  fi
}

# Pulls IMAGE on the host and loads it into the cluster. Only an optimisation: on failure the
# node pulls the image itself.
preload() {
  log "preloading $1"
  if bounded 600 docker pull "$1" && bounded 300 kind load docker-image "$1" --name "$CLUSTER"; then
    log "$1 preloaded"
  else
    log "warning: could not preload $1; the cluster will pull it"
  fi
}

phase_check() {
  require kind kubectl cargo
  local kubeconfig reports rc=0
  kubeconfig="$(isolated_kubeconfig)"
  reports="$(reports_dir)"
  log "running deploycheck check against $CONTEXT (reports in $reports)"
  bounded "$CHECK_TIMEOUT" env KUBECONFIG="$kubeconfig" \
    cargo run --release -p deploycheck -- check \
    --context "$CONTEXT" \
    --deploy k8s/overlays/dev \
    --keep on-failure \
    --junit "$reports/check.xml" \
    --json "$reports/check.json" \
    --html "$reports/check.html" || rc=$?
  case $rc in
    0) log "check passed" ;;
    1) log "check FAILED: at least one check failed (namespace kept for inspection; see $reports/check.xml)" ;;
    2) log "check FAILED: usage, configuration or cluster-unreachable error" ;;
    124 | 137) log "check FAILED: timed out after ${CHECK_TIMEOUT}s" ;;
    *) log "check FAILED with exit status $rc" ;;
  esac
  exit_if_failed "$rc"
}

phase_image() {
  require docker cargo
  local reports image name tar rc worst=0
  reports="$(reports_dir)"
  for image in "$APP_IMAGE" "$HARNESS_IMAGE"; do
    if ! bounded 30 docker image inspect "$image" >/dev/null 2>&1; then
      [[ $image == "$APP_IMAGE" ]] && die 2 "image $APP_IMAGE is not present locally; run 'ci/kind.sh up' first"
      log "no $image here; its image check is skipped"
      continue
    fi
    name="${image%%:*}"
    tar="$WORK/$name.tar"
    log "checking $image as a file: docker save, then deploycheck image (reports $reports/image-$name.*)"
    bounded 300 docker save "$image" -o "$tar"
    rc=0
    bounded "$CHECK_TIMEOUT" cargo run --release -q -p deploycheck -- image "$tar" \
      --json "$reports/image-$name.json" \
      --junit "$reports/image-$name.xml" \
      --sarif "$reports/image-$name.sarif" || rc=$?
    rm -f "$tar"
    case $rc in
      0) log "image $image passed" ;;
      1) log "image $image FAILED: a finding at error level (see $reports/image-$name.json)" ;;
      *) log "image $image: not checked (exit status $rc)" ;;
    esac
    ((rc > worst)) && worst=$rc
  done
  exit_if_failed "$worst"
}

phase_e2e() {
  require kind kubectl cargo
  local kubeconfig reports rc=0
  kubeconfig="$(isolated_kubeconfig)"
  reports="$(reports_dir)"
  log "running the cucumber suite (incl. @cluster) against $CONTEXT (reports in $reports)"
  bounded "$E2E_TIMEOUT" env KUBECONFIG="$kubeconfig" DEPLOYCHECK_REPORTS="$reports" \
    cargo test -p deploycheck --features e2e --test features || rc=$?
  case $rc in
    0) log "e2e passed" ;;
    124 | 137) log "e2e FAILED: timed out after ${E2E_TIMEOUT}s" ;;
    *) log "e2e FAILED with exit status $rc (see $reports/cluster.xml, cluster.json, cluster.html)" ;;
  esac
  exit_if_failed "$rc"
}

phase_down() {
  require kind
  log "deleting cluster '$CLUSTER'"
  bounded 300 kind delete cluster --name "$CLUSTER"
}

exit_if_failed() {
  if (($1 != 0)); then
    exit "$1"
  fi
}

main() {
  local actions=("$@") action start
  if ((${#actions[@]} == 0)); then
    actions=(up image check)
  fi
  for action in "${actions[@]}"; do
    case $action in
      up | image | check | e2e | down) ;;
      -h | --help | help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        die 2 "unknown action '$action'"
        ;;
    esac
  done
  for action in "${actions[@]}"; do
    start=$SECONDS
    log "==> $action (cluster $CLUSTER, context $CONTEXT)"
    "phase_$action"
    log "<== $action done in $((SECONDS - start))s"
  done
}

main "$@"
