#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go modules pinned in this folder's go.mod
# into <repo>/.cache/controlplane/<k8s version>/, once; a second run with the same pins
# only prints the folder. Prints the folder on the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export GOFLAGS=-mod=mod

# shellcheck source=../tools/require-go.sh
. "$repo/test/tools/require-go.sh"
require_go controlplane 25 "kube-apiserver 1.35 and etcd for the tests" \
  "Alternatives: set KUBEBUILDER_ASSETS to a folder holding kube-apiserver and etcd, or USE_EXISTING_CLUSTER=true with KUBECONFIG pointing at a cluster."

cd "$here"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
pins=$(sha256sum go.mod go.sum | sha256sum | cut -c1-12)
out="${CONTROLPLANE_CACHE:-$repo/.cache/controlplane}/$version"
if [ -f "$out/.built" ] && [ "$(cat "$out/.built")" = "$pins" ] \
   && [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"
minor=$(echo "$version" | cut -d. -f2)
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp="$stamp -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
start=$(date +%s)
echo "controlplane: building kube-apiserver $version and etcd into $out (first time only, several minutes)" >&2
go build -trimpath -ldflags "-s -w $stamp" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
mv "$out/etcd.tmp" "$out/etcd"
echo "$pins" > "$out/.built"
echo "controlplane: built in $(( $(date +%s) - start ))s" >&2
echo "$out"
