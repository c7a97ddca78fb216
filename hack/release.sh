#!/usr/bin/env bash
# Release binaries into dist/ (`make release`): canarygate built static (CGO_ENABLED=0: it runs on any Linux
# or macOS of its architecture, no libc to match) and -trimpath (no build machine's paths in the binary, the
# same bytes from any checkout) for linux and darwin × amd64 and arm64; one tar.gz per platform (the binary,
# README.md) and SHA256SUMS over them. Archives are reproducible: entries sorted, owned by 0, dated at the
# commit, gzip without a timestamp.
#   VERSION  the version the binary reports (default: git describe, as make build)
#   TARGETS  space-separated GOOS/GOARCH pairs (default: the four above)
#   DIST     output directory (default: dist; emptied first)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
TARGETS="${TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
DIST="${DIST:-dist}"
GO="${GO:-go}"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
tar_flags=()
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch")
fi

rm -rf "$DIST"
mkdir -p "$DIST"
n=0 total=$(wc -w <<<"$TARGETS")
for target in $TARGETS; do
  n=$((n + 1))
  os="${target%/*}" arch="${target#*/}"
  name="canarygate_${VERSION}_${os}_${arch}"
  echo "[$n/$total] $os/$arch" >&2
  mkdir -p "$DIST/$name"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/canarygate/canarygate/internal/version.Version=$VERSION" \
    -o "$DIST/$name/canarygate" ./cmd/canarygate
  cp README.md "$DIST/$name/"
  tar "${tar_flags[@]}" -C "$DIST" -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz"
  rm -rf "${DIST:?}/$name"
done
(
  cd "$DIST"
  if command -v sha256sum >/dev/null; then sha256sum -- *.tar.gz; else shasum -a 256 -- *.tar.gz; fi >SHA256SUMS
)
ls -l "$DIST" >&2
