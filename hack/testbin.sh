#!/usr/bin/env bash
# Builds (once) the binaries of the real control plane that canarygate's integration tests run against:
# kube-apiserver, kube-controller-manager and kube-scheduler from the Go module proxy, kwok with its stage
# files, and Debian's etcd. They live in a cache outside the repository and are reused when present.
# Prints the directory that holds them (the value for CANARYGATE_TESTBIN) on its last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${CANARYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canarygate}"
OUT="$CACHE/testbin/k8s-$K8S_VERSION-kwok-$KWOK_VERSION"
mkdir -p "$OUT"
# One build at a time (make test and the node image builder may both ask for these binaries).
exec 9>"$OUT.lock"
flock 9

log() { echo "testbin: $*" >&2; }

# etcd: Debian's etcd-server works with kube-apiserver 1.37.
if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  log "installing etcd-server from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq etcd-server >&2
fi
ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "$OUT/etcd"
# The Debian package starts a system etcd on 2379; our tests use their own ports, but stop it to free memory.
(systemctl stop etcd 2>/dev/null || service etcd stop 2>/dev/null || pkill -x etcd 2>/dev/null) >/dev/null 2>&1 || true

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${K8S_VERSION#v1.}"

if [ ! -x "$OUT/kube-apiserver" ] || [ ! -x "$OUT/kube-controller-manager" ] || [ ! -x "$OUT/kube-scheduler" ]; then
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION (cold: ~8 min on 2 cores)"
  mod="$CACHE/testbin/src-k8s-$K8S_VERSION"
  mkdir -p "$mod"
  gomod=$(cd "$mod" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module canarygate.local/testbin"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Every staging module k8s.io/kubernetes replaces with ./staging/... is served on the proxy as v0.x.y.
    grep -E '=> \./staging/src/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$mod" && GOFLAGS=-mod=mod go mod tidy -e >&2 2>/dev/null || true)
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    (cd "$mod" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$OUT/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2)
    mv "$OUT/$c.tmp" "$OUT/$c"
  done
fi

if [ ! -x "$OUT/kwok" ] || [ ! -f "$OUT/kwok-stages/.fast" ]; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$OUT" CGO_ENABLED=0 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  kwokdir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$OUT/kwok-stages"
  # The "fast" stages: nodes become Ready at once, pods Running/Ready as soon as they are scheduled.
  for s in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    f="$kwokdir/kustomize/stage/$s.yaml"
    [ -f "$f" ] || { log "kwok stage $f not found"; exit 1; }
    cp "$f" "$OUT/kwok-stages/$(basename "$f")"
  done
  chmod -R u+w "$OUT/kwok-stages"
  touch "$OUT/kwok-stages/.fast"
fi

"$OUT/kube-apiserver" --version >&2
echo "$OUT"
