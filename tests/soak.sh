#!/usr/bin/env bash
# The full soak: 5 minutes at 200 RPC/s, half over gRPC and half as gRPC-web through the gateway,
# LiteLLM faults on 5 % of calls. Prints its figures, writes them as markdown to
# target/soak-last.md (for docs/RELIABILITY.md) and exits non-zero when a check fails. Extra arguments go to the soak (e.g. --duration-secs 60).
# Needs PostgreSQL as the tests do (tests/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -p budget-e2e --bin soak -- \
    --duration-secs 300 --rps 200 --markdown-out target/soak-last.md "$@"
