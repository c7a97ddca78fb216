#!/usr/bin/env bash
# Prints the directory of the real Istio Helm charts (base, istio-control/istio-discovery, gateway) from the
# istio.io/istio module, downloaded through the Go module proxy into the module cache. The module stays out
# of canarygate's go.mod: only its chart files are used, by the integration tests. With "old", the lab's OLD
# module's charts instead (the same pseudo-versions as hack/lab-env.sh's OLD_ISTIO and NEW_ISTIO).
set -euo pipefail
if [ "${1:-}" = old ]; then
  ISTIO_MODULE_VERSION="${OLD_ISTIO:-v0.0.0-20260423205519-b01690e6db7d}"
else
  ISTIO_MODULE_VERSION="${ISTIO_MODULE_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"
fi
dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "istio.io/istio@$ISTIO_MODULE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -d "$dir/manifests/charts/istio-control/istio-discovery" ] || { echo "istio-charts: no charts under $dir" >&2; exit 1; }
echo "$dir/manifests/charts"
