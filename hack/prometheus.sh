#!/usr/bin/env bash
# Installs (once) Debian's prometheus server, for the prometheus gate's integration tests: a real Prometheus
# the tests start on loopback (internal/testenv.Prometheus), never the system service the package enables.
# Prints the binary's path (the value for CANARYGATE_PROMETHEUS) on its last line.
set -euo pipefail

bin="$(command -v prometheus || true)"
if [ -z "$bin" ] && [ -x /usr/bin/prometheus ]; then bin=/usr/bin/prometheus; fi
if [ -z "$bin" ]; then
  echo "prometheus: installing Debian's prometheus" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package starts its service; the tests run their own servers on free ports.
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends prometheus >&2
  (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || pkill -x prometheus 2>/dev/null) >/dev/null 2>&1 || true
  bin=/usr/bin/prometheus
fi
"$bin" --version >&2
echo "$bin"
