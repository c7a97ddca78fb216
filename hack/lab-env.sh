#!/usr/bin/env bash
# Builds (or finds in the cache) everything the offline lab needs and prints it as shell assignments, for
# `eval "$(bash hack/lab-env.sh)"`: the kind node image (hack/kind-node-image.sh), the two istiod revisions'
# images (hack/istio-images.sh), the demo app's image archive, and each revision's Istio charts from its own
# module (CANARYGATE_LAB_OLD_CHARTS, CANARYGATE_LAB_CHARTS for NEW).
# Needs a container engine (the node image is built into it). Cold: about 30–40 min on 2 cores; warm: seconds.
# Progress goes to stderr, a line per part ("[2/5] kind node image … (cold ~15 min)", then how long it took):
# a cold build says what it is building and how far along it is.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
part_started=$SECONDS
step() { # N WHAT ESTIMATE
  part_started=$SECONDS
  echo "lab-env: [$1/5] $2 ($3; cached: seconds)" >&2
}
took() {
  echo "lab-env:       done in $(( (SECONDS - part_started) / 60 ))m$(( (SECONDS - part_started) % 60 ))s ($(( (SECONDS - started) / 60 ))m so far)" >&2
}
CACHE="${CANARYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/canarygate}"
OLD_ISTIO="${OLD_ISTIO:-v0.0.0-20260423205519-b01690e6db7d}"
NEW_ISTIO="${NEW_ISTIO:-v0.0.0-20260827124520-eed52ebb66ad}"

# kind's nodes run systemd, kubelet and containerd, each with inotify instances; 128 (a common default) is
# too few for a node beside the host's own.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 512)" -lt 512 ]; then
  sysctl -qw fs.inotify.max_user_instances=512 >&2 || echo "lab-env: could not raise fs.inotify.max_user_instances (not root?)" >&2
fi
# kind runs nodes --privileged: make that work where the engine lacks capabilities (hack/docker-capshim.sh).
step 1 "container engine: capabilities for kind's privileged nodes (hack/docker-capshim.sh)" "cold ~1 min"
bash hack/docker-capshim.sh
took
step 2 "kind node image: Debian, containerd, Kubernetes built from source (hack/kind-node-image.sh)" "cold ~15 min"
node=$(bash hack/kind-node-image.sh | tail -n1)
took
step 3 "istiod and its proxy from source, OLD and NEW (hack/istio-images.sh)" "cold ~20 min: 4 builds of 5–8 min"
mapfile -t istio < <(bash hack/istio-images.sh "$OLD_ISTIO" "$NEW_ISTIO")
took
[ "${#istio[@]}" -eq 2 ] || { echo "lab-env: expected two istio image lines" >&2; exit 1; }
read -r _ hub old_tag old_pilot old_proxy <<<"${istio[0]}"
read -r _ _ new_tag new_pilot new_proxy <<<"${istio[1]}"
# Each revision from its own module's charts, as a real upgrade installs them. Istio's master charts all say
# version 1.0.0; a release stamps its charts with the release's version. So does the lab, in a copy (the module
# cache is read-only): the minor the source declares (its VERSION file, "-dev" on master as Makefile.core.mk
# does) and the image tag (date-commit) — the two Helm releases then show which chart each came from.
stamp_charts() { # module-version tag -> directory of stamped charts
  local src ver dst
  src=$(ISTIO_MODULE_VERSION="$1" bash hack/istio-charts.sh)
  ver="$(tr -d '[:space:]' <"$src/../../VERSION").0-dev.$2"
  dst="$CACHE/lab/charts-$2"
  if [ ! -f "$dst/.stamped" ]; then
    rm -rf "$dst" && mkdir -p "$dst" && cp -r "$src/." "$dst/" && chmod -R u+w "$dst"
    find "$dst" -name Chart.yaml -exec sed -i -E "s/^version: .*/version: $ver/; s/^appVersion: .*/appVersion: $2/" {} +
    touch "$dst/.stamped"
  fi
  echo "$dst"
}
step 4 "Istio's charts, OLD and NEW, from their modules (hack/istio-charts.sh)" "cold ~1 min"
mkdir -p "$CACHE/lab"
old_charts=$(stamp_charts "$OLD_ISTIO" "$old_tag")
charts=$(stamp_charts "$NEW_ISTIO" "$new_tag")
took

step 5 "the demo app's image archive" "cold ~2 min"
demo="$CACHE/lab/demo-app.tar"
CGO_ENABLED=0 GOOS=linux go build -trimpath -o "$CACHE/lab/demo-app" ./cmd/demo-app
go run ./cmd/canarygate image-archive --binary "$CACHE/lab/demo-app" --ref docker.io/canarygate/demo-app:dev --out "$demo" >&2
took

cat <<OUT
export CANARYGATE_NODE_IMAGE='$node'
export CANARYGATE_LAB_CHARTS='$charts'
export CANARYGATE_LAB_OLD_CHARTS='$old_charts'
export CANARYGATE_LAB_HUB='$hub'
export CANARYGATE_LAB_OLD_TAG='$old_tag'
export CANARYGATE_LAB_NEW_TAG='$new_tag'
export CANARYGATE_LAB_ARCHIVES='$demo $old_pilot $old_proxy $new_pilot $new_proxy'
OUT
