#!/usr/bin/env bash
# Prints two directories for the integration tests, one per line: the Gateway API CRDs (standard
# channel) and Envoy Gateway's CRDs, both read from the Go module cache; never copied into this
# repository. Modules and paths:
#   sigs.k8s.io/gateway-api        config/crd/standard/
#   github.com/envoyproxy/gateway  charts/gateway-helm/charts/crds/crds/generated/
# One download each into the module cache (~2 MB and ~40 MB) the first time.
#
# GATEWAY_API_CRDS=<dir> and ENVOY_GATEWAY_CRDS=<dir> skip the download of that module.
set -euo pipefail
export GOTOOLCHAIN=local

gateway_api=sigs.k8s.io/gateway-api@v1.6.3
envoy_gateway=github.com/envoyproxy/gateway@v1.9.0

# shellcheck source=go-module-dir.sh
. "$(dirname "$0")/go-module-dir.sh"
module_dir() {
  if ! command -v go >/dev/null 2>&1; then
    echo "gateway-crds: Go is needed to fetch $1 (or set GATEWAY_API_CRDS and ENVOY_GATEWAY_CRDS)." >&2
    exit 3
  fi
  go_module_path gateway-crds "$1" "$2" || exit 1
}

for var in GATEWAY_API_CRDS ENVOY_GATEWAY_CRDS; do
  if [ -n "${!var:-}" ] && [ ! -d "${!var}" ]; then echo "gateway-crds: $var=${!var} is not a directory" >&2; exit 1; fi
done
# Assignments, so that a failed download stops the script (set -e) instead of printing an empty line.
api=${GATEWAY_API_CRDS:-}
[ -n "$api" ] || api=$(module_dir "$gateway_api" config/crd/standard)
envoy=${ENVOY_GATEWAY_CRDS:-}
[ -n "$envoy" ] || envoy=$(module_dir "$envoy_gateway" charts/gateway-helm/charts/crds/crds/generated)
echo "$api"
echo "$envoy"
