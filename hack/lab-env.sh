#!/usr/bin/env bash
# Builds (or finds in the cache) everything the offline lab needs and prints it as shell assignments, for
# `eval "$(bash hack/lab-env.sh)"`: the kind node image (hack/kind-node-image.sh), the two istiod revisions'
# images (hack/istio-images.sh), the demo app's image archive, and the Istio charts of the NEW module.
# Needs a container engine (the node image is built into it). Cold: about 30–40 min on 2 cores; warm: seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CANARYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canarygate}"
OLD_ISTIO="${OLD_ISTIO:-v0.0.0-20260423205519-b01690e6db7d}"
NEW_ISTIO="${NEW_ISTIO:-v0.0.0-20260827124520-eed52ebb66ad}"

# kind's nodes run systemd, kubelet and containerd, each with inotify instances; 128 (a common default) is
# too few for a node beside the host's own.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 512)" -lt 512 ]; then
  sysctl -qw fs.inotify.max_user_instances=512 >&2 || echo "lab-env: could not raise fs.inotify.max_user_instances (not root?)" >&2
fi
# kind runs nodes --privileged: make that work where the engine lacks capabilities (hack/docker-capshim.sh).
bash hack/docker-capshim.sh
node=$(bash hack/kind-node-image.sh | tail -n1)
mapfile -t istio < <(bash hack/istio-images.sh "$OLD_ISTIO" "$NEW_ISTIO")
[ "${#istio[@]}" -eq 2 ] || { echo "lab-env: expected two istio image lines" >&2; exit 1; }
read -r _ hub old_tag old_pilot old_proxy <<<"${istio[0]}"
read -r _ _ new_tag new_pilot new_proxy <<<"${istio[1]}"
charts=$(ISTIO_MODULE_VERSION="$NEW_ISTIO" bash hack/istio-charts.sh)

mkdir -p "$CACHE/lab"
demo="$CACHE/lab/demo-app.tar"
CGO_ENABLED=0 GOOS=linux go build -trimpath -o "$CACHE/lab/demo-app" ./cmd/demo-app
go run ./cmd/canarygate image-archive --binary "$CACHE/lab/demo-app" --ref docker.io/canarygate/demo-app:dev --out "$demo" >&2

cat <<OUT
export CANARYGATE_NODE_IMAGE='$node'
export CANARYGATE_LAB_CHARTS='$charts'
export CANARYGATE_LAB_HUB='$hub'
export CANARYGATE_LAB_OLD_TAG='$old_tag'
export CANARYGATE_LAB_NEW_TAG='$new_tag'
export CANARYGATE_LAB_ARCHIVES='$demo $old_pilot $old_proxy $new_pilot $new_proxy'
OUT
