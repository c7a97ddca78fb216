#!/usr/bin/env bash
# Builds, offline, istiod ("pilot") and proxy ("proxyv2") images from istio.io/istio module versions served by
# the Go module proxy, as image archives kind can load. Usage: hack/istio-images.sh VERSION...
# (default: the two control planes the lab rehearses, a 1.31-dev and a 1.32-dev build of Istio's master).
#
# Lab limitation: there is no Envoy here, so proxyv2 holds pilot-agent only. Pods injected with Istio's
# grpc-agent template run it with DISABLE_ENVOY=true (proxyless): the injector, revisions, tags, the CA
# (workload certificates) and xDS are real; there is no sidecar data plane.
#
# For each version, prints one line: "<version> <hub> <tag> <pilot archive> <proxyv2 archive>".
# Cached under ~/.cache/canarygate/istio-images/<version>.
set -euo pipefail
cd "$(dirname "$0")/.."

HUB="${ISTIO_HUB:-canarygate.local/istio}"
CACHE="${CANARYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canarygate}"
log() { echo "istio-images: $*" >&2; }
die() { echo "istio-images: $*" >&2; exit 1; }
[ $# -gt 0 ] || set -- v0.0.0-20260423205519-b01690e6db7d v0.0.0-20260827124520-eed52ebb66ad

mkdir -p "$CACHE/istio-images"
tool="$CACHE/istio-images/canarygate-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
[ -x "$tool" ] || go build -o "$tool" ./cmd/canarygate
arch=$(go env GOARCH)

for version in "$@"; do
  # A tag from the pseudo-version: its date and commit (v0.0.0-20260423205519-b01690e6db7d → 20260423-b01690e6db7d).
  tag=$(echo "$version" | sed -E 's/^v0\.0\.0-([0-9]{8})[0-9]{6}-([0-9a-f]{12})$/\1-\2/')
  [ "$tag" != "$version" ] || tag="${version#v}"
  out="$CACHE/istio-images/$version"
  mkdir -p "$out"
  # A wrapper module requiring that version, with Istio's own go.sum: the checksum database has no entries
  # for master's pseudo-versions of some dependencies, and the hashes Istio's maintainers recorded are the
  # ones to hold the downloads to (GOSUMDB=off only skips the lookup, go.sum is still checked).
  w="$out/src"
  if [ ! -f "$w/go.sum" ]; then
    mkdir -p "$w"
    src=$(cd "$w" && GOFLAGS=-mod=mod GOSUMDB=off go mod download -json "istio.io/istio@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [ -n "$src" ] || die "the Go module proxy did not serve istio.io/istio@$version"
    goversion=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$src/go.mod")
    printf 'module canarygate.local/istio\n\ngo %s\n\nrequire istio.io/istio %s\n' "${goversion:-1.26}" "$version" > "$w/go.mod"
    cp "$src/go.sum" "$w/go.sum.tmp" && chmod u+w "$w/go.sum.tmp" && mv "$w/go.sum.tmp" "$w/go.sum"
  fi
  for cmd in pilot-discovery pilot-agent; do
    [ -x "$out/$cmd" ] && continue
    log "building $cmd from istio.io/istio@$version (5–8 min cold)"
    (cd "$w" && GOFLAGS=-mod=mod GOSUMDB=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=$tag" \
      -o "$out/$cmd.tmp" "istio.io/istio/pilot/cmd/$cmd" >&2) || die "building istio.io/istio/pilot/cmd/$cmd@$version failed"
    mv "$out/$cmd.tmp" "$out/$cmd"
  done
  pilot="$out/pilot.tar"
  proxy="$out/proxyv2.tar"
  [ -f "$pilot" ] || "$tool" image-archive --binary "$out/pilot-discovery" --ref "$HUB/pilot:$tag" --dir /usr/local/bin --user 1337:1337 --port 15010 --arch "$arch" --out "$pilot" >&2
  [ -f "$proxy" ] || "$tool" image-archive --binary "$out/pilot-agent" --ref "$HUB/proxyv2:$tag" --dir /usr/local/bin --user 1337:1337 --port 15020 --arch "$arch" --out "$proxy" >&2
  echo "$version $HUB $tag $pilot $proxy"
done
