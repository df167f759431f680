# shellcheck shell=bash
# Sourced by the bench scripts: the release reference service on a fresh SecantusDB, both on
# loopback. `start_stack DATABASE` sets URL, DB_PORT, APP_PID and WORK (a temporary directory);
# everything the script started in the background, and WORK, go when it exits.

require_wrk() {
    command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop_stack() {
    # shellcheck disable=SC2046  # one PID a word
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

start_stack() {
    local database="$1"
    cargo build --release -q -p deploycheck-app
    local venv="${DEVDB_VENV:-target/devdb-venv}"
    if [ ! -x "$venv/bin/secantusd-py" ]; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q "SecantusDB==0.7.0b3"
    fi
    WORK="$(mktemp -d)"
    trap stop_stack EXIT INT TERM
    DB_PORT="$(free_port)"
    local app_port
    app_port="$(free_port)"
    "$venv/bin/secantusd-py" --host 127.0.0.1 --port "$DB_PORT" --storage-path "$WORK/db" \
        --standalone --log-level WARNING >"$WORK/db.log" 2>&1 &
    MONGODB_URI="mongodb://127.0.0.1:$DB_PORT/?directConnection=true" MONGODB_DATABASE="$database" \
        PORT="$app_port" BIND_ADDR=127.0.0.1 RUST_LOG=warn LOG_FORMAT=json \
        "${CARGO_TARGET_DIR:-target}/release/deploycheck-app" 2>"$WORK/app.log" &
    # shellcheck disable=SC2034  # read by the scripts that source this one
    APP_PID=$!
    URL="http://127.0.0.1:$app_port"
    for _ in $(seq 1 300); do
        curl -fs "$URL/ready" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -fs "$URL/ready" >/dev/null || { echo "bench: the service never became ready" >&2; exit 1; }
}
