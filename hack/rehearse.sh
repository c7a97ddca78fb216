#!/usr/bin/env bash
# `make rehearse`: the default scenario where this machine can pull what it needs, the offline lab where it
# cannot — decided in seconds, before anything big is built. hack/registryprobe asks for kind's node image and
# Istio's images (Docker Hub) and Istio's charts (their Helm repository) as a pull would, all under one 5 s
# deadline; when one cannot be had (no DNS, no route, a proxy that refuses), or CANARYGATE_OFFLINE=1, it says
# so in one line and runs `make lab` instead (scenario istio-lab on images built here: the same verdict and
# reports), naming again at the end which was run and why. Another SCENARIO runs as asked.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
GO="${GO:-go}"
SCENARIO="${SCENARIO:-istio-canary}"
REGISTRY_PROBES="${REGISTRY_PROBES:-https://registry-1.docker.io/v2/kindest/node/manifests/v1.35.8 https://registry-1.docker.io/v2/istio/pilot/manifests/1.30.3 https://istio-release.storage.googleapis.com/charts/index.yaml}"

lab() { # why
  echo "make rehearse: $1 — rehearsing the offline lab instead (make lab: scenario istio-lab, node image and istiod built on this machine: cold ~35 min on 2 cores, then cached)" >&2
  local code=0
  "$MAKE" --no-print-directory lab || code=$?
  echo "make rehearse: this was the offline lab (istio-lab), not $SCENARIO: $1" >&2
  exit "$code"
}

if [ "$SCENARIO" = istio-canary ]; then
  if [ "${CANARYGATE_OFFLINE:-}" = 1 ]; then
    lab "CANARYGATE_OFFLINE=1"
  fi
  mkdir -p bin
  "$GO" build -o bin/registryprobe ./hack/registryprobe
  # shellcheck disable=SC2086 # a list of URLs
  if ! why=$(bin/registryprobe $REGISTRY_PROBES 2>&1); then
    lab "$why"
  fi
  echo "make rehearse: the registries answer — rehearsing $SCENARIO" >&2
fi
exec "$MAKE" --no-print-directory rehearse-online
