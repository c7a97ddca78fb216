#!/usr/bin/env bash
# Prints the path of golangci-lint, building it once into ~/.cache/canarygate/bin from the Go module proxy
# (a pinned version; not a go.mod tool: its dependency graph would pull on canarygate's).
set -euo pipefail
version=v2.15.0
bin="${CANARYGATE_CACHE:-$HOME/.cache/canarygate}/bin"
exe="$bin/golangci-lint-$version"
if [ ! -x "$exe" ]; then
  mkdir -p "$bin"
  echo "golangci-lint: building $version (once, about 2 min cold)" >&2
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version" >&2
  mv "$tmp/golangci-lint" "$exe"
  rmdir "$tmp"
fi
echo "$exe"
