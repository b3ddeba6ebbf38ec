#!/usr/bin/env bash
# Builds the Helm CLI from its Go module (helm.sh/helm/v3 at the version pinned below) into
# <repo>/.cache/tools/helm-<version>/helm, once; a second run with the same pin only prints the path.
# Prints the path of the binary on the last line of stdout. HELM=<path> (read by test/support/helm.ts)
# skips this build and uses that binary instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export GOTOOLCHAIN=local

version=v3.22.0
need_minor=26  # Helm v3.22.0's go.mod: go 1.26.0

out="${TOOLS_CACHE:-$repo/.cache/tools}/helm-$version"
# Rebuilt when the pin (or this recipe) changes.
stamp="$version $(sha256sum "$here/build-helm.sh" | cut -c1-12)"
built() { [ -x "$out/helm" ] && [ "$(cat "$out/.built" 2>/dev/null)" = "$stamp" ]; }
if built; then
  echo "$out/helm"
  exit 0
fi

# shellcheck source=./require-go.sh
. "$here/require-go.sh"
require_go build-helm "$need_minor" "Helm $version for the chart tests" "Alternative: set HELM to the path of a Helm 3 binary."

# Test files run in parallel and each may ask for Helm: one builds, the others wait for it.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
if built; then
  echo "$out/helm"
  exit 0
fi
start=$(date +%s)
echo "build-helm: building Helm $version into $out (first time only, a few minutes)" >&2
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
export GOFLAGS=-buildvcs=false  # `go install pkg@version` builds with Helm's own go.mod, never -mod=mod
# As Helm's Makefile: stamp the version, and the Kubernetes version of its client libraries, which is
# what `helm template` and `helm lint` assume without --kube-version (unstamped: 1.20).
gomod=$(go mod download -json "helm.sh/helm/v3@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
k8s_minor=$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")
if [ -z "$k8s_minor" ]; then
  echo "build-helm: cannot read the k8s.io/client-go version from $gomod" >&2
  exit 1
fi
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
GOBIN="$out.tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version" >&2
echo "$stamp" > "$out.tmp/.built"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-helm: built in $(( $(date +%s) - start ))s" >&2
echo "$out/helm"
