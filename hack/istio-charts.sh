#!/usr/bin/env bash
# Prints the directory of the real Istio Helm charts (base, istio-control/istio-discovery, gateway) from the
# istio.io/istio module, downloaded through the Go module proxy into the module cache. The module stays out
# of canarygate's go.mod: only its chart files are used, by the integration tests.
set -euo pipefail
ISTIO_MODULE_VERSION="${ISTIO_MODULE_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"
dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "istio.io/istio@$ISTIO_MODULE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -d "$dir/manifests/charts/istio-control/istio-discovery" ] || { echo "istio-charts: no charts under $dir" >&2; exit 1; }
echo "$dir/manifests/charts"
