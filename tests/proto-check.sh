#!/usr/bin/env bash
# The public API stays tidy and compatible: `buf lint` (STANDARD, see proto/buf.yaml),
# `buf format` (no diff) and `buf breaking` against the proto of the last commit on main,
# so a change that would break existing clients fails the test command. buf is the
# dashboard's npm dev dependency (tests/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

buf=gateway/web/node_modules/.bin/buf
[ -x "$buf" ] || { echo "buf is missing: run tests/setup.sh (npm ci in gateway/web)" >&2; exit 1; }

commit() { git rev-parse --verify --quiet "$1^{commit}" 2>/dev/null; }

# What to compare with: main's last commit (the local branch, else origin's). When this
# checkout is main itself (CI's clean clone), its previous commit, so the last change to
# main is what gets checked. In a shallow clone without either, HEAD.
against="$(commit main || commit origin/main || commit HEAD || true)"
if [ "$against" = "$(commit HEAD)" ]; then
    against="$(commit HEAD~1 || echo "$against")"
fi

echo "buf lint"
"$buf" lint proto
echo "buf format"
"$buf" format -d --exit-code proto
if [ -z "$against" ]; then
    # A source archive has no history to be compatible with.
    echo "buf breaking: not a git checkout, nothing to compare with"
    exit 0
fi
echo "buf breaking against ${against:0:12}"
# One change buf's FILE rules flag is compatible: marking a method that had no idempotency
# level NO_SIDE_EFFECTS. Existing clients keep calling it with POST; Connect clients may now
# also use GET. The reverse (dropping or changing a level) still fails, as GET callers break.
widened='changed option "idempotency_level" from "IDEMPOTENCY_UNKNOWN" to "NO_SIDE_EFFECTS"'
if ! report="$("$buf" breaking proto --against ".git#ref=$against,subdir=proto" 2>&1)"; then
    rest="$(printf '%s\n' "$report" | grep -vF "$widened" || true)"
    if [ -n "$rest" ]; then
        printf '%s\n' "$report"
        exit 1
    fi
    echo "methods newly marked NO_SIDE_EFFECTS (compatible):"
    printf '%s\n' "$report"
fi
