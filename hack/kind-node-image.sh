#!/usr/bin/env bash
# Builds, offline, a kind node image and the images its Kubernetes needs, for a machine with a container engine
# but no registry: nothing is pulled. Everything comes from Debian's apt repositories (the node's rootfs,
# through debootstrap) and the Go module proxy (containerd, runc, CNI plugins, crictl, etcd, CoreDNS and the
# Kubernetes binaries), with kind's own base files (entrypoint, systemd units, containerd config) from kind's
# module. `kind build node-image` cannot be used: it pulls its base image, etcd, CoreDNS, pause and kindnetd.
#
# What differs from kind's published images, and why:
#   - Debian bookworm (systemd 252) instead of trixie: systemd >= 256 refuses a cgroup v1 host, and the
#     machines this runs on are cgroup v1.
#   - no kindnetd (not on the module proxy): clusters use `networking.disableDefaultCNI: true` and the ptp +
#     host-local conflist baked in here (single node: every pod on the node's own subnet).
#   - the Kubernetes images (registry.k8s.io/kube-*, etcd, coredns, pause) are built here from the same sources
#     and tagged exactly as kubeadm names them; they are imported into the node's containerd when it boots
#     (kind-preload.service, before kubelet), so kubeadm's static pods find them (IfNotPresent).
#   - the entrypoint's snapshotter defaults to overlayfs: kind's would pick fuse-overlayfs because the engine's
#     storage is fuse-overlayfs here (and kind's `-e KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER` hides an image
#     ENV), but containerd's data lives on the node's /var volume, where overlayfs works; the variable still
#     overrides it.
#   - containerd's restrict_oom_score_adj = true (kind sets it only for rootless nodes): a sandbox that withholds
#     CAP_SYS_RESOURCE (see hack/docker-capshim.sh) cannot lower a process's oom_score_adj, so runc fails every
#     pod kubelet gives a negative score ("nsexec: failed to update /proc/self/oom_score_adj: Permission
#     denied"); restricted, containerd clamps scores to its own instead.
#   - kubelet, kubeadm and kubectl in /usr/bin, where kind's units and kind itself expect them.
#
# Cached under ~/.cache/canarygate/kind-node/<key>; the key covers the versions and this script, so the image
# is rebuilt only when one of them changes. Prints the node image's reference on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.3.4}"
RUNC_VERSION="${RUNC_VERSION:-v1.4.3}"
CNI_VERSION="${CNI_VERSION:-v1.9.1}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
ETCD_TAG="${ETCD_TAG:-3.7.0-0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.6}"
PAUSE_TAG="${PAUSE_TAG:-3.10}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The packages of kind's base image that a single-node cluster uses (no NFS/iSCSI, no fuse-overlayfs).
PACKAGES="systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps,e2fsprogs"

CACHE="${CANARYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canarygate}"
ENGINE="${ENGINE:-docker}"
log() { echo "kind-node-image: $*" >&2; }
die() { echo "kind-node-image: $*" >&2; exit 1; }

inputs="$K8S_VERSION $KIND_VERSION $CONTAINERD_VERSION $RUNC_VERSION $CNI_VERSION $CRICTL_VERSION $ETCD_VERSION $ETCD_TAG $COREDNS_VERSION $PAUSE_TAG $DEBIAN_SUITE $PACKAGES $(sha256sum "$0" | cut -c1-64)"
key=$(echo "$inputs" | sha256sum | cut -c1-12)
IMAGE="${NODE_IMAGE:-canarygate/kind-node:$K8S_VERSION-$key}"
if "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE is present"
  echo "$IMAGE"
  exit 0
fi

OUT="$CACHE/kind-node/$K8S_VERSION-$key"
BIN="$OUT/bin"
mkdir -p "$BIN" "$OUT/images"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need debootstrap || [ ! -e /usr/include/seccomp.h ] || ! need gcc; then
  log "installing debootstrap, libseccomp-dev and gcc from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq debootstrap libseccomp-dev gcc libc6-dev >&2
fi

moddir() { # module@version → its directory in the module cache (downloaded through the proxy)
  local d
  d=$(cd "$OUT" && GOFLAGS=-mod=mod go mod download -json "$1" 2>&1 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') || true
  [ -n "$d" ] && [ -d "$d" ] || die "the Go module proxy did not serve $1 (try a version listed in go-partial.tsv)"
  echo "$d"
}

# goinstall BIN PKG@VERSION [go build flags...]: for modules without replace directives.
goinstall() {
  local out="$1" pkg="$2"; shift 2
  [ -x "$BIN/$out" ] && return 0
  log "building $out from $pkg"
  local tmp; tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath "$@" "$pkg" >&2 || die "go install $pkg failed"
  mv "$tmp"/* "$BIN/$out"
  rm -rf "$tmp"
}

# 1. Binaries.
CGO_ENABLED=0 goinstall containerd "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" -tags "no_aufs no_zfs no_btrfs no_devmapper" \
  -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
CGO_ENABLED=0 goinstall containerd-shim-runc-v2 "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" -ldflags "-s -w"
CGO_ENABLED=0 goinstall ctr "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" -ldflags "-s -w"
# runc needs cgo and libseccomp (linked dynamically; libseccomp2 is in the rootfs).
CGO_ENABLED=1 goinstall runc "github.com/opencontainers/runc@$RUNC_VERSION" -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}"
for p in plugins/main/ptp plugins/ipam/host-local plugins/main/loopback plugins/meta/portmap; do
  CGO_ENABLED=0 goinstall "cni-$(basename "$p")" "github.com/containernetworking/plugins/$p@$CNI_VERSION" -ldflags "-s -w"
done
CGO_ENABLED=0 goinstall crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
CGO_ENABLED=0 goinstall coredns "github.com/coredns/coredns@$COREDNS_VERSION" -ldflags "-s -w"

# etcd's server module replaces its sibling modules with relative paths: build it from a wrapper module that
# requires the released siblings instead.
if [ ! -x "$BIN/etcd" ]; then
  log "building etcd $ETCD_VERSION"
  w="$OUT/src-etcd"; mkdir -p "$w"
  cat > "$w/go.mod" <<EOF
module canarygate.local/etcd

go 1.26

require (
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "$w/tools.go"
  (cd "$w" && GOFLAGS=-mod=mod go mod tidy -e >&2 2>/dev/null || true)
  (cd "$w" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >&2) \
    || die "building go.etcd.io/etcd/server/v3@$ETCD_VERSION failed"
fi

# Kubernetes: the same wrapper module hack/testbin.sh uses (staging modules replaced by their released v0.x).
TESTBIN=$(bash hack/testbin.sh | tail -1)
for c in kube-apiserver kube-controller-manager kube-scheduler; do cp -f "$TESTBIN/$c" "$BIN/$c"; done
k8smod="$CACHE/testbin/src-k8s-$K8S_VERSION"
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
for c in kubelet kubeadm kubectl kube-proxy; do
  [ -x "$BIN/$c" ] && continue
  log "building $c $K8S_VERSION"
  (cd "$k8smod" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2) \
    || die "building k8s.io/kubernetes/cmd/$c@$K8S_VERSION failed"
  mv "$BIN/$c.tmp" "$BIN/$c"
done

# pause: the sandbox image's one C file ships in the kubernetes module.
if [ ! -x "$BIN/pause" ]; then
  k8sdir=$(moddir "k8s.io/kubernetes@$K8S_VERSION")
  gcc -Os -static -o "$BIN/pause" -DVERSION="$PAUSE_TAG" "$k8sdir/build/pause/linux/pause.c" >&2
fi

# 2. The node's rootfs (kind's package set on bookworm).
rootfs_tar="$CACHE/kind-node/rootfs-$DEBIAN_SUITE-$(echo "$PACKAGES" | sha256sum | cut -c1-8).tar"
if [ ! -f "$rootfs_tar" ]; then
  log "debootstrap $DEBIAN_SUITE (about 2 min)"
  r=$(mktemp -d)
  debootstrap --variant=minbase --include="$PACKAGES" "$DEBIAN_SUITE" "$r" "$DEBIAN_MIRROR" >&2 \
    || die "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR failed"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
  tar -C "$r" --numeric-owner -cf "$rootfs_tar.tmp" .
  rm -rf "$r"
  mv "$rootfs_tar.tmp" "$rootfs_tar"
fi
base="canarygate/kind-node-rootfs:$DEBIAN_SUITE-$(basename "$rootfs_tar" .tar | sed 's/.*-//')"
if ! "$ENGINE" image inspect "$base" >/dev/null 2>&1; then
  "$ENGINE" import "$rootfs_tar" "$base" >&2
fi

# 3. The Kubernetes images, tagged as kubeadm expects them.
go build -o "$OUT/canarygate" ./cmd/canarygate
arch=$(go env GOARCH)
img() { # binary ref dir [base]
  local f
  f="$OUT/images/$(echo "$2" | tr '/:' '__').tar"
  [ -f "$f" ] && return 0
  "$OUT/canarygate" image-archive --binary "$BIN/$1" --ref "$2" --dir "$3" --user 0 --port 0 --arch "$arch" ${4:+--base "$4"} --out "$f.tmp" >&2
  mv "$f.tmp" "$f"
}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  img "$c" "registry.k8s.io/$c:$K8S_VERSION" /usr/local/bin
done
# kube-proxy runs iptables: its image is the node's rootfs plus the binary.
img kube-proxy "registry.k8s.io/kube-proxy:$K8S_VERSION" /usr/local/bin "$rootfs_tar"
img etcd "registry.k8s.io/etcd:$ETCD_TAG" /usr/local/bin
img coredns "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" /
img pause "registry.k8s.io/pause:$PAUSE_TAG" /

# 4. The node image: rootfs + kind's base files + binaries + images, as kind's base Dockerfile assembles it.
kinddir=$(moddir "sigs.k8s.io/kind@$KIND_VERSION")
ctx="$OUT/context"; rm -rf "$ctx"; mkdir -p "$ctx/bin" "$ctx/cni" "$ctx/images"
cp -r "$kinddir/images/base/files" "$ctx/files"; chmod -R u+w "$ctx/files"
for b in containerd containerd-shim-runc-v2 ctr crictl; do cp "$BIN/$b" "$ctx/bin/"; done
mkdir -p "$ctx/kube"
for b in kubelet kubeadm kubectl; do cp "$BIN/$b" "$ctx/kube/"; done
cp "$BIN/runc" "$ctx/runc"
for p in ptp host-local loopback portmap; do cp "$BIN/cni-$p" "$ctx/cni/$p"; done
cp "$OUT"/images/*.tar "$ctx/images/"
cat > "$ctx/10-ptp.conflist" <<'EOF'
{
  "cniVersion": "1.0.0",
  "name": "kind-ptp",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]},
      "mtu": 1500
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
cat > "$ctx/kind-preload.service" <<'EOF'
[Unit]
Description=Import the preloaded Kubernetes images into containerd (canarygate's offline node image)
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/kind/bin/preload-images.sh

[Install]
WantedBy=multi-user.target
EOF
cat > "$ctx/preload-images.sh" <<'EOF'
#!/bin/bash
# Imports /kind/images/*.tar into containerd's k8s.io namespace once per node (/var is the node's volume).
set -euo pipefail
[ -f /var/lib/kind-preloaded ] && exit 0
for i in $(seq 1 60); do ctr version >/dev/null 2>&1 && break; sleep 1; done
for f in /kind/images/*.tar; do
  ctr -n k8s.io images import --label io.cri-containerd.pinned=pinned "$f"
done
touch /var/lib/kind-preloaded
EOF
cat > "$ctx/Dockerfile" <<EOF
FROM $base
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/ /usr/local/bin/
COPY kube/ /usr/bin/
COPY runc /usr/local/sbin/runc
COPY cni/ /opt/cni/bin/
COPY 10-ptp.conflist /etc/cni/net.d/10-ptp.conflist
COPY images/ /kind/images/
COPY kind-preload.service /etc/systemd/system/kind-preload.service
COPY preload-images.sh /kind/bin/preload-images.sh
RUN chmod 755 /usr/local/bin/* /kind/bin/* /usr/local/sbin/runc /opt/cni/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \\
 && sed -i 's/snapshotter=\${KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER:-}/snapshotter=\${KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER:-overlayfs}/' /usr/local/bin/entrypoint \\
 && grep -q 'CONTAINERD_SNAPSHOTTER:-overlayfs' /usr/local/bin/entrypoint \\
 && sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml \\
 && grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml \\
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \\
 && ln -sf /usr/lib/systemd/systemd /sbin/init \\
 && mkdir -p /etc/systemd/system/kubelet.service.d /etc/kubernetes/manifests \\
 && printf '[Unit]\nAfter=kind-preload.service\nWants=kind-preload.service\n' > /etc/systemd/system/kubelet.service.d/05-preload.conf \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service kind-preload.service \\
 && systemctl mask systemd-binfmt.service \\
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \\
 && echo "$K8S_VERSION" > /kind/version \\
 && containerd --version && runc --version && kubelet --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
EOF
log "assembling $IMAGE"
DOCKER_BUILDKIT=0 "$ENGINE" build -q -t "$IMAGE" "$ctx" >&2 || die "$ENGINE build of the node image failed"
rm -rf "$ctx"
echo "$IMAGE"
