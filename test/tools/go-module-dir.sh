# Sourced by the CRD scripts: go_module_path NAME MODULE@VERSION PATH prints the path of PATH inside the
# module's directory in the Go module cache (downloading the module once), or says why it cannot.
go_module_path() {
  local name=$1 module=$2 path=$3 tmp json dir
  # Outside any module, so no go.mod around us changes what is downloaded.
  tmp=$(mktemp -d)
  json=$(cd "$tmp" && GOFLAGS= go mod download -json "$module")
  rm -rf "$tmp"
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  if [ -z "$dir" ] || [ ! -e "$dir/$path" ]; then
    echo "$name: $module did not provide $path:" >&2
    printf '%s\n' "$json" >&2
    return 1
  fi
  echo "$dir/$path"
}
