#!/usr/bin/env bash
# The project's whole test suite (the README's test command; .ci/run calls it):
# formatting and lints, the proto's lint, format and compatibility with main's, deploy/'s
# manifests, Dockerfile and compose file through their validators, every Rust
# unit and integration test (real PostgreSQL, real gRPC sockets, litellm-sim, the LiteLLM
# conformance checker), the real-proxy suite and the differential test against the real
# LiteLLM proxy 1.108.7 (started here, on its own ports and database, stopped on exit), the
# alerting rules and dashboard queries in deploy/monitoring (promtool), the dashboard's unit
# tests and bundle freshness, the browser tests in headless Chromium, and the API through
# clients nobody here wrote (connect-node, buf curl).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${BUDGET_TEST_SETUP_DONE:-}" = 1 ] || bash tests/setup.sh

# The real proxy starts (about 40 s) while fmt, clippy and the build run.
source tests/real-litellm.sh
real_litellm_start
trap real_litellm_stop EXIT
trap 'exit 130' INT TERM

echo "== cargo fmt"
cargo fmt --all --check
echo "== proto: buf lint, format and breaking against main"
bash tests/proto-check.sh
echo "== deploy: kubernetes-validate, hadolint, checkov, compose schema"
bash tests/deploy-check.sh
echo "== monitoring: promtool check and test rules, dashboard queries"
bash tests/monitoring-check.sh
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== real LiteLLM proxy"
real_litellm_wait
echo "== cargo nextest (unit, integration, conformance, real proxy)"
cargo nextest run --workspace --locked --no-fail-fast
real_litellm_stop
echo "== dashboard: unit tests and committed bundle is fresh"
(cd gateway/web && npm test --silent && npm run --silent check-bundle)
if [ -d tests/browser ]; then
    echo "== browser tests (headless Chromium)"
    cargo build --locked -p budget-e2e --bin e2e-stack -p budget-gateway --bin budget-gateway
    (cd tests/browser && node --test --test-concurrency=1 ./*.test.mjs)
    echo "== API clients (connect-node, buf curl) against the same e2e-stack binary"
    (cd tests/api && npm test --silent)
fi
