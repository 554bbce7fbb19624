#!/usr/bin/env bash
# The alerting rules in deploy/monitoring hold: `promtool check rules` (they parse, their
# templates too), `promtool test rules` (each alert fires, and stays quiet, where
# rules.test.yaml says), prometheusrule.yaml is exactly rules.yaml wrapped in a
# PrometheusRule, and every query of dashboard.json is valid PromQL (checked as recording
# rules, Grafana's variables replaced). Which metric names they use is tests/tests/monitoring.rs'
# business: it compares them with what the binaries export. promtool is Debian's `prometheus` package (tests/setup.sh installs it).
#   bash tests/monitoring-check.sh           check
#   bash tests/monitoring-check.sh --write   regenerate prometheusrule.yaml from rules.yaml
set -euo pipefail
cd "$(dirname "$0")/.."

dir=deploy/monitoring

# The PrometheusRule: a fixed head, then rules.yaml from `groups:` on, as its spec.
generate() {
    cat <<'HEAD'
# Generated from rules.yaml by `bash tests/monitoring-check.sh --write`: edit rules.yaml, not
# this file (the test command fails when they differ).
# Prometheus Operator picks PrometheusRules by its ruleSelector: add the label yours selects
# (kube-prometheus-stack: `release: <its release name>`), e.g. in a kustomize overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: budget
  labels:
    app.kubernetes.io/part-of: llm-budget
spec:
HEAD
    sed -n '/^groups:/,$p' "$dir/rules.yaml" | sed 's/^\(.\)/  \1/'
}

if [ "${1:-}" = --write ]; then
    generate >"$dir/prometheusrule.yaml"
    echo "wrote $dir/prometheusrule.yaml"
    exit 0
fi

command -v promtool >/dev/null || { echo "promtool is missing: run tests/setup.sh (Debian's prometheus package)" >&2; exit 1; }
promtool check rules "$dir/rules.yaml"
promtool test rules "$dir/rules.test.yaml"

# Grafana's $variables are not PromQL: put in what they stand for.
queries="$(mktemp)"
trap 'rm -f "$queries"' EXIT
python3 - "$dir/dashboard.json" >"$queries" <<'PY'
import json, sys
panels = json.load(open(sys.argv[1]))["panels"]
exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
print("groups:\n  - name: dashboard\n    rules:")
for i, expr in enumerate(exprs):
    expr = expr.replace("$__rate_interval", "5m").replace("$namespace", ".*")
    print(f"      - record: dashboard:query{i}\n        expr: {json.dumps(expr)}")
PY
echo "dashboard.json queries:"
promtool check rules "$queries"

echo "prometheusrule.yaml matches rules.yaml"
if ! diff -u "$dir/prometheusrule.yaml" <(generate); then
    echo "$dir/prometheusrule.yaml is stale: run bash tests/monitoring-check.sh --write" >&2
    exit 1
fi
