#!/usr/bin/env bash
# Installs and starts what the test suite needs, and does nothing that is already done:
# PostgreSQL on 127.0.0.1:5432, Debian's Chromium for the browser tests, cargo-nextest,
# and the npm packages of the dashboard and the browser tests (from their lock files).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*"; }

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    log "PostgreSQL is down; starting it"
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi

if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

for dir in gateway/web tests/browser; do
    if [ -f "$dir/package-lock.json" ]; then
        stamp="$dir/node_modules/.package-lock.json"
        if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
            log "npm ci in $dir"
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        fi
    fi
done
log "ready"
