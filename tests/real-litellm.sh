#!/usr/bin/env bash
# The real LiteLLM proxy (1.108.7, PostgreSQL-backed virtual keys, ../shared/tools/real-litellm)
# for one test run: its own free ports and database, budget alerts POSTed to a port the webhook
# test serves, and stopped by PID when the run ends, also on failure.
#
#   bash tests/real-litellm.sh            start a proxy, run just the real-proxy tests, stop it
#   source tests/real-litellm.sh          (tests/run.sh) gives real_litellm_start (in the
#                                         background), real_litellm_wait and real_litellm_stop
#
# real_litellm_wait exports what tests/src/real_proxy.rs reads: LITELLM_E2E_URL,
# LITELLM_E2E_MASTER_KEY, LITELLM_E2E_MODEL, LITELLM_E2E_WEBHOOK_ADDR,
# LITELLM_E2E_WEBHOOK_SECRET, LITELLM_E2E_DATABASE_URL and LITELLM_E2E_REQUIRED=1.

REAL_LITELLM_TOOL="${REAL_LITELLM_TOOL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/tools/real-litellm}"
REAL_LITELLM_RUN_DIR="${REAL_LITELLM_RUN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/real-litellm}"

_real_litellm_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the proxy in the background; its progress goes to $REAL_LITELLM_RUN_DIR/start.log.
real_litellm_start() {
    mkdir -p "$REAL_LITELLM_RUN_DIR"
    REAL_LITELLM_PORT_CHOSEN="$(_real_litellm_free_port)"
    REAL_LITELLM_WEBHOOK_PORT="$(_real_litellm_free_port)"
    REAL_LITELLM_WEBHOOK_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    REAL_LITELLM_DB_CHOSEN="budget_real_litellm_${REAL_LITELLM_PORT_CHOSEN}"
    REAL_LITELLM_ENV="$REAL_LITELLM_RUN_DIR/port-$REAL_LITELLM_PORT_CHOSEN.env"
    echo "[real-litellm] starting LiteLLM 1.108.7 on 127.0.0.1:$REAL_LITELLM_PORT_CHOSEN (log: $REAL_LITELLM_RUN_DIR/start.log)"
    # nice: the proxy's start (migrations) overlaps the build; the build comes first.
    nice -n 5 "$REAL_LITELLM_TOOL/start" \
        --port "$REAL_LITELLM_PORT_CHOSEN" \
        --db "$REAL_LITELLM_DB_CHOSEN" \
        --env-file "$REAL_LITELLM_ENV" \
        --webhook-url "http://127.0.0.1:$REAL_LITELLM_WEBHOOK_PORT/hooks/litellm/$REAL_LITELLM_WEBHOOK_SECRET" \
        >"$REAL_LITELLM_RUN_DIR/start.out" 2>"$REAL_LITELLM_RUN_DIR/start.log" &
    REAL_LITELLM_START_PID=$!
}

# Waits for the start and exports the variables the tests read; fails if it did not start.
real_litellm_wait() {
    if ! wait "$REAL_LITELLM_START_PID"; then
        REAL_LITELLM_START_PID=
        echo "[real-litellm] the proxy did not start:" >&2
        tail -n 30 "$REAL_LITELLM_RUN_DIR/start.log" >&2
        return 1
    fi
    REAL_LITELLM_START_PID=
    # shellcheck disable=SC1090
    source "$REAL_LITELLM_ENV"
    export LITELLM_E2E_URL="$LITELLM_BASE_URL"
    export LITELLM_E2E_MASTER_KEY="$LITELLM_MASTER_KEY"
    export LITELLM_E2E_MODEL=fake-gpt
    export LITELLM_E2E_WEBHOOK_ADDR="127.0.0.1:$REAL_LITELLM_WEBHOOK_PORT"
    export LITELLM_E2E_WEBHOOK_SECRET="$REAL_LITELLM_WEBHOOK_SECRET"
    export LITELLM_E2E_DATABASE_URL="$LITELLM_DATABASE_URL"
    export LITELLM_E2E_REQUIRED=1
    echo "[real-litellm] ready: $(cat "$REAL_LITELLM_RUN_DIR/start.out")"
}

# Stops the proxy by the PIDs its start recorded and drops its database. Safe to call twice
# and while the start is still running (it waits for the start first).
real_litellm_stop() {
    if [ -n "${REAL_LITELLM_START_PID:-}" ]; then
        wait "$REAL_LITELLM_START_PID" 2>/dev/null || true
        REAL_LITELLM_START_PID=
    fi
    if [ -n "${REAL_LITELLM_ENV:-}" ] && [ -f "$REAL_LITELLM_ENV" ]; then
        "$REAL_LITELLM_TOOL/stop" --env-file "$REAL_LITELLM_ENV" --drop-db >/dev/null 2>&1 \
            || echo "[real-litellm] stop failed; see $REAL_LITELLM_RUN_DIR" >&2
        rm -f "$REAL_LITELLM_ENV"
    fi
}

# The real-proxy tests alone: the product's paths through budget-service, the differential
# test holding litellm-sim to the proxy, and the conformance checker against the proxy.
real_litellm_tests() {
    cargo nextest run --locked -p budget-e2e --test real_litellm --test litellm_differential --no-fail-fast
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cd "$(dirname "$0")/.."
    real_litellm_start
    trap real_litellm_stop EXIT
    cargo build --locked -p budget-e2e --tests
    real_litellm_wait
    real_litellm_tests
fi
