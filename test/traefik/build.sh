#!/usr/bin/env bash
# Builds Traefik from the Go module pinned in this folder's go.mod into
# <repo>/.cache/traefik/<traefik version>/traefik, once; a second run with the same pins only prints
# the folder. Prints the folder on the last line of stdout (messages go to stderr).
# TRAEFIK_CACHE overrides <repo>/.cache/traefik.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export GOFLAGS=-mod=mod

# shellcheck source=../tools/require-go.sh
. "$repo/test/tools/require-go.sh"
require_go traefik 25 "Traefik v3.6 for the Traefik traffic tests" "Alternative: set TRAEFIK_BIN to an existing traefik v3 binary."

cd "$here"
version=$(go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)
pins=$(sha256sum go.mod go.sum | sha256sum | cut -c1-12)
out="${TRAEFIK_CACHE:-$repo/.cache/traefik}/$version"
if [ -f "$out/.built" ] && [ "$(cat "$out/.built")" = "$pins" ] && [ -x "$out/traefik" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"
start=$(date +%s)
echo "traefik: building Traefik $version into $out (first time only, several minutes)" >&2
pkg=github.com/traefik/traefik/v3/pkg/version
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X $pkg.Version=$version -X $pkg.Codename=apisec-test -X $pkg.BuildDate=unknown" \
  -o "$out/traefik.tmp" github.com/traefik/traefik/v3/cmd/traefik >&2
mv "$out/traefik.tmp" "$out/traefik"
echo "$pins" > "$out/.built"
echo "traefik: built in $(( $(date +%s) - start ))s" >&2
echo "$out"
