# Sourced by the build scripts: require_go <label> <minor> <what> <alternatives>
# fails with exit 3 and one message naming the requirement and the alternatives when Go is missing or
# older than 1.<minor>. Always with GOTOOLCHAIN=local, so a mismatch never downloads a toolchain.
export GOTOOLCHAIN=local
require_go() {
  local label=$1 minor=$2 what=$3 alternatives=$4 have
  if ! command -v go >/dev/null 2>&1; then
    echo "$label: Go >= 1.$minor is needed to build $what." >&2
    echo "  $alternatives" >&2
    exit 3
  fi
  have=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
  if [ "$have" -lt "$minor" ]; then
    echo "$label: found $(go env GOVERSION), but Go >= 1.$minor is needed to build $what." >&2
    echo "  $alternatives" >&2
    exit 3
  fi
}
