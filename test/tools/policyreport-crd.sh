#!/usr/bin/env bash
# Prints the path of the upstream PolicyReport CRD (wgpolicyk8s.io/v1alpha2) for the integration tests,
# read from the Go module cache; the CRD is never copied into this repository.
#
# The CRD's home, sigs.k8s.io/wg-policy-prototypes (policy-report/crd/v1alpha2/), is not served by the Go
# module proxy, so it comes from Kyverno's module, which ships the same v1alpha2 CRD that Kyverno and
# Policy Reporter install: github.com/kyverno/kyverno at the version pinned below,
# config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml. One download (~11 MB) into the module cache.
#
# POLICYREPORT_CRD=<path to the CRD file> skips the download and prints that path.
set -euo pipefail
export GOTOOLCHAIN=local

module=github.com/kyverno/kyverno
version=v1.19.1
file=config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml

if [ -n "${POLICYREPORT_CRD:-}" ]; then
  [ -f "$POLICYREPORT_CRD" ] || { echo "policyreport-crd: POLICYREPORT_CRD=$POLICYREPORT_CRD does not exist" >&2; exit 1; }
  echo "$POLICYREPORT_CRD"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "policyreport-crd: Go is needed to fetch the PolicyReport CRD from $module@$version." >&2
  echo "  Alternative: set POLICYREPORT_CRD to the path of wgpolicyk8s.io_policyreports.yaml (v1alpha2)." >&2
  exit 3
fi

# shellcheck source=go-module-dir.sh
. "$(dirname "$0")/go-module-dir.sh"
go_module_path policyreport-crd "$module@$version" "$file"
